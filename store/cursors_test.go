package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
)

// The tail and cursor tests run in runConformance, on both engines.

func testRequestTail(t *testing.T, db *store.DB) {
	ctx := t.Context()
	pos, err := db.RequestPositionAt(ctx, time.Time{})
	mustNil(t, err)
	if pos != 0 {
		t.Fatalf("empty log: position %d, want 0", pos)
	}
	var recs []*bulwark.RequestRecord
	for i := range 10 {
		r := req(base.Add(time.Duration(i)*time.Hour), "openai", nil, "gpt-4o", 0.5, time.Time{})
		r.RequestID = fmt.Sprintf("r%d", i)
		recs = append(recs, r)
	}
	mustNil(t, db.RecordRequests(ctx, recs))
	all, err := db.ListRequestsAfter(ctx, 0, 100)
	mustNil(t, err)
	if len(all) != 10 {
		t.Fatalf("ListRequestsAfter(0) = %d records, want 10", len(all))
	}
	for i, r := range all {
		if r.RequestID != fmt.Sprintf("r%d", i) || (i > 0 && r.ID <= all[i-1].ID) || r.Model != "gpt-4o" || r.CostUSD != 0.5 {
			t.Fatalf("record %d out of order or incomplete: %+v", i, r)
		}
	}
	page, err := db.ListRequestsAfter(ctx, all[3].ID, 2)
	mustNil(t, err)
	if len(page) != 2 || page[0].ID != all[4].ID || page[1].ID != all[5].ID {
		t.Fatalf("page after %d: %+v", all[3].ID, page)
	}
	none, err := db.ListRequestsAfter(ctx, all[9].ID, 5)
	mustNil(t, err)
	if none == nil || len(none) != 0 {
		t.Fatalf("after the last: %+v", none)
	}
	if z, err := db.ListRequestsAfter(ctx, 0, 0); err != nil || len(z) != 0 {
		t.Fatalf("limit 0: %v %v", z, err)
	}

	cases := []struct {
		name string
		at   time.Time
		want int64
	}{
		{"now", time.Time{}, all[9].ID},
		{"future", base.Add(100 * time.Hour), all[9].ID},
		{"from the 7th record", base.Add(6*time.Hour - time.Minute), all[6].ID - 1},
		{"exactly the 7th", base.Add(6 * time.Hour), all[6].ID - 1},
		{"everything", base.Add(-time.Hour), all[0].ID - 1},
	}
	for _, c := range cases {
		got, err := db.RequestPositionAt(ctx, c.at)
		mustNil(t, err)
		if got != c.want {
			t.Fatalf("%s: position %d, want %d", c.name, got, c.want)
		}
	}
}

func testIntegrationCursors(t *testing.T, db *store.DB) {
	ctx := t.Context()
	i := &bulwark.Integration{Name: "traces", Kind: bulwark.IntegrationWebhook}
	mustNil(t, db.CreateIntegration(ctx, i))
	now := time.Now()
	lease := time.Minute

	_, _, err := db.ClaimIntegrationCursor(ctx, i.ID+100, "a", 0, now, lease)
	wantCode(t, err, bulwark.CodeNotFound)

	pos, held, err := db.ClaimIntegrationCursor(ctx, i.ID, "a", 42, now, lease)
	mustNil(t, err)
	if pos != 42 || !held {
		t.Fatalf("first claim: %d %v", pos, held)
	}
	// Another replica waits while the lease runs; the start of a later
	// claim does not move an existing cursor.
	pos, held, err = db.ClaimIntegrationCursor(ctx, i.ID, "b", 7, now.Add(time.Second), lease)
	mustNil(t, err)
	if pos != 42 || held {
		t.Fatalf("claim by b during a's lease: %d %v", pos, held)
	}
	mustNil(t, db.AdvanceIntegrationCursor(ctx, i.ID, "a", 50, now.Add(2*time.Second), lease))
	wantCode(t, db.AdvanceIntegrationCursor(ctx, i.ID, "b", 60, now.Add(2*time.Second), lease), bulwark.CodeConflict)
	// The owner renews by claiming again.
	pos, held, err = db.ClaimIntegrationCursor(ctx, i.ID, "a", 0, now.Add(3*time.Second), lease)
	mustNil(t, err)
	if pos != 50 || !held {
		t.Fatalf("renewal: %d %v", pos, held)
	}
	// After the lease runs out, b takes over at the stored position, and a
	// can no longer advance.
	later := now.Add(3*time.Second + lease + time.Second)
	pos, held, err = db.ClaimIntegrationCursor(ctx, i.ID, "b", 0, later, lease)
	mustNil(t, err)
	if pos != 50 || !held {
		t.Fatalf("takeover: %d %v", pos, held)
	}
	wantCode(t, db.AdvanceIntegrationCursor(ctx, i.ID, "a", 70, later, lease), bulwark.CodeConflict)
	// A release lets a claim in at once.
	mustNil(t, db.ReleaseIntegrationCursor(ctx, i.ID, "a")) // not held: no effect
	if _, held, _ := db.ClaimIntegrationCursor(ctx, i.ID, "a", 0, later, lease); held {
		t.Fatal("a claimed while b holds the lease")
	}
	mustNil(t, db.ReleaseIntegrationCursor(ctx, i.ID, "b"))
	pos, held, err = db.ClaimIntegrationCursor(ctx, i.ID, "a", 0, later, lease)
	mustNil(t, err)
	if pos != 50 || !held {
		t.Fatalf("claim after release: %d %v", pos, held)
	}
	// The cursor goes with its integration.
	mustNil(t, db.DeleteIntegration(ctx, i.ID))
	wantCode(t, db.AdvanceIntegrationCursor(ctx, i.ID, "a", 80, later, lease), bulwark.CodeNotFound)
	mustNil(t, db.ReleaseIntegrationCursor(ctx, i.ID, "a"))
}
