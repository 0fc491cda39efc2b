package store_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
)

func testIntegrations(t *testing.T, db *store.DB) {
	ctx := t.Context()
	i := &bulwark.Integration{Name: "siem", Kind: bulwark.IntegrationSplunk, Enabled: true,
		Types: []bulwark.EventType{bulwark.EventAlert, bulwark.EventSystem}, MinSeverity: bulwark.SeverityHigh,
		Categories: []string{"Guardrails"}, Settings: json.RawMessage(`{"url":"https://splunk.example:8088"}`),
		Secrets: "ciphertext", UpdatedBy: "alice"}
	mustNil(t, db.CreateIntegration(ctx, i))
	if i.ID == 0 || i.CreatedAt.IsZero() || !i.UpdatedAt.Equal(i.CreatedAt) {
		t.Fatalf("create did not set id and times: %+v", i)
	}
	wantCode(t, db.CreateIntegration(ctx, &bulwark.Integration{Name: "siem", Kind: bulwark.IntegrationSlack}), bulwark.CodeConflict)
	wantCode(t, db.CreateIntegration(ctx, &bulwark.Integration{Name: "Bad Name", Kind: bulwark.IntegrationSlack}), bulwark.CodeUnprocessable)
	wantCode(t, db.CreateIntegration(ctx, &bulwark.Integration{Name: "x", Kind: "carrier-pigeon"}), bulwark.CodeUnprocessable)

	got, err := db.GetIntegration(ctx, i.ID)
	mustNil(t, err)
	if got.Name != "siem" || got.Kind != bulwark.IntegrationSplunk || !got.Enabled || got.MinSeverity != bulwark.SeverityHigh ||
		!slices.Equal(got.Types, i.Types) || !slices.Equal(got.Categories, i.Categories) || got.Secrets != "ciphertext" ||
		string(got.Settings) != string(i.Settings) || !got.UpdatedAt.Equal(i.UpdatedAt) || got.UpdatedBy != "alice" {
		t.Fatalf("round trip: got %+v, want %+v", got, i)
	}
	mustNil(t, db.CreateIntegration(ctx, &bulwark.Integration{Name: "chat", Kind: bulwark.IntegrationSlack}))
	list, err := db.ListIntegrations(ctx)
	mustNil(t, err)
	if len(list) != 2 || list[0].Name != "chat" || list[1].Name != "siem" || string(list[0].Settings) != "{}" || list[0].Types != nil {
		t.Fatalf("list: %+v", list)
	}

	old := got.UpdatedAt
	got.Enabled, got.Secrets, got.Types = false, "", nil
	mustNil(t, db.UpdateIntegration(ctx, got, old))
	if !got.UpdatedAt.After(old) {
		t.Fatal("update did not advance updated_at")
	}
	stale := *got
	wantCode(t, db.UpdateIntegration(ctx, &stale, old), bulwark.CodeConflict)
	stale.Name = "chat"
	wantCode(t, db.UpdateIntegration(ctx, &stale, got.UpdatedAt), bulwark.CodeConflict)
	again, err := db.GetIntegration(ctx, i.ID)
	mustNil(t, err)
	if again.Enabled || again.Secrets != "" || len(again.Types) != 0 || again.Name != "siem" {
		t.Fatalf("after update: %+v", again)
	}
	wantNotFound(t, db.UpdateIntegration(ctx, &bulwark.Integration{ID: 9999, Name: "nope", Kind: bulwark.IntegrationSlack}, old))

	mustNil(t, db.DeleteIntegration(ctx, i.ID))
	wantNotFound(t, db.DeleteIntegration(ctx, i.ID))
	_, err = db.GetIntegration(ctx, i.ID)
	wantNotFound(t, err)
}
