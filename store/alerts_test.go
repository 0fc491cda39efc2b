package store_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
)

// alertEvent is an alert event as the gateway publishes one.
func alertEvent(id string, at time.Time, sev bulwark.Severity, data map[string]any) *bulwark.Event {
	return &bulwark.Event{ID: id, Time: at, Type: bulwark.EventAlert, Action: "policy.block", Severity: sev,
		Category: string(bulwark.CategoryGuardrails), Actor: "alice", Subject: "Blocked a prompt injection from alice",
		Data: mustJSONAny(data)}
}

func mustJSONAny(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func alertID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

func testAlertFromEvent(t *testing.T, db *store.DB) {
	ctx := t.Context()
	ev := alertEvent(alertID(1), base, bulwark.SeverityHigh, map[string]any{
		"request_id": "r1", "proxy": "openai", "group": "eng", "user": "alice", "user_email": "alice@example.com",
		"source_ip": "192.0.2.7", "model": "gpt-4o", "policy": "llm-standard-security", "rule_id": "PI-001",
		"title": "Prompt injection", "evidence": "ignore all ***", "action": "block", "status": 403,
		"findings": []any{map[string]any{"rule_id": "PI-001"}}, "unknown": map[string]any{"x": 1},
	})
	record(t, db, ev, nil, "siem")
	a, err := db.GetAlert(ctx, ev.ID)
	mustNil(t, err)
	want := bulwark.Alert{ID: ev.ID, Time: base.Truncate(time.Microsecond), Severity: bulwark.SeverityHigh, Category: "Guardrails",
		Title: "Prompt injection", Description: ev.Subject, Action: bulwark.ActionBlock, User: "alice",
		UserEmail: "alice@example.com", Group: "eng", SourceIP: "192.0.2.7", Proxy: "openai", Target: "gpt-4o",
		Policy: "llm-standard-security", RuleID: "PI-001", Evidence: "ignore all ***", Status: bulwark.AlertNew}
	if !sameTime(a.Time, want.Time) || a.StatusAt != nil || len(a.Notes) != 0 {
		t.Fatalf("alert = %+v", a)
	}
	a.Time = want.Time
	if fmt.Sprint(*a) != fmt.Sprint(want) {
		t.Fatalf("alert:\n got %+v\nwant %+v", *a, want)
	}

	// An MCP tool change: no title, rule or user in the data; a tool target.
	mcp := &bulwark.Event{ID: alertID(2), Time: base, Type: bulwark.EventAlert, Action: "mcp_tool.changed",
		Severity: bulwark.SeverityHigh, Category: string(bulwark.CategoryMCPToolChanges), Actor: "files",
		Subject: "MCP tool read on proxy files changed", Data: mustJSONAny(map[string]any{"proxy": "files", "tool": "read", "status": "quarantined"})}
	record(t, db, mcp, nil)
	m, err := db.GetAlert(ctx, mcp.ID)
	mustNil(t, err)
	if m.Title != mcp.Subject || m.Target != "read" || m.Proxy != "files" || m.Action != "" || m.User != "" || m.RuleID != "" {
		t.Fatalf("mcp alert = %+v", m)
	}

	// Data that is not an object, and a non-string field, leave columns empty.
	odd := &bulwark.Event{ID: alertID(3), Time: base, Type: bulwark.EventAlert, Action: "budget.exhausted",
		Data: []byte(`[1,2]`)}
	record(t, db, odd, nil)
	o, err := db.GetAlert(ctx, odd.ID)
	mustNil(t, err)
	if o.Severity != bulwark.SeverityInfo || o.Proxy != "" || o.Action != "" {
		t.Fatalf("odd alert = %+v", o)
	}
	num := alertEvent(alertID(4), base, bulwark.SeverityLow, map[string]any{"proxy": 7, "action": "allow"})
	num.Action = "policy.monitor"
	record(t, db, num, nil)
	n, err := db.GetAlert(ctx, num.ID)
	mustNil(t, err)
	if n.Proxy != "" || n.Action != bulwark.ActionMonitor {
		t.Fatalf("numeric field alert = %+v", n)
	}

	// Other event types make no alert.
	record(t, db, &bulwark.Event{ID: alertID(5), Type: bulwark.EventConfig, Action: "user.create"}, audit("user.create", "bob", base))
	_, err = db.GetAlert(ctx, alertID(5))
	wantNotFound(t, err)
	p, err := db.ListAlerts(ctx, bulwark.AlertFilter{})
	mustNil(t, err)
	if p.Total != 4 {
		t.Fatalf("alerts = %d, want 4", p.Total)
	}
}

func testAlertAtomic(t *testing.T, db *store.DB) {
	ctx := t.Context()
	ev := alertEvent(alertID(1), base, bulwark.SeverityHigh, map[string]any{"proxy": "p"})
	record(t, db, ev, nil, "siem")
	// The same id again: neither a second alert nor its outbox row remains.
	err := db.RecordEvent(ctx, alertEvent(alertID(1), base, bulwark.SeverityLow, nil), nil, []string{"slack"})
	wantConflict(t, err, alertID(1))
	// A failure after the alert row (unencodable audit details) rolls it back.
	bad := alertEvent(alertID(2), base, bulwark.SeverityHigh, map[string]any{"proxy": "p"})
	a := audit("x.y", "alice", base)
	a.Details = map[string]any{"f": func() {}}
	if err := db.RecordEvent(ctx, bad, a, []string{"siem"}); err == nil {
		t.Fatal("unencodable details accepted")
	}
	_, err = db.GetAlert(ctx, alertID(2))
	wantNotFound(t, err)
	p, err := db.ListAlerts(ctx, bulwark.AlertFilter{})
	mustNil(t, err)
	if p.Total != 1 || p.Items[0].Severity != bulwark.SeverityHigh {
		t.Fatalf("alerts = %+v", p)
	}
	if d, _ := db.OutboxDepth(ctx, ""); d != 1 {
		t.Fatalf("outbox depth %d, want 1", d)
	}
	// No alert row without its event.
	pe, _ := db.ListEvents(ctx, bulwark.EventFilter{Type: bulwark.EventAlert})
	if pe.Total != 1 {
		t.Fatalf("alert events = %d", pe.Total)
	}
}

// seedAlerts records 12 alerts a minute apart: severities cycle, proxies
// alternate, every third is on rule R-3.
func seedAlerts(t *testing.T, db *store.DB) {
	sevs := []bulwark.Severity{bulwark.SeverityInfo, bulwark.SeverityLow, bulwark.SeverityMedium, bulwark.SeverityHigh, bulwark.SeverityCritical}
	for i := range 12 {
		rule := "R-1"
		if i%3 == 0 {
			rule = "R-3"
		}
		ev := alertEvent(alertID(i), base.Add(time.Duration(i)*time.Minute), sevs[i%5], map[string]any{
			"proxy": []string{"alpha", "beta"}[i%2], "rule_id": rule, "title": fmt.Sprintf("alert %d", i),
			"evidence": fmt.Sprintf("evidence %d", i), "user": fmt.Sprintf("user%d", i)})
		if i == 5 {
			ev.Category = string(bulwark.CategoryToolSecurity)
			ev.Data = mustJSONAny(map[string]any{"proxy": "beta", "rule_id": "R-1", "title": "100% off_sale", "evidence": `C:\x`})
		}
		record(t, db, ev, nil)
	}
}

func ids(p bulwark.Page[bulwark.Alert]) []string {
	var out []string
	for _, a := range p.Items {
		out = append(out, strings.TrimLeft(strings.TrimPrefix(a.ID, "00000000-0000-4000-8000-"), "0"))
	}
	return out
}

func testAlertList(t *testing.T, db *store.DB) {
	ctx := t.Context()
	seedAlerts(t, db)
	list := func(f bulwark.AlertFilter) []string {
		t.Helper()
		p, err := db.ListAlerts(ctx, f)
		mustNil(t, err)
		return ids(p)
	}
	check := func(name string, got []string, want ...string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Fatalf("%s = %v, want %v", name, got, want)
		}
	}
	check("default", list(bulwark.AlertFilter{Limit: 3}), "11", "10", "9")
	check("time asc", list(bulwark.AlertFilter{Sort: "time", Limit: 3}), "", "1", "2")
	check("severity", list(bulwark.AlertFilter{MinSeverity: bulwark.SeverityHigh}), "9", "8", "4", "3")
	check("severity sort", list(bulwark.AlertFilter{Sort: "-severity", Limit: 3}), "9", "4", "8")
	check("proxy+rule", list(bulwark.AlertFilter{Proxy: "alpha", RuleID: "R-3"}), "6", "")
	check("category", list(bulwark.AlertFilter{Categories: []string{"Tool Security", "Nope"}}), "5")
	check("since/until", list(bulwark.AlertFilter{Since: base.Add(2 * time.Minute), Until: base.Add(4 * time.Minute)}), "3", "2")
	check("q", list(bulwark.AlertFilter{Query: "USER1"}), "11", "10", "1")
	check("q evidence", list(bulwark.AlertFilter{Query: "evidence 7"}), "7")
	check("q wildcard %", list(bulwark.AlertFilter{Query: "100%"}), "5")
	check("q wildcard _", list(bulwark.AlertFilter{Query: "f_s"}), "5")
	check("q backslash", list(bulwark.AlertFilter{Query: `c:\`}), "5")
	check("q no match", list(bulwark.AlertFilter{Query: "%_"}))
	check("proxy sort", list(bulwark.AlertFilter{Sort: "-proxy", Limit: 2}), "11", "9")

	p, err := db.ListAlerts(ctx, bulwark.AlertFilter{Limit: 5, Offset: 10})
	mustNil(t, err)
	if p.Total != 12 || len(p.Items) != 2 {
		t.Fatalf("last page: total %d, %d items", p.Total, len(p.Items))
	}
	p, err = db.ListAlerts(ctx, bulwark.AlertFilter{Limit: 5, Offset: 50})
	mustNil(t, err)
	if p.Total != 12 || len(p.Items) != 0 {
		t.Fatalf("past the end: total %d, %d items", p.Total, len(p.Items))
	}

	_, err = db.SetAlertStatus(ctx, []string{alertID(1), alertID(2)}, bulwark.AlertAcknowledged, "otto", "")
	mustNil(t, err)
	_, err = db.SetAlertStatus(ctx, []string{alertID(3)}, bulwark.AlertResolved, "otto", "")
	mustNil(t, err)
	check("status", list(bulwark.AlertFilter{Statuses: []bulwark.AlertStatus{bulwark.AlertAcknowledged, bulwark.AlertResolved}}), "3", "2", "1")
	check("status sort", list(bulwark.AlertFilter{Sort: "-status", Limit: 3}), "3", "2", "1")

	c, err := db.CountAlerts(ctx, bulwark.AlertFilter{Sort: "ignored", Limit: 1})
	mustNil(t, err)
	if c.Total != 12 || c.ByStatus[bulwark.AlertNew] != 9 || c.ByStatus[bulwark.AlertAcknowledged] != 2 ||
		c.ByStatus[bulwark.AlertResolved] != 1 || c.BySeverity[bulwark.SeverityCritical] != 2 || c.BySeverity[bulwark.SeverityInfo] != 3 {
		t.Fatalf("counts = %+v", c)
	}
	c, err = db.CountAlerts(ctx, bulwark.AlertFilter{Proxy: "alpha"})
	mustNil(t, err)
	if c.Total != 6 {
		t.Fatalf("alpha counts = %+v", c)
	}

	_, err = db.ListAlerts(ctx, bulwark.AlertFilter{Sort: "title; DROP TABLE alerts"})
	wantCode(t, err, bulwark.CodeInvalid)
	_, err = db.ListAlerts(ctx, bulwark.AlertFilter{MinSeverity: "huge"})
	wantCode(t, err, bulwark.CodeInvalid)
	_, err = db.ListAlerts(ctx, bulwark.AlertFilter{Statuses: []bulwark.AlertStatus{"done"}})
	wantCode(t, err, bulwark.CodeInvalid)
}

func testAlertStatus(t *testing.T, db *store.DB) {
	ctx := t.Context()
	seedAlerts(t, db)
	got, err := db.SetAlertStatus(ctx, []string{alertID(2), alertID(1)}, bulwark.AlertAcknowledged, "otto", "looking")
	mustNil(t, err)
	if len(got) != 2 || got[0].ID != alertID(2) || got[1].Status != bulwark.AlertAcknowledged || got[1].StatusBy != "otto" || got[1].StatusAt == nil {
		t.Fatalf("changed = %+v", got)
	}
	a, err := db.GetAlert(ctx, alertID(1))
	mustNil(t, err)
	if a.Status != bulwark.AlertAcknowledged || a.StatusBy != "otto" || !samePtrTime(a.StatusAt, got[1].StatusAt) ||
		len(a.Notes) != 1 || a.Notes[0].Text != "looking" || a.Notes[0].By != "otto" {
		t.Fatalf("alert = %+v", a)
	}

	// One refused move refuses the whole batch.
	_, err = db.SetAlertStatus(ctx, []string{alertID(3), alertID(1)}, bulwark.AlertNew, "otto", "")
	wantConflict(t, err, "cannot become new")
	_, err = db.SetAlertStatus(ctx, []string{alertID(3), alertID(1)}, bulwark.AlertAcknowledged, "vera", "again")
	wantConflict(t, err, alertID(1))
	a3, err := db.GetAlert(ctx, alertID(3))
	mustNil(t, err)
	if a3.Status != bulwark.AlertNew || a3.StatusAt != nil || len(a3.Notes) != 0 {
		t.Fatalf("alert 3 changed by a refused batch: %+v", a3)
	}
	// Unknown id: not found, nothing changed.
	_, err = db.SetAlertStatus(ctx, []string{alertID(3), "nope"}, bulwark.AlertResolved, "otto", "")
	wantNotFound(t, err)
	// Forward skipping steps, between closed verdicts, and reopen.
	for _, step := range []struct {
		to bulwark.AlertStatus
		ok bool
	}{
		{bulwark.AlertResolved, true}, {bulwark.AlertFalsePositive, true}, {bulwark.AlertAcknowledged, false},
		{bulwark.AlertInProgress, true}, {bulwark.AlertAcknowledged, false}, {bulwark.AlertInProgress, false},
		{bulwark.AlertResolved, true},
	} {
		_, err := db.SetAlertStatus(ctx, []string{alertID(3)}, step.to, "otto", "")
		if step.ok {
			mustNil(t, err)
		} else {
			wantConflict(t, err, "cannot become "+string(step.to))
		}
	}
	for _, bad := range []struct {
		ids    []string
		status bulwark.AlertStatus
		note   string
	}{
		{nil, bulwark.AlertResolved, ""},
		{[]string{alertID(4), alertID(4)}, bulwark.AlertResolved, ""},
		{[]string{alertID(4)}, "done", ""},
		{[]string{alertID(4)}, bulwark.AlertResolved, "   "},
		{[]string{alertID(4)}, bulwark.AlertResolved, strings.Repeat("x", 4001)},
	} {
		_, err := db.SetAlertStatus(ctx, bad.ids, bad.status, "otto", bad.note)
		wantCode(t, err, bulwark.CodeInvalid)
	}
}

func testAlertNotes(t *testing.T, db *store.DB) {
	ctx := t.Context()
	seedAlerts(t, db)
	n1, err := db.AddAlertNote(ctx, alertID(1), "otto", "first")
	mustNil(t, err)
	_, err = db.AddAlertNote(ctx, alertID(1), "vera", "sécond\x00")
	mustNil(t, err)
	a, err := db.GetAlert(ctx, alertID(1))
	mustNil(t, err)
	if len(a.Notes) != 2 || a.Notes[0].Text != "first" || !sameTime(a.Notes[0].At, n1.At) || a.Notes[1].By != "vera" ||
		a.Notes[1].Text != "sécond" {
		t.Fatalf("notes = %+v", a.Notes)
	}
	_, err = db.AddAlertNote(ctx, "missing", "otto", "x")
	wantNotFound(t, err)
	_, err = db.AddAlertNote(ctx, alertID(1), "otto", "")
	wantCode(t, err, bulwark.CodeInvalid)
	// Listings do not carry notes.
	p, err := db.ListAlerts(ctx, bulwark.AlertFilter{Proxy: "beta", RuleID: "R-1", Since: base.Add(time.Minute), Until: base.Add(2 * time.Minute)})
	mustNil(t, err)
	if p.Total != 1 || p.Items[0].Notes != nil {
		t.Fatalf("list = %+v", p)
	}
}
