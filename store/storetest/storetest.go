// Package storetest opens throw-away, migrated databases for tests: SQLite
// in a temporary directory always, PostgreSQL in a fresh database when
// BULWARK_TEST_POSTGRES_URL points at a server.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/store"
)

// PostgresEnv names the environment variable holding an admin URL of a
// PostgreSQL server for tests, e.g.
// postgres://root@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "BULWARK_TEST_POSTGRES_URL"

// OpenSQLite returns a migrated SQLite database in a temporary directory,
// closed when the test ends.
func OpenSQLite(t testing.TB) *store.DB {
	t.Helper()
	return open(t, filepath.Join(t.TempDir(), "bulwark.db"))
}

// OpenPostgres returns a migrated store on a fresh PostgreSQL database,
// dropped when the test ends. It skips the test when PostgresEnv is unset.
func OpenPostgres(t testing.TB) *store.DB {
	t.Helper()
	return open(t, NewPostgresDatabase(t))
}

// NewPostgresDatabase creates an empty database on the server named by
// PostgresEnv and returns its URL; the database is dropped (forcibly, so
// leftover connections do not block it) when the test ends. It skips the
// test when PostgresEnv is unset.
func NewPostgresDatabase(t testing.TB) string {
	t.Helper()
	admin := os.Getenv(PostgresEnv)
	if admin == "" {
		t.Skipf("PostgreSQL tests are off: set %s to enable them, e.g. %s='postgres://root@127.0.0.1:5432/test?sslmode=disable'",
			PostgresEnv, PostgresEnv)
	}
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("storetest: %s is not a URL: %v", PostgresEnv, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "bulwark_test_" + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("storetest: connect to %s: %v", store.Redact(admin), err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE `+name); err != nil {
		t.Fatalf("storetest: create database %s on %s: %v", name, store.Redact(admin), err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", admin)
		if err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
			return
		}
		defer db.Close()
		if _, err := db.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			t.Errorf("storetest: drop database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func open(t testing.TB, databaseURL string) *store.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db, err := store.Open(ctx, databaseURL, store.Options{MigrateOnOpen: true, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("storetest: open %s: %v", store.Redact(databaseURL), err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("storetest: close: %v", err)
		}
	})
	return db
}
