package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestSQLiteConformance(t *testing.T) {
	runConformance(t, func(t *testing.T) *store.DB { return storetest.OpenSQLite(t) })
}

func TestPostgresConformance(t *testing.T) {
	if os.Getenv(storetest.PostgresEnv) == "" {
		t.Skipf("set %s (e.g. postgres://root@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL conformance suite",
			storetest.PostgresEnv)
	}
	runConformance(t, func(t *testing.T) *store.DB { return storetest.OpenPostgres(t) })
}

func openURL(t *testing.T, url string, migrate bool) *store.DB {
	t.Helper()
	db, err := store.Open(t.Context(), url, store.Options{MigrateOnOpen: migrate, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// testReplicas opens two handles on one fresh database at the same time,
// as two replicas starting together would, and checks that the
// last-admin guard holds when each deletes a different admin concurrently.
func testReplicas(t *testing.T, url string) {
	var dbs [2]*store.DB
	var errs [2]error
	var wg sync.WaitGroup
	for i := range dbs {
		wg.Go(func() {
			dbs[i], errs[i] = store.Open(t.Context(), url, store.Options{MigrateOnOpen: true, Logger: slog.New(slog.DiscardHandler)})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open: %v", i, err)
		}
		t.Cleanup(func() { dbs[i].Close() })
	}
	for i, db := range dbs {
		if err := db.Ready(t.Context()); err != nil {
			t.Fatalf("replica %d not ready: %v", i, err)
		}
	}

	ctx := t.Context()
	var survivor int64
	for round := range 10 {
		// Two fresh admins, created through different replicas; the previous
		// round's survivor can go now, leaving exactly these two.
		var pair [2]*bulwark.User
		for i := range pair {
			pair[i] = &bulwark.User{Username: fmt.Sprintf("admin-%d-%d", round, i), Role: bulwark.RoleAdmin}
			if err := dbs[i].CreateUser(ctx, pair[i]); err != nil {
				t.Fatal(err)
			}
		}
		if survivor != 0 {
			if err := dbs[round%2].DeleteUser(ctx, survivor); err != nil {
				t.Fatal(err)
			}
		}
		start := make(chan struct{})
		var delErrs [2]error
		for i := range pair {
			wg.Go(func() {
				<-start
				delErrs[i] = dbs[i].DeleteUser(ctx, pair[i].ID)
			})
		}
		close(start)
		wg.Wait()
		ok := 0
		for _, err := range delErrs {
			switch {
			case err == nil:
				ok++
			case bulwark.IsConflict(err):
			default:
				t.Fatalf("round %d: unexpected delete error: %v", round, err)
			}
		}
		users, err := dbs[0].ListUsers(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ok != 1 || len(users) != 1 || users[0].Role != bulwark.RoleAdmin || users[0].Disabled {
			t.Fatalf("round %d: %d deletes succeeded, %d users left, want exactly one enabled admin", round, ok, len(users))
		}
		survivor = users[0].ID
	}
}

func TestSQLiteReplicas(t *testing.T) {
	testReplicas(t, "sqlite://"+filepath.Join(t.TempDir(), "shared.db"))
}

func TestPostgresReplicas(t *testing.T) {
	testReplicas(t, storetest.NewPostgresDatabase(t))
}

func testMigrationStatus(t *testing.T, url string) {
	ctx := t.Context()
	db := openURL(t, url, false)
	if err := db.Ready(ctx); err == nil || bulwark.ErrorCodeOf(err) != bulwark.CodeUnavailable {
		t.Fatalf("Ready before migrating: %v", err)
	}
	st, err := db.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st) == 0 || st[0].Applied || !st[0].AppliedAt.IsZero() {
		t.Fatalf("status before migrating: %+v", st)
	}
	before := time.Now().Add(-time.Minute)
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := db.Ready(ctx); err != nil {
		t.Fatalf("Ready after migrating: %v", err)
	}
	st, err = db.MigrationStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st[0].Version != 1 || st[0].Source != "00001_foundation.sql" {
		t.Fatalf("first migration: %+v", st[0])
	}
	for _, s := range st {
		if !s.Applied || s.AppliedAt.Before(before) || s.AppliedAt.Location() != time.UTC {
			t.Fatalf("after migrating: %+v", s)
		}
	}
	// A second handle with MigrateOnOpen sees nothing to do.
	db2 := openURL(t, url, true)
	if err := db2.Ready(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestSQLiteMigrationStatus(t *testing.T) {
	testMigrationStatus(t, filepath.Join(t.TempDir(), "m.db"))
}

func TestPostgresMigrationStatus(t *testing.T) {
	testMigrationStatus(t, storetest.NewPostgresDatabase(t))
}

func TestSQLiteLocations(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, tc := range []struct{ url, file string }{
		{"sqlite://" + filepath.Join(dir, "abs", "a.db"), filepath.Join(dir, "abs", "a.db")},
		{"sqlite://rel/b.db", filepath.Join(dir, "rel", "b.db")},
		{"file:" + filepath.Join(dir, "f", "c.db"), filepath.Join(dir, "f", "c.db")},
		{"file://" + filepath.Join(dir, "f2", "c.db"), filepath.Join(dir, "f2", "c.db")},
		{"file:relfile.db", filepath.Join(dir, "relfile.db")},
		{filepath.Join(dir, "plain dir", "d.db"), filepath.Join(dir, "plain dir", "d.db")},
		{filepath.Join(dir, "pct%20kept", "e.db"), filepath.Join(dir, "pct%20kept", "e.db")},
		{"sqlite://" + filepath.Join(dir, "pct%20decoded", "e.db"), filepath.Join(dir, "pct decoded", "e.db")},
		{"data/bulwark.db", filepath.Join(dir, "data", "bulwark.db")},
	} {
		db := openURL(t, tc.url, true)
		if db.Engine() != store.EngineSQLite {
			t.Fatalf("%s: engine %s", tc.url, db.Engine())
		}
		if err := db.Ready(t.Context()); err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if _, err := os.Stat(tc.file); err != nil {
			t.Fatalf("%s: database file not where expected: %v", tc.url, err)
		}
		for _, f := range []string{tc.file, tc.file + "-wal", tc.file + "-shm", tc.file + "-migrate.lock"} {
			if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %s not 0600: %v %v", tc.url, f, fi.Mode(), err)
			}
		}
		fi, err := os.Stat(filepath.Dir(tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if tc.file != filepath.Join(dir, "relfile.db") && fi.Mode().Perm() != 0o700 {
			t.Fatalf("%s: directory mode %v, want 0700", tc.url, fi.Mode().Perm())
		}
		// The pragmas reach every pooled connection.
		for role, pool := range db.SQLDBs() {
			var journal string
			var fk, busy int
			if err := pool.QueryRowContext(t.Context(), `PRAGMA journal_mode`).Scan(&journal); err != nil {
				t.Fatal(err)
			}
			if err := pool.QueryRowContext(t.Context(), `PRAGMA foreign_keys`).Scan(&fk); err != nil {
				t.Fatal(err)
			}
			if err := pool.QueryRowContext(t.Context(), `PRAGMA busy_timeout`).Scan(&busy); err != nil {
				t.Fatal(err)
			}
			if journal != "wal" || fk != 1 || busy <= 0 {
				t.Fatalf("%s %s: journal %s, foreign_keys %d, busy_timeout %d", tc.url, role, journal, fk, busy)
			}
		}
		// The reader pool cannot write.
		if _, err := db.SQLDBs()["reader"].ExecContext(t.Context(), `DELETE FROM users`); err == nil {
			t.Fatalf("%s: reader pool accepted a write", tc.url)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct{ url, want string }{
		{"", "empty database URL"},
		{"mysql://bulwark:s3cr3t-pw@db/bulwark", `unsupported database URL scheme "mysql"`},
		{"redis://:s3cr3t-pw@cache", `unsupported database URL scheme "redis"`},
		{"sqlite://x.db?_pragma=journal_mode(DELETE)", "query parameters are not supported"},
		{":memory:", "file path is required"},
		// Nothing listens on port 1: the connection error must not show the password.
		{"postgres://bulwark:s3cr3t-pw@127.0.0.1:1/bulwark?sslmode=disable&connect_timeout=2", "xxxxx"},
	} {
		_, err := store.Open(ctx, tc.url, store.Options{MigrateOnOpen: true})
		if err == nil {
			t.Fatalf("Open(%q) succeeded", tc.url)
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("Open(%q) = %v, want it to mention %q", tc.url, err, tc.want)
		}
		if strings.Contains(err.Error(), "s3cr3t-pw") {
			t.Fatalf("Open(%q) error leaks the password: %v", tc.url, err)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p%40ss@h:5432/db?sslmode=disable": "postgres://u:xxxxx@h:5432/db?sslmode=disable",
		"postgres://u@h/db":                             "postgres://u@h/db",
		"postgresql://h/db?password=secret&x=1":         "postgresql://h/db?password=xxxxx&x=1",
		"/var/lib/bulwark/bulwark.db":                   "/var/lib/bulwark/bulwark.db",
		"host=h user=u password=secret dbname=d":        "host=h user=u password=xxxxx dbname=d",
		"postgres://u:pw@h:bad port/db":                 "postgres://(unparseable URL redacted)",
	} {
		if got := store.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestReadyFailsWhenClosed(t *testing.T) {
	db := storetest.OpenSQLite(t)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	err := db.Ready(t.Context())
	if bulwark.ErrorCodeOf(err) != bulwark.CodeUnavailable {
		t.Fatalf("Ready on closed DB: %v", err)
	}
}
