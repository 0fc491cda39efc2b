package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // "pgx" database/sql driver
)

const postgresEnv = "BULWARK_TEST_POSTGRES_URL"

// freshPostgres creates an empty database bulwark_e2e_<random> on the
// server of BULWARK_TEST_POSTGRES_URL, drops it (WITH (FORCE)) when the test
// ends, and returns its URL. The test is skipped when the variable is unset.
func freshPostgres(t *testing.T) string {
	t.Helper()
	admin := os.Getenv(postgresEnv)
	if admin == "" {
		t.Skipf("PostgreSQL tests skipped: set %s, e.g. postgres://root@127.0.0.1:5432/test?sslmode=disable", postgresEnv)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", postgresEnv, err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "bulwark_e2e_" + hex.EncodeToString(b)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

// queryInt runs a one-value query on the database at dsn.
func queryInt(t *testing.T, dsn, q string) int {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var n int
	if err := db.QueryRowContext(ctx, q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestNewcomerPostgres is the newcomer flow with the state in PostgreSQL.
func TestNewcomerPostgres(t *testing.T) {
	t.Parallel()
	dsn := freshPostgres(t)
	dataDir := newDataDir(t)
	newcomerFlow(t, dataDir, []string{"--database-url", dsn})
	if _, err := os.Stat(filepath.Join(dataDir, "bulwark.db")); err == nil {
		t.Error("a SQLite database was created although --database-url points at PostgreSQL")
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM users"); n != 2 {
		t.Errorf("PostgreSQL users table has %d rows, want 2", n)
	}
}

// TestPostgresTwoReplicas starts two replicas on one fresh database at the
// same moment: the migration lock lets both become ready, exactly one
// creates the first admin, and they share users and sessions.
func TestPostgresTwoReplicas(t *testing.T) {
	t.Parallel()
	dsn := freshPostgres(t)
	// Replicas share their secrets through the environment (each has its
	// own data directory), so a session made on one is valid on the other.
	env := []string{
		"BULWARK_DATABASE_URL=" + dsn,
		"BULWARK_SECRETS_SESSION_KEY=" + randomHex(32),
		"BULWARK_SECRETS_ENCRYPTION_KEY=" + randomHex(32),
	}
	reps := make([]*proc, 2)
	dirs := []string{newDataDir(t), newDataDir(t)}
	for i := range reps {
		reps[i] = startProc(t, []string{"replica-a", "replica-b"}[i], env, "serve", "--data-dir", dirs[i], "--listen", "127.0.0.1:0")
	}
	var wg sync.WaitGroup
	for _, r := range reps {
		r.HTTP = &http.Client{Timeout: 10 * time.Second}
		wg.Go(func() {
			if err := r.ready(); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	var pw string
	var printer, other *proc
	for _, r := range reps {
		if pws := adminPasswords(r.stdout()); len(pws) > 0 {
			if pw != "" || len(pws) > 1 {
				t.Fatalf("more than one first-admin password printed:\nA:\n%s\nB:\n%s", reps[0].stdout(), reps[1].stdout())
			}
			pw, printer = pws[0], r
		} else {
			other = r
		}
	}
	if pw == "" {
		t.Fatalf("no first-admin password printed by either replica:\nA:\n%s\nB:\n%s", reps[0].stdout(), reps[1].stdout())
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM goose_db_version WHERE version_id = 1"); n != 1 {
		t.Errorf("migration 1 recorded %d times, want once", n)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM users"); n != 1 {
		t.Errorf("%d users after two first starts, want 1", n)
	}

	// Log in on the replica that printed the password, continue on the other.
	c := newClient(t, printer.URL, nil)
	c.login("admin", pw)
	adminPw := strongPassword()
	c.changePassword(pw, adminPw)
	rpw := strongPassword()
	var created userCreated
	c.do(http.MethodPost, "/api/v1/users", map[string]any{"username": "rita", "role": "viewer", "password": rpw, "must_change_password": false}).
		expect(t, http.StatusCreated, &created)

	// The session cookie works on the other replica; the user is visible there.
	cb := c.at(other.URL)
	if me := cb.me(); me.User.Username != "admin" {
		t.Fatalf("admin session on the other replica: %+v", me)
	}
	var users userList
	cb.do(http.MethodGet, "/api/v1/users", nil).expect(t, http.StatusOK, &users)
	found := false
	for _, u := range users.Items {
		found = found || u.Username == "rita" && u.Role == "viewer" && u.ID == created.User.ID
	}
	if !found || users.Total != 2 {
		t.Fatalf("user created on %s not visible on %s: %+v", printer.name, other.name, users)
	}
	if s := newClient(t, other.URL, nil).login("rita", rpw); s.User.MustChangePassword {
		t.Fatalf("rita on the other replica: %+v", s.User)
	}
	// The audit log is shared too.
	if got := findAudit(cb.audit("actor=admin").Items, "user.create", "admin", "success"); len(got) != 1 {
		t.Errorf("user.create by admin on the other replica's audit: %+v", got)
	}
	// Neither replica wrote key files: the secrets came from the environment.
	for i, r := range reps {
		for _, k := range keyFiles {
			if _, err := os.Stat(filepath.Join(dirs[i], k)); err == nil {
				t.Errorf("%s wrote %s although the key is configured", r.name, k)
			}
		}
	}
	for _, r := range reps {
		r.stop()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
