package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

func recordEvents(t *testing.T, db *store.DB, n int, prefix string) {
	t.Helper()
	for i := range n {
		ev := &bulwark.Event{ID: fmt.Sprintf("%s-%d", prefix, i), Type: bulwark.EventSystem, Action: "test.event",
			Severity: bulwark.SeverityInfo, Subject: "before backup", Data: []byte(`{}`)}
		if err := db.RecordEvent(t.Context(), ev, nil, []string{"siem"}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestBackupSQLiteWhileWriting copies a database that is being written to
// and checks that the copy is a complete, consistent database that Open
// migrates and reads.
func TestBackupSQLiteWhileWriting(t *testing.T) {
	dir := t.TempDir()
	db := openURL(t, "sqlite://"+filepath.Join(dir, "bulwark.db"), true)
	ctx := t.Context()
	const before = 300
	recordEvents(t, db, before, "before")
	if err := db.CreateUser(ctx, &bulwark.User{Username: "alice", Role: bulwark.RoleAdmin}); err != nil {
		t.Fatal(err)
	}

	// A writer keeps adding events (each with an outbox row, in one
	// transaction) while the backup runs.
	var written atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev := &bulwark.Event{ID: fmt.Sprintf("during-%d", i), Type: bulwark.EventSystem, Action: "test.event",
				Severity: bulwark.SeverityInfo, Subject: "during backup", Data: []byte(`{}`)}
			if err := db.RecordEvent(context.Background(), ev, nil, []string{"siem"}); err != nil {
				t.Errorf("concurrent write: %v", err)
				return
			}
			written.Add(1)
		}
	})
	for written.Load() < 5 { // the writer is really running
		time.Sleep(time.Millisecond)
	}

	backupDir := t.TempDir()
	dest := filepath.Join(backupDir, "bulwark-backup.db")
	info, err := db.Backup(ctx, dest)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	if info.File != dest || info.Engine != store.EngineSQLite || info.Bytes <= 0 || info.Duration <= 0 {
		t.Fatalf("info %+v", info)
	}
	st, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 || st.Size() != info.Bytes {
		t.Fatalf("backup mode %v size %d, want 0600 and %d", st.Mode().Perm(), st.Size(), info.Bytes)
	}
	entries, _ := os.ReadDir(backupDir)
	if len(entries) != 1 {
		t.Fatalf("backup directory holds %d files, want only the backup: %v", len(entries), entries)
	}

	// SQLite's own check first, on a plain connection.
	raw, err := sql.Open("sqlite", dest)
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := raw.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		raw.Close()
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	// Every event in the copy came with its outbox row: one snapshot.
	var events, outbox int
	if err := raw.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM outbox)`).Scan(&events, &outbox); err != nil {
		raw.Close()
		t.Fatal(err)
	}
	raw.Close()
	if events != outbox {
		t.Fatalf("copy holds %d events but %d outbox rows: not one snapshot", events, outbox)
	}

	cp := openURL(t, dest, true)
	if err := cp.Ready(ctx); err != nil {
		t.Fatalf("copy not ready: %v", err)
	}
	page, err := cp.ListEvents(ctx, bulwark.EventFilter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("copy holds %d events; %d were written while the backup ran", page.Total, written.Load())
	if page.Total < before || int64(page.Total) > before+written.Load() || page.Total != events {
		t.Fatalf("copy holds %d events, want %d..%d", page.Total, before, before+written.Load())
	}
	if u, err := cp.GetUserByUsername(ctx, "alice"); err != nil || u.Role != bulwark.RoleAdmin {
		t.Fatalf("user in copy: %+v, %v", u, err)
	}
	// The copy is a database of its own: writing to it leaves the original alone.
	recordEvents(t, cp, 1, "copy-only")
	if orig, err := db.ListEvents(ctx, bulwark.EventFilter{Limit: 1}); err != nil || int64(orig.Total) != before+written.Load() {
		t.Fatalf("original holds %d events (%v), want %d", orig.Total, err, before+written.Load())
	}
}

func TestBackupRefusals(t *testing.T) {
	dir := t.TempDir()
	dbPath := filepath.Join(dir, "bulwark.db")
	db := openURL(t, dbPath, true)
	recordEvents(t, db, 3, "e")

	exists := filepath.Join(t.TempDir(), "old.db")
	if err := os.WriteFile(exists, []byte("yesterday's backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	cancelDir := t.TempDir()

	for _, c := range []struct {
		name string
		ctx  context.Context
		dest string
		code bulwark.ErrorCode
		want string
	}{
		{"destination exists", t.Context(), exists, bulwark.CodeConflict, "already exists: choose a new file name"},
		{"database itself", t.Context(), dbPath, bulwark.CodeConflict, "is the database itself"},
		{"missing directory", t.Context(), filepath.Join(dir, "no", "such", "dir", "b.db"), bulwark.CodeInvalid, "does not exist: create it first"},
		{"empty", t.Context(), "", bulwark.CodeInvalid, "name the file to write"},
		{"cancelled", cancelled, filepath.Join(cancelDir, "b.db"), bulwark.CodeInternal, "context canceled"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := db.Backup(c.ctx, c.dest)
			if err == nil || bulwark.ErrorCodeOf(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (code %s), want code %s containing %q", err, bulwark.ErrorCodeOf(err), c.code, c.want)
			}
		})
	}
	if b, err := os.ReadFile(exists); err != nil || string(b) != "yesterday's backup" {
		t.Fatalf("existing file changed: %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(cancelDir); len(entries) != 0 {
		t.Fatalf("a failed backup left files behind: %v", entries)
	}
}

func TestBackupPostgresRefused(t *testing.T) {
	db := storetest.OpenPostgres(t) // skips unless BULWARK_TEST_POSTGRES_URL is set
	dest := filepath.Join(t.TempDir(), "b.db")
	_, err := db.Backup(t.Context(), dest)
	var be *bulwark.Error
	if !errors.As(err, &be) || be.Code != bulwark.CodeUnprocessable || !strings.Contains(be.Message, "pg_dump") ||
		!strings.Contains(be.Message, store.PostgresBackupHint) {
		t.Fatalf("err = %v, want a validation error pointing at pg_dump", err)
	}
	if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("PostgreSQL backup refusal created %s: %v", dest, err)
	}
}
