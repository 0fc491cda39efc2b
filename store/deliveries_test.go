package store_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

func TestDeliveriesSQLite(t *testing.T) {
	t.Parallel()
	t.Run("ListAndRetry", func(t *testing.T) { testDeliveries(t, storetest.OpenSQLite(t)) })
	t.Run("KeepsNewestDelivered", func(t *testing.T) { testDeliveredPruned(t, storetest.OpenSQLite(t)) })
}

func TestDeliveriesPostgres(t *testing.T) {
	t.Parallel()
	t.Run("ListAndRetry", func(t *testing.T) { testDeliveries(t, storetest.OpenPostgres(t)) })
	t.Run("KeepsNewestDelivered", func(t *testing.T) { testDeliveredPruned(t, storetest.OpenPostgres(t)) })
}

func testDeliveries(t *testing.T, db *store.DB) {
	ctx := t.Context()
	if _, ok, err := db.OldestPendingOutbox(ctx, "siem"); err != nil || ok {
		t.Fatalf("oldest pending of an empty outbox: %v, %v", ok, err)
	}
	var evs []*bulwark.Event
	for i := range 4 {
		ev := &bulwark.Event{Type: bulwark.EventAlert, Action: fmt.Sprintf("a%d", i), Severity: bulwark.SeverityHigh,
			Subject: fmt.Sprintf("alert %d", i)}
		record(t, db, ev, nil, "siem", "other")
		evs = append(evs, ev)
	}
	queued, ok, err := db.OldestPendingOutbox(ctx, "siem")
	mustNil(t, err)
	if !ok || time.Since(queued) > time.Minute || time.Since(queued) < 0 {
		t.Fatalf("oldest pending %v %v", queued, ok)
	}
	items, err := db.ClaimOutbox(ctx, "siem", 10, time.Now().Add(time.Second), time.Minute)
	mustNil(t, err)
	if len(items) != 4 {
		t.Fatalf("claimed %d", len(items))
	}
	mustNil(t, db.CompleteOutbox(ctx, []int64{items[0].ID}))
	mustNil(t, db.DeadLetterOutbox(ctx, items[1].ID, "HTTP 400: bad request"))
	mustNil(t, db.DeadLetterOutbox(ctx, items[2].ID, "HTTP 401: unauthorized"))
	mustNil(t, db.RetryOutbox(ctx, items[3].ID, time.Now().Add(time.Hour), "HTTP 503"))

	list := func(status string) []bulwark.Delivery {
		t.Helper()
		p, err := db.ListDeliveries(ctx, bulwark.DeliveryFilter{Sink: "siem", Status: status})
		mustNil(t, err)
		if p.Total != len(p.Items) {
			t.Fatalf("total %d, items %d", p.Total, len(p.Items))
		}
		return p.Items
	}
	all := list("")
	if len(all) != 4 || all[0].ID != items[3].ID || all[3].ID != items[0].ID {
		t.Fatalf("not newest first: %+v", all)
	}
	d := all[3]
	if d.Status != bulwark.DeliveryDelivered || d.EventID != evs[0].ID || d.Subject != "alert 0" || d.Action != "a0" ||
		d.Type != bulwark.EventAlert || d.Severity != bulwark.SeverityHigh || d.Attempts != 1 || d.EventTime.IsZero() {
		t.Fatalf("delivered row: %+v", d)
	}
	if all[0].Status != bulwark.DeliveryPending || all[0].Attempts != 1 || all[0].LastError != "HTTP 503" {
		t.Fatalf("retrying row: %+v", all[0])
	}
	dead := list(bulwark.DeliveryDead)
	if len(dead) != 2 || dead[0].LastError != "HTTP 401: unauthorized" || dead[1].Attempts != 1 {
		t.Fatalf("dead letters: %+v", dead)
	}
	if got := list(bulwark.DeliveryDelivered); len(got) != 1 {
		t.Fatalf("delivered: %+v", got)
	}
	// A completed row is not completed twice and not counted as pending.
	mustNil(t, db.CompleteOutbox(ctx, []int64{items[0].ID}))
	if d, _ := db.OutboxDepth(ctx, "siem"); d != 1 {
		t.Fatalf("depth %d, want 1", d)
	}
	p, err := db.ListDeliveries(ctx, bulwark.DeliveryFilter{Sink: "siem", Limit: 1, Offset: 1})
	mustNil(t, err)
	if p.Total != 4 || len(p.Items) != 1 || p.Items[0].ID != all[1].ID {
		t.Fatalf("page 2: %+v", p)
	}
	_, err = db.ListDeliveries(ctx, bulwark.DeliveryFilter{Sink: "siem", Status: "lost"})
	wantCode(t, err, bulwark.CodeInvalid)

	// Retrying one dead letter, ignoring ids of other rows and sinks.
	otherItems, err := db.ClaimOutbox(ctx, "other", 1, time.Now().Add(time.Second), time.Minute)
	mustNil(t, err)
	mustNil(t, db.DeadLetterOutbox(ctx, otherItems[0].ID, "x"))
	n, err := db.RetryDeadDeliveries(ctx, "siem", []int64{items[1].ID, items[0].ID, otherItems[0].ID, 999999})
	mustNil(t, err)
	if n != 1 {
		t.Fatalf("retried %d, want 1", n)
	}
	again, err := db.ClaimOutbox(ctx, "siem", 10, time.Now().Add(time.Second), time.Minute)
	mustNil(t, err)
	if len(again) != 1 || again[0].ID != items[1].ID || again[0].Attempts != 0 {
		t.Fatalf("retried dead letter not claimable as new: %+v", again)
	}
	// All the rest.
	n, err = db.RetryDeadDeliveries(ctx, "siem", nil)
	mustNil(t, err)
	if n != 1 || len(list(bulwark.DeliveryDead)) != 0 {
		t.Fatalf("retry all moved %d", n)
	}
	if d := list(bulwark.DeliveryDead); len(d) != 0 {
		t.Fatalf("dead letters left: %+v", d)
	}
	if p, _ := db.ListDeliveries(ctx, bulwark.DeliveryFilter{Sink: "other", Status: bulwark.DeliveryDead}); p.Total != 1 {
		t.Fatalf("another sink's dead letter was retried")
	}
}

func testDeliveredPruned(t *testing.T, db *store.DB) {
	ctx := t.Context()
	const n = 130
	for i := range n {
		record(t, db, &bulwark.Event{Type: bulwark.EventSystem, Action: fmt.Sprintf("s%d", i), Severity: bulwark.SeverityInfo}, nil, "siem")
	}
	items, err := db.ClaimOutbox(ctx, "siem", n, time.Now().Add(time.Second), time.Minute)
	mustNil(t, err)
	ids := make([]int64, len(items))
	for i, it := range items {
		ids[i] = it.ID
	}
	mustNil(t, db.CompleteOutbox(ctx, ids[:60]))
	mustNil(t, db.CompleteOutbox(ctx, ids[60:]))
	p, err := db.ListDeliveries(ctx, bulwark.DeliveryFilter{Sink: "siem", Limit: 500})
	mustNil(t, err)
	if p.Total != 100 || p.Items[0].ID != ids[n-1] || p.Items[99].ID != ids[n-100] {
		t.Fatalf("kept %d delivered rows (newest %d, oldest %d), want the newest 100", p.Total, p.Items[0].ID, p.Items[len(p.Items)-1].ID)
	}
}
