package store_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
)

func newPolicy(name, doc string) *bulwark.StoredPolicy {
	return &bulwark.StoredPolicy{Name: name, Version: "1.0.0", Description: "test " + name,
		Document: json.RawMessage(doc), UpdatedBy: "alice"}
}

func testPolicies(t *testing.T, db *store.DB) {
	ctx := t.Context()
	list, err := db.ListPolicies(ctx)
	mustNil(t, err)
	if len(list) != 0 {
		t.Fatalf("fresh ListPolicies = %v", list)
	}
	doc := `{"name": "b-pol", "version":"1.0.0",  "description": "O'Brien \"quoted\"; DROP TABLE policies;--", "rules": [], "x": "ü"}`
	b := newPolicy("b-pol", doc)
	mustNil(t, db.CreatePolicy(ctx, b))
	if b.ID == 0 || b.CreatedAt.IsZero() || !b.UpdatedAt.Equal(b.CreatedAt) {
		t.Fatalf("CreatePolicy did not set ID and times: %+v", b)
	}
	mustNil(t, db.CreatePolicy(ctx, newPolicy("a-pol", `{"name":"a-pol"}`)))
	wantConflict(t, db.CreatePolicy(ctx, newPolicy("b-pol", `{}`)), "b-pol")
	wantCode(t, db.CreatePolicy(ctx, newPolicy("c-pol", `{not json`)), bulwark.CodeInvalid)

	got, err := db.GetPolicy(ctx, "b-pol")
	mustNil(t, err)
	if string(got.Document) != doc || got.Name != "b-pol" || got.Version != "1.0.0" || got.Description != "test b-pol" ||
		got.UpdatedBy != "alice" || got.ID != b.ID || !sameTime(got.CreatedAt, b.CreatedAt) || !sameTime(got.UpdatedAt, b.UpdatedAt) {
		t.Fatalf("GetPolicy = %+v, want %+v", got, b)
	}
	_, err = db.GetPolicy(ctx, "missing")
	wantNotFound(t, err)

	list, err = db.ListPolicies(ctx)
	mustNil(t, err)
	if len(list) != 2 || list[0].Name != "a-pol" || list[1].Name != "b-pol" {
		t.Fatalf("ListPolicies order: %+v", list)
	}

	upd := newPolicy("b-pol", `{"name":"b-pol","version":"1.1.0"}`)
	upd.Version, upd.UpdatedBy = "1.1.0", "bob"
	mustNil(t, db.UpdatePolicy(ctx, upd, got.UpdatedAt))
	if !upd.UpdatedAt.After(got.UpdatedAt) {
		t.Fatalf("UpdatedAt did not advance: %v → %v", got.UpdatedAt, upd.UpdatedAt)
	}
	got2, err := db.GetPolicy(ctx, "b-pol")
	mustNil(t, err)
	if got2.Version != "1.1.0" || got2.UpdatedBy != "bob" || string(got2.Document) != `{"name":"b-pol","version":"1.1.0"}` ||
		!sameTime(got2.CreatedAt, b.CreatedAt) || !sameTime(got2.UpdatedAt, upd.UpdatedAt) {
		t.Fatalf("after update: %+v", got2)
	}
	// A stale version is refused and changes nothing.
	stale := newPolicy("b-pol", `{"stale":true}`)
	wantConflict(t, db.UpdatePolicy(ctx, stale, got.UpdatedAt), "changed")
	got3, _ := db.GetPolicy(ctx, "b-pol")
	if string(got3.Document) != string(got2.Document) {
		t.Fatalf("stale update stored: %s", got3.Document)
	}
	wantNotFound(t, db.UpdatePolicy(ctx, newPolicy("missing", `{}`), time.Now()))

	mustNil(t, db.DeletePolicy(ctx, "a-pol"))
	wantNotFound(t, db.DeletePolicy(ctx, "a-pol"))
	_, err = db.GetPolicy(ctx, "a-pol")
	wantNotFound(t, err)
	// The name is free again.
	mustNil(t, db.CreatePolicy(ctx, newPolicy("a-pol", `{}`)))
}

// testPolicyOptimisticUpdate races writers that all start from the same
// version: exactly one wins, the others get a conflict.
func testPolicyOptimisticUpdate(t *testing.T, db *store.DB) {
	ctx := t.Context()
	p := newPolicy("race", `{"n":0}`)
	mustNil(t, db.CreatePolicy(ctx, p))
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			u := newPolicy("race", `{"n":`+string(rune('1'+i))+`}`)
			errs[i] = db.UpdatePolicy(ctx, u, p.UpdatedAt)
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case bulwark.ErrorCodeOf(err) != bulwark.CodeConflict:
			t.Fatalf("concurrent update: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d concurrent updates from one version succeeded, want 1", won)
	}
}
