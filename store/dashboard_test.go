package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

// The dashboard aggregate is part of the contract both engines implement.
var _ bulwark.DashboardStore = (*store.DB)(nil)

func TestCountEventsSQLite(t *testing.T) {
	t.Parallel()
	testCountEvents(t, storetest.OpenSQLite(t))
}

func TestCountEventsPostgres(t *testing.T) {
	t.Parallel()
	testCountEvents(t, storetest.OpenPostgres(t))
}

func testCountEvents(t *testing.T, db *store.DB) {
	ctx := context.Background()
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	bounds, err := bulwark.Range24h.Bounds(now)
	if err != nil {
		t.Fatal(err)
	}
	if len(bounds) != 25 || !bounds[24].Equal(time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)) {
		t.Fatalf("bounds: %d, last %v", len(bounds), bounds[len(bounds)-1])
	}

	// Empty store: no groups, not an error.
	got, err := db.CountEvents(ctx, bounds)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty store: %v %v", got, err)
	}

	rec := func(at time.Time, typ bulwark.EventType, sev bulwark.Severity, action string) {
		t.Helper()
		ev := &bulwark.Event{Time: at, Type: typ, Severity: sev, Action: action}
		if err := db.RecordEvent(ctx, ev, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	first := bounds[0]
	rec(first.Add(-time.Microsecond), bulwark.EventAlert, bulwark.SeverityHigh, "blocked") // before the window
	rec(first, bulwark.EventAlert, bulwark.SeverityHigh, "blocked")                        // bucket 0 (inclusive start)
	rec(first.Add(59*time.Minute), bulwark.EventAlert, bulwark.SeverityHigh, "blocked")    // bucket 0
	rec(first.Add(time.Hour), bulwark.EventAlert, bulwark.SeverityCritical, "logged")      // bucket 1
	rec(now, bulwark.EventAuth, bulwark.SeverityInfo, "auth.login")                        // bucket 23
	rec(now, bulwark.EventAuth, bulwark.SeverityLow, "auth.login")                         // bucket 23
	rec(now.Add(time.Minute), bulwark.EventAuth, bulwark.SeverityLow, "auth.login")        // bucket 23
	rec(bounds[24].Add(-time.Microsecond), bulwark.EventRequest, bulwark.SeverityInfo, "") // bucket 23, last instant
	rec(bounds[24], bulwark.EventRequest, bulwark.SeverityInfo, "")                        // after the window (exclusive end)

	got, err = db.CountEvents(ctx, bounds)
	if err != nil {
		t.Fatal(err)
	}
	want := []bulwark.EventCount{
		{Bucket: 0, Type: bulwark.EventAlert, Severity: bulwark.SeverityHigh, Action: "blocked", Count: 2},
		{Bucket: 1, Type: bulwark.EventAlert, Severity: bulwark.SeverityCritical, Action: "logged", Count: 1},
		{Bucket: 23, Type: bulwark.EventAuth, Severity: bulwark.SeverityInfo, Action: "auth.login", Count: 1},
		{Bucket: 23, Type: bulwark.EventAuth, Severity: bulwark.SeverityLow, Action: "auth.login", Count: 2},
		{Bucket: 23, Type: bulwark.EventRequest, Severity: bulwark.SeverityInfo, Action: "", Count: 1},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d groups %+v, want %+v", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("group %d: got %+v, want %+v", i, got[i], want[i])
		}
	}

	// Two bounds: one bucket, no WHEN branch.
	one, err := db.CountEvents(ctx, []time.Time{first, bounds[24]})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, c := range one {
		if c.Bucket != 0 {
			t.Errorf("single bucket: got bucket %d", c.Bucket)
		}
		total += c.Count
	}
	if total != 7 {
		t.Errorf("single bucket: %d events, want 7", total)
	}

	for _, bad := range [][]time.Time{nil, {now}, {now, now}, {now, now.Add(-time.Hour)}} {
		if _, err := db.CountEvents(ctx, bad); bulwark.ErrorCodeOf(err) != bulwark.CodeInvalid {
			t.Errorf("bounds %v: err %v, want invalid", bad, err)
		}
	}
}

func TestDashboardRanges(t *testing.T) {
	now := time.Date(2026, 3, 10, 14, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		r    bulwark.DashboardRange
		n    int
		step time.Duration
	}{{bulwark.Range24h, 24, time.Hour}, {bulwark.Range7d, 28, 6 * time.Hour}, {bulwark.Range30d, 30, 24 * time.Hour}} {
		b, err := tc.r.Bounds(now)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != tc.n+1 || b[1].Sub(b[0]) != tc.step || !b[tc.n-1].Before(now.Add(time.Nanosecond)) || !b[tc.n].After(now) {
			t.Errorf("%s: %d bounds %v … %v", tc.r, len(b), b[0], b[len(b)-1])
		}
	}
	if _, err := bulwark.DashboardRange("1y").Bounds(now); bulwark.ErrorCodeOf(err) != bulwark.CodeUnprocessable {
		t.Errorf("1y: %v", err)
	}
}
