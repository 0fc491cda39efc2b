package store_test

import (
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

func TestRecordEventsSQLite(t *testing.T) {
	t.Parallel()
	testRecordEvents(t, storetest.OpenSQLite(t))
}

func TestRecordEventsPostgres(t *testing.T) {
	t.Parallel()
	testRecordEvents(t, storetest.OpenPostgres(t))
}

// testRecordEvents: a batch is stored whole, with alerts, audit entries and
// outbox rows, ids and times filled in; a batch with one bad event stores
// nothing.
func testRecordEvents(t *testing.T, db *store.DB) {
	ctx := t.Context()
	a1 := alertEvent(alertID(1), base, bulwark.SeverityHigh, map[string]any{"title": "one"})
	a2 := alertEvent(alertID(2), base.Add(time.Second), bulwark.SeverityCritical, map[string]any{"title": "two"})
	cfg := &bulwark.Event{Type: bulwark.EventConfig, Action: "settings.update", Severity: bulwark.SeverityInfo}
	audit := &bulwark.AuditEntry{Actor: "admin", Action: "settings.update", ResourceType: "settings", Result: bulwark.ResultSuccess}
	mustNil(t, db.RecordEvents(ctx, []bulwark.EventRecord{
		{Event: a1, Sinks: []string{"siem", "siem"}},
		{Event: a2, Sinks: []string{"siem", "pager"}},
		{Event: cfg, Audit: audit},
	}))
	if cfg.ID == "" || cfg.Time.IsZero() || audit.ID == 0 {
		t.Fatalf("ids and times not filled: event %+v audit %+v", cfg, audit)
	}
	for sink, want := range map[string]int{"siem": 2, "pager": 1} {
		if n, err := db.OutboxDepth(ctx, sink); err != nil || n != want {
			t.Fatalf("outbox %s: %d, %v; want %d", sink, n, err, want)
		}
	}
	for _, id := range []string{alertID(1), alertID(2)} {
		if _, err := db.GetAlert(ctx, id); err != nil {
			t.Fatalf("alert %s: %v", id, err)
		}
	}

	// All or none: the second event repeats an id.
	ok := alertEvent(alertID(3), base, bulwark.SeverityHigh, nil)
	dup := alertEvent(alertID(1), base, bulwark.SeverityHigh, nil)
	wantCode(t, db.RecordEvents(ctx, []bulwark.EventRecord{{Event: ok, Sinks: []string{"siem"}}, {Event: dup}}), bulwark.CodeConflict)
	if _, err := db.GetAlert(ctx, alertID(3)); err == nil {
		t.Fatal("an event of a failed batch was stored")
	}
	if n, _ := db.OutboxDepth(ctx, "siem"); n != 2 {
		t.Fatalf("outbox siem: %d after a failed batch, want 2", n)
	}
	wantCode(t, db.RecordEvents(ctx, []bulwark.EventRecord{{Event: ok}, {Event: nil}}), bulwark.CodeInvalid)
}
