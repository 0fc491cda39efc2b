package store_test

import (
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

func TestRetentionSQLite(t *testing.T) {
	t.Parallel()
	testRetention(t, storetest.OpenSQLite(t))
}

func TestRetentionPostgres(t *testing.T) {
	t.Parallel()
	testRetention(t, storetest.OpenPostgres(t))
}

// testRetention: old events go with their finished deliveries, but never
// one still pending; closed old alerts go, open ones stay.
func testRetention(t *testing.T, db *store.DB) {
	ctx := t.Context()
	old, recent := base.Add(-100*24*time.Hour), base
	cut := base.Add(-30 * 24 * time.Hour)

	record(t, db, alertEvent(alertID(1), old, bulwark.SeverityHigh, map[string]any{"title": "old, delivered, resolved"}), nil, "siem")
	record(t, db, alertEvent(alertID(2), old, bulwark.SeverityHigh, map[string]any{"title": "old, pending, open"}), nil, "slack")
	record(t, db, alertEvent(alertID(3), old, bulwark.SeverityHigh, map[string]any{"title": "old, no sink, open"}), nil)
	record(t, db, alertEvent(alertID(4), recent, bulwark.SeverityHigh, map[string]any{"title": "recent, resolved"}), nil)
	// Deliver event 1 to siem; event 2 stays pending for slack.
	items, err := db.ClaimOutbox(ctx, "siem", 10, time.Now(), time.Minute)
	mustNil(t, err)
	if len(items) != 1 {
		t.Fatalf("claimed %d siem items, want 1", len(items))
	}
	mustNil(t, db.CompleteOutbox(ctx, []int64{items[0].ID}))
	_, err = db.SetAlertStatus(ctx, []string{alertID(1), alertID(4)}, bulwark.AlertResolved, "admin", "")
	mustNil(t, err)
	_, err = db.AddAlertNote(ctx, alertID(1), "admin", "checked")
	mustNil(t, err)

	n, err := db.DeleteEventsBefore(ctx, cut)
	mustNil(t, err)
	if n != 2 { // 1 (delivered) and 3 (no delivery); 2 still pending
		t.Fatalf("deleted %d events, want 2", n)
	}
	page, err := db.ListEvents(ctx, bulwark.EventFilter{Limit: 10})
	mustNil(t, err)
	var ids []string
	for _, ev := range page.Items {
		ids = append(ids, ev.ID)
	}
	if len(ids) != 2 || ids[0] != alertID(4) || ids[1] != alertID(2) {
		t.Fatalf("events left %v, want the recent one and the pending one", ids)
	}
	if d, err := db.OutboxDepth(ctx, "slack"); err != nil || d != 1 {
		t.Fatalf("pending slack delivery lost: depth %d, %v", d, err)
	}

	n, err = db.DeleteClosedAlertsBefore(ctx, cut)
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("deleted %d alerts, want 1 (old and resolved)", n)
	}
	for i, want := range map[int]bool{1: false, 2: true, 3: true, 4: true} {
		_, err := db.GetAlert(ctx, alertID(i))
		if got := err == nil; got != want {
			t.Errorf("alert %d kept = %v, want %v (err %v)", i, got, want, err)
		}
	}
}
