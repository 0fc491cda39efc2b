package main

import (
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

// backupFixture is a migrated database with integrations of every routing
// case, as serve would have left it.
func backupFixture(t *testing.T, databaseURL string) *store.DB {
	t.Helper()
	ctx := t.Context()
	db, err := store.Open(ctx, databaseURL, store.Options{MigrateOnOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateUser(ctx, &bulwark.User{Username: "alice", Role: bulwark.RoleAdmin}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []*bulwark.Integration{
		{Name: "siem", Kind: bulwark.IntegrationWebhook, Enabled: true},                                                     // every event
		{Name: "ops", Kind: bulwark.IntegrationSlack, Enabled: true, Types: []bulwark.EventType{bulwark.EventSystem}},       // system only
		{Name: "pager", Kind: bulwark.IntegrationWebhook, Enabled: true, MinSeverity: bulwark.SeverityHigh},                 // failures only
		{Name: "alerts", Kind: bulwark.IntegrationWebhook, Enabled: true, Types: []bulwark.EventType{bulwark.EventAlert}},   // never
		{Name: "off", Kind: bulwark.IntegrationWebhook, Enabled: false},                                                     // disabled
		{Name: "traces", Kind: bulwark.IntegrationLangfuse, Enabled: true, Types: []bulwark.EventType{bulwark.EventSystem}}, // request log only
	} {
		i.Settings = json.RawMessage(`{}`)
		if err := db.CreateIntegration(ctx, i); err != nil {
			t.Fatalf("integration %s: %v", i.Name, err)
		}
	}
	return db
}

func lastSystemEvent(t *testing.T, db *store.DB) bulwark.Event {
	t.Helper()
	page, err := db.ListEvents(t.Context(), bulwark.EventFilter{Type: bulwark.EventSystem, Limit: 1})
	if err != nil || len(page.Items) == 0 {
		t.Fatalf("no system event: %v", err)
	}
	return page.Items[0]
}

func outboxDepths(t *testing.T, db *store.DB) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, s := range []string{"siem", "ops", "pager", "alerts", "off", "traces"} {
		n, err := db.OutboxDepth(t.Context(), s)
		if err != nil {
			t.Fatal(err)
		}
		got[s] = n
	}
	return got
}

func TestBackupCommand(t *testing.T) {
	dir := t.TempDir()
	db := backupFixture(t, "sqlite://"+filepath.Join(dir, "bulwark.db"))
	dest := filepath.Join(t.TempDir(), "bulwark-backup.db")

	out, code := run(t, "", "backup", "--data-dir", dir, "--out", dest)
	if code != 0 || !strings.Contains(out, "backup written to "+dest) || !strings.Contains(out, "encryption.key with the backup") {
		t.Fatalf("exit %d: %s", code, out)
	}
	st, err := os.Stat(dest)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file: %v, %v", st, err)
	}

	ev := lastSystemEvent(t, db)
	var data struct {
		File       string `json:"file"`
		Bytes      int64  `json:"bytes"`
		DurationMS *int64 `json:"duration_ms"`
		Engine     string `json:"engine"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if ev.Action != "backup.completed" || ev.Severity != bulwark.SeverityInfo || ev.Actor != "system" ||
		data.File != dest || data.Bytes != st.Size() || data.DurationMS == nil || data.Engine != "sqlite" {
		t.Fatalf("event %+v data %s", ev, ev.Data)
	}
	// Queued exactly for the enabled integrations whose routes want it,
	// for serve's dispatcher to deliver.
	want := map[string]int{"siem": 1, "ops": 1, "pager": 0, "alerts": 0, "off": 0, "traces": 0}
	if got := outboxDepths(t, db); !maps.Equal(got, want) {
		t.Fatalf("outbox %v, want %v", got, want)
	}

	// The copy is a working database of its own.
	cp, err := store.Open(t.Context(), dest, store.Options{MigrateOnOpen: true})
	if err != nil {
		t.Fatal(err)
	}
	u, err := cp.GetUserByUsername(t.Context(), "alice")
	cp.Close()
	if err != nil || u.Role != bulwark.RoleAdmin {
		t.Fatalf("user in copy: %+v, %v", u, err)
	}

	// A second run must not overwrite the first backup: it fails, says
	// what to do and raises backup.failed.
	before, _ := os.ReadFile(dest)
	out, code = run(t, "", "backup", "--data-dir", dir, "--out", dest)
	if code != 1 || !strings.Contains(out, "already exists: choose a new file name") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if after, _ := os.ReadFile(dest); string(after) != string(before) {
		t.Fatal("the existing backup was changed")
	}
	ev = lastSystemEvent(t, db)
	if ev.Action != "backup.failed" || ev.Severity != bulwark.SeverityHigh || !strings.Contains(string(ev.Data), "already exists") {
		t.Fatalf("event %+v data %s", ev, ev.Data)
	}
	want = map[string]int{"siem": 2, "ops": 2, "pager": 1, "alerts": 0, "off": 0, "traces": 0}
	if got := outboxDepths(t, db); !maps.Equal(got, want) {
		t.Fatalf("outbox %v, want %v", got, want)
	}
}

func TestBackupCommandUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"backup", "--data-dir", dir}, 2, "--out is required"},
		{[]string{"backup", "--data-dir", dir, "--out", "a.db", "extra"}, 2, "Run 'bulwark backup --help'"},
		// A data directory serve never used: nothing to back up, and no event.
		{[]string{"backup", "--data-dir", dir, "--out", filepath.Join(t.TempDir(), "b.db")}, 1, "no Bulwark database at"},
	} {
		if out, code := run(t, "", c.args...); code != c.code || !strings.Contains(out, c.want) {
			t.Errorf("%v: exit %d, want %d with %q: %s", c.args, code, c.code, c.want, out)
		}
	}
}

func TestBackupCommandPostgres(t *testing.T) {
	url := storetest.NewPostgresDatabase(t) // skips unless BULWARK_TEST_POSTGRES_URL is set
	db := backupFixture(t, url)
	dest := filepath.Join(t.TempDir(), "b.db")
	out, code := run(t, "", "backup", "--data-dir", t.TempDir(), "--database-url", url, "--out", dest)
	if code != 1 || !strings.Contains(out, "pg_dump") {
		t.Fatalf("exit %d: %s", code, out)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Fatal("a backup file was written for PostgreSQL")
	}
	ev := lastSystemEvent(t, db)
	if ev.Action != "backup.failed" || ev.Severity != bulwark.SeverityHigh || !strings.Contains(string(ev.Data), "pg_dump") {
		t.Fatalf("event %+v data %s", ev, ev.Data)
	}
	if n, err := db.OutboxDepth(context.Background(), "pager"); err != nil || n != 1 {
		t.Fatalf("pager outbox %d, %v", n, err)
	}
}
