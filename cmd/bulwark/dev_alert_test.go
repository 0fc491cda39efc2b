package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
)

func TestDevEmitAlertUsage(t *testing.T) {
	for _, args := range [][]string{
		{"dev", "emit-alert", "--count", "0"},
		{"dev", "emit-alert", "--severity", "urgent"},
		{"dev", "emit-alert", "--category", ""},
		{"dev", "emit-alert", "extra"},
	} {
		if out, code := run(t, "", append(args, "--data-dir", t.TempDir())...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, out)
		}
	}
}

func TestDevEmitAlertPublishes(t *testing.T) {
	dir := t.TempDir()
	out, code := run(t, "", "dev", "emit-alert", "--data-dir", dir, "--count", "3", "--severity", "critical",
		"--category", "Canary Tokens", "--proxy", "openai-prod", "--rule", "CANARY-7", "--sink", "siem", "--sink", "slack")
	if code != 0 || !strings.Contains(out, "published 3 alert(s)") {
		t.Fatalf("exit %d: %s", code, out)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "bulwark.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	page, err := db.ListAlerts(ctx, bulwark.AlertFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if page.Total != 3 {
		t.Fatalf("%d alerts stored", page.Total)
	}
	a := page.Items[0]
	if a.Severity != bulwark.SeverityCritical || a.Category != "Canary Tokens" || a.Proxy != "openai-prod" ||
		a.RuleID != "CANARY-7" || a.Action != bulwark.ActionBlock || a.Status != bulwark.AlertNew || a.Title == "" {
		t.Fatalf("alert %+v", a)
	}
	for _, sink := range []string{"siem", "slack"} {
		if n, err := db.OutboxDepth(ctx, sink); err != nil || n != 3 {
			t.Fatalf("outbox of %s: %d, %v", sink, n, err)
		}
	}
}

// Without --sink, alerts go to the enabled integrations whose filters want
// them, as a proxy's alerts do.
func TestDevEmitAlertFollowsIntegrationFilters(t *testing.T) {
	dir := t.TempDir()
	if out, code := run(t, "", "migrate", "--data-dir", dir); code != 0 {
		t.Fatalf("migrate: exit %d: %s", code, out)
	}
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(dir, "bulwark.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, i := range []*bulwark.Integration{
		{Name: "siem", Kind: bulwark.IntegrationSplunk, Enabled: true},
		{Name: "pager", Kind: bulwark.IntegrationPagerDuty, Enabled: true, MinSeverity: bulwark.SeverityCritical},
		{Name: "off", Kind: bulwark.IntegrationSlack},
		{Name: "canaries", Kind: bulwark.IntegrationWebhook, Enabled: true, Categories: []string{"Canary Tokens"}},
	} {
		if err := db.CreateIntegration(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if out, code := run(t, "", "dev", "emit-alert", "--data-dir", dir, "--count", "2", "--severity", "high"); code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	for sink, want := range map[string]int{"siem": 2, "pager": 0, "off": 0, "canaries": 0} {
		if n, err := db.OutboxDepth(ctx, sink); err != nil || n != want {
			t.Errorf("outbox of %s: %d, %v; want %d", sink, n, err, want)
		}
	}
}
