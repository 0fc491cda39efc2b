package api_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

func TestAlertsAPI(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		runAll(t, open, []namedTest{
			{"ListAndGet", testAlertListGet},
			{"Status", testAlertStatusAPI},
			{"Notes", testAlertNotesAPI},
			{"Export", testAlertExport},
		})
	})
}

func alertUUID(i int) string { return fmt.Sprintf("aaaaaaaa-0000-4000-8000-%012d", i) }

// seedAPIAlerts records n alert events through the store, a minute apart.
func seedAPIAlerts(t *testing.T, f *fixture, n int) {
	t.Helper()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	sevs := []bulwark.Severity{bulwark.SeverityLow, bulwark.SeverityMedium, bulwark.SeverityHigh, bulwark.SeverityCritical}
	for i := range n {
		data, _ := json.Marshal(map[string]any{"proxy": []string{"openai", "claude"}[i%2], "rule_id": fmt.Sprintf("PI-%03d", i%3),
			"title": fmt.Sprintf("Prompt injection %d", i), "user": "alice", "evidence": "ignore previous ***",
			"action": "block", "model": "gpt-4o"})
		ev := &bulwark.Event{ID: alertUUID(i), Time: at.Add(time.Duration(i) * time.Minute), Type: bulwark.EventAlert,
			Action: "policy.block", Severity: sevs[i%4], Category: string(bulwark.CategoryGuardrails),
			Subject: fmt.Sprintf("Blocked prompt injection %d", i), Data: data}
		if err := f.db.RecordEvent(t.Context(), ev, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func alertIDs(r *response) []string {
	var out []string
	for _, it := range r.list("items") {
		id, _ := it.(map[string]any)["id"].(string)
		out = append(out, strings.TrimLeft(strings.TrimPrefix(id, "aaaaaaaa-0000-4000-8000-"), "0"))
	}
	return out
}

func testAlertListGet(t *testing.T, f *fixture) {
	seedAPIAlerts(t, f, 8)
	v := f.loginAs(f.users[bulwark.RoleViewer])
	r := v.do("GET", "/alerts?limit=3", nil).want(t, 200)
	if r.num("total") != 8 || !slices.Equal(alertIDs(r), []string{"7", "6", "5"}) || r.num("limit") != 3 {
		t.Fatalf("list: %s", r.Raw)
	}
	if it := r.get("items", 0).(map[string]any); it["title"] != "Prompt injection 7" || it["severity"] != "critical" ||
		it["proxy"] != "claude" || it["action"] != "block" || it["status"] != "new" || it["target"] != "gpt-4o" || it["notes"] != nil {
		t.Fatalf("item: %v", it)
	}
	for q, want := range map[string][]string{
		"severity=high":            {"7", "6", "3", "2"},
		"proxy=openai&rule=PI-000": {"6", ""},
		"q=INJECTION%205":          {"5"},
		"sort=severity&limit=2":    {"4", ""},
		"status=new,resolved&category=Guardrails&since=2026-05-01T12:06:00Z": {"7", "6"},
		"status=new&status=acknowledged&until=2026-05-01T12:01:00Z":          {""},
		"category=Tool%20Security":                                           nil,
		"offset=7":                                                           {""},
	} {
		r := v.do("GET", "/alerts?"+q, nil).want(t, 200)
		if got := alertIDs(r); !slices.Equal(got, want) {
			t.Errorf("%s: got %v, want %v", q, got, want)
		}
	}
	for _, q := range []string{"severity=huge", "status=done", "sort=title", "since=2026-05-02T00:00:00Z&until=2026-05-01T00:00:00Z",
		"q=%00", "limit=501"} {
		v.do("GET", "/alerts?"+q, nil).wantErr(t, 422, "validation_failed")
	}
	g := v.do("GET", "/alerts/"+alertUUID(3), nil).want(t, 200)
	if g.str("id") != alertUUID(3) || g.str("description") != "Blocked prompt injection 3" || g.str("user") != "alice" {
		t.Fatalf("get: %s", g.Raw)
	}
	v.do("GET", "/alerts/nope", nil).wantErr(t, 404, "not_found")
	// Viewers may not change anything; the refusal is audited.
	mark := f.auditMark()
	v.do("PUT", "/alerts/"+alertUUID(3)+"/status", map[string]any{"status": "resolved"}).wantErr(t, 403, "forbidden")
	if rows := f.auditAfter(mark); len(rows) != 1 || rows[0].Action != "alert.set_status" || rows[0].Result != bulwark.ResultDenied {
		t.Fatalf("denied audit: %+v", rows)
	}
}

func testAlertStatusAPI(t *testing.T, f *fixture) {
	seedAPIAlerts(t, f, 4)
	op := f.loginAs(f.users[bulwark.RoleOperator])
	mark := f.auditMark()
	r := op.do("PUT", "/alerts/"+alertUUID(1)+"/status", map[string]any{"status": "acknowledged", "note": "on it"}).want(t, 200)
	if r.str("status") != "acknowledged" || r.str("status_by") != "otto" || r.str("status_at") == "" ||
		r.str("notes", 0, "text") != "on it" || r.str("notes", 0, "by") != "otto" {
		t.Fatalf("set status: %s", r.Raw)
	}
	rows := wantAudit(t, f, mark, "otto", "alert.status")
	if rows[0].ResourceID != alertUUID(1) || rows[0].Details["status"] != "acknowledged" || rows[0].Details["previous_status"] != "new" {
		t.Fatalf("audit: %+v", rows[0])
	}
	// Back to acknowledged is refused, and so is a batch containing it.
	op.do("PUT", "/alerts/"+alertUUID(1)+"/status", map[string]any{"status": "acknowledged"}).wantErr(t, 409, "conflict")
	op.do("PUT", "/alerts/"+alertUUID(1)+"/status", map[string]any{"status": "new"}).wantErr(t, 422, "validation_failed")
	mark = f.auditMark()
	op.do("POST", "/alerts/status", map[string]any{"ids": []string{alertUUID(0), alertUUID(1)}, "status": "acknowledged"}).wantErr(t, 409, "conflict")
	op.do("POST", "/alerts/status", map[string]any{"ids": []string{alertUUID(0), "missing"}, "status": "resolved"}).wantErr(t, 404, "not_found")
	op.do("POST", "/alerts/status", map[string]any{"ids": []string{alertUUID(0), alertUUID(0)}, "status": "resolved"}).wantErr(t, 422, "validation_failed", "ids[1]")
	op.do("POST", "/alerts/status", map[string]any{"ids": []string{}, "status": "resolved"}).wantErr(t, 422, "validation_failed")
	if rows := f.auditAfter(mark); len(rows) != 0 {
		t.Fatalf("refused changes audited: %+v", rows)
	}
	if g := op.do("GET", "/alerts/"+alertUUID(0), nil).want(t, 200); g.str("status") != "new" {
		t.Fatalf("refused batch changed alert 0: %s", g.Raw)
	}
	b := op.do("POST", "/alerts/status", map[string]any{"ids": []string{alertUUID(2), alertUUID(0), alertUUID(1)},
		"status": "false_positive", "note": "test traffic"}).want(t, 200)
	if !slices.Equal(alertIDs(b), []string{"2", "", "1"}) || b.str("items", 0, "status") != "false_positive" {
		t.Fatalf("bulk: %s", b.Raw)
	}
	rows = wantAudit(t, f, mark, "otto", "alert.status", "alert.status", "alert.status")
	if rows[0].Details["bulk"] != float64(3) && rows[0].Details["bulk"] != 3 {
		t.Errorf("bulk audit details: %+v", rows[0].Details)
	}
	l := op.do("GET", "/alerts?status=false_positive", nil).want(t, 200)
	if l.num("total") != 3 {
		t.Fatalf("after bulk: %s", l.Raw)
	}
	// Reopen.
	op.do("PUT", "/alerts/"+alertUUID(2)+"/status", map[string]any{"status": "in_progress"}).want(t, 200)
	op.do("PUT", "/alerts/missing/status", map[string]any{"status": "resolved"}).wantErr(t, 404, "not_found")
}

func testAlertNotesAPI(t *testing.T, f *fixture) {
	seedAPIAlerts(t, f, 2)
	op := f.loginAs(f.users[bulwark.RoleOperator])
	mark := f.auditMark()
	n := op.do("POST", "/alerts/"+alertUUID(1)+"/notes", map[string]any{"text": "checked with\nthe team"}).want(t, 201)
	if n.str("by") != "otto" || n.str("text") != "checked with\nthe team" || n.str("at") == "" {
		t.Fatalf("note: %s", n.Raw)
	}
	wantAudit(t, f, mark, "otto", "alert.note")
	op.do("POST", "/alerts/"+alertUUID(1)+"/notes", map[string]any{"text": "second"}).want(t, 201)
	g := op.do("GET", "/alerts/"+alertUUID(1), nil).want(t, 200)
	if len(g.list("notes")) != 2 || g.str("notes", 1, "text") != "second" || g.str("status") != "new" {
		t.Fatalf("get: %s", g.Raw)
	}
	op.do("POST", "/alerts/"+alertUUID(1)+"/notes", map[string]any{"text": "  "}).wantErr(t, 422, "validation_failed")
	op.do("POST", "/alerts/"+alertUUID(1)+"/notes", map[string]any{"text": "bell\a"}).wantErr(t, 422, "validation_failed")
	op.do("POST", "/alerts/missing/notes", map[string]any{"text": "x"}).wantErr(t, 404, "not_found")
}

func testAlertExport(t *testing.T, f *fixture) {
	seedAPIAlerts(t, f, 3)
	data, _ := json.Marshal(map[string]any{"proxy": "openai", "title": `=HYPERLINK("http://evil")`, "user": "+bob",
		"evidence": "line1\nline2, \"quoted\"", "rule_id": "@SUM(1)", "group": "-team"})
	if err := f.db.RecordEvent(t.Context(), &bulwark.Event{ID: alertUUID(9), Time: time.Date(2026, 5, 1, 13, 0, 0, 0, time.UTC),
		Type: bulwark.EventAlert, Action: "policy.monitor", Severity: bulwark.SeverityHigh, Category: "Guardrails", Data: data}, nil, nil); err != nil {
		t.Fatal(err)
	}
	v := f.loginAs(f.users[bulwark.RoleViewer])
	r := v.do("GET", "/alerts/export", nil).want(t, 200)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") ||
		!strings.HasPrefix(r.Header.Get("Content-Disposition"), `attachment; filename="alerts-`) {
		t.Fatalf("headers: %v", r.Header)
	}
	if !strings.Contains(string(r.Raw), "\r\n") {
		t.Errorf("CSV lines do not end in CRLF")
	}
	recs, err := csv.NewReader(strings.NewReader(string(r.Raw))).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, r.Raw)
	}
	if len(recs) != 5 || recs[0][0] != "id" || recs[0][4] != "title" || recs[1][0] != alertUUID(9) {
		t.Fatalf("CSV rows: %q", recs)
	}
	row := map[string]string{}
	for i, h := range recs[0] {
		row[h] = recs[1][i]
	}
	if row["title"] != `'=HYPERLINK("http://evil")` || row["user"] != "'+bob" || row["rule_id"] != "'@SUM(1)" ||
		row["group"] != "'-team" || row["evidence"] != "line1\nline2, \"quoted\"" || row["action"] != "monitor" || row["status"] != "new" {
		t.Fatalf("CSV row: %q", row)
	}
	// Same filters as the listing; JSON format.
	j := v.do("GET", "/alerts/export?format=json&proxy=openai&sort=time", nil).want(t, 200)
	var items []map[string]any
	if err := json.Unmarshal(j.Raw, &items); err != nil || !strings.HasPrefix(j.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("JSON export: %v %s", err, j.Raw)
	}
	if len(items) != 3 || items[0]["id"] != alertUUID(0) || items[2]["title"] != `=HYPERLINK("http://evil")` {
		t.Fatalf("JSON export: %s", j.Raw)
	}
	l := v.do("GET", "/alerts/export?limit=1&format=csv", nil).want(t, 200)
	if recs, err := csv.NewReader(strings.NewReader(string(l.Raw))).ReadAll(); err != nil || len(recs) != 2 {
		t.Fatalf("limited export: %v %s", err, l.Raw)
	}
	v.do("GET", "/alerts/export?format=xml", nil).wantErr(t, 422, "validation_failed")
}
