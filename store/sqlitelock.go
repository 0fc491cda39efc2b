package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// sqliteMigrationLock is a cross-process mutex for migrating one SQLite
// database; goose has none for SQLite, and without one two processes (a
// server and `bulwark migrate`, say) can both see a migration as pending and
// apply it twice. It holds an exclusive transaction on a side file, so
// SQLite's own file locking does the work and releases the lock if the
// process dies. The main database cannot serve: migrations write to it.
type sqliteMigrationLock struct {
	path string
	mu   sync.Mutex // held from Lock to Unlock
	db   *sql.DB
	conn *sql.Conn
}

var _ lock.Locker = (*sqliteMigrationLock)(nil)

func newSQLiteMigrationLock(dbPath string) *sqliteMigrationLock {
	return &sqliteMigrationLock{path: dbPath + "-migrate.lock"}
}

// Lock waits until no other process (or handle) is migrating, or ctx ends.
func (l *sqliteMigrationLock) Lock(ctx context.Context, _ *sql.DB) (err error) {
	l.mu.Lock()
	defer func() {
		if err != nil {
			err = errors.Join(err, l.release())
			l.mu.Unlock()
		}
	}()
	if err := createPrivate(l.path); err != nil {
		return err
	}
	if l.db, err = sql.Open("sqlite", sqliteDSN(l.path, sqliteLock)); err != nil {
		return err
	}
	l.db.SetMaxOpenConns(1)
	if l.conn, err = l.db.Conn(ctx); err != nil {
		return err
	}
	return retryBusy(ctx, 0, func() error {
		_, err := l.conn.ExecContext(ctx, `BEGIN EXCLUSIVE`)
		return err
	})
}

// Unlock releases the lock taken by Lock.
func (l *sqliteMigrationLock) Unlock(ctx context.Context, _ *sql.DB) error {
	defer l.mu.Unlock()
	_, err := l.conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`)
	return errors.Join(err, l.release())
}

func (l *sqliteMigrationLock) release() error {
	var errs []error
	if l.conn != nil {
		errs = append(errs, l.conn.Close())
	}
	if l.db != nil {
		errs = append(errs, l.db.Close())
	}
	l.conn, l.db = nil, nil
	return errors.Join(errs...)
}

// createPrivate creates path as an empty owner-only file unless it exists.
// An empty file is a valid SQLite database, and SQLite gives the -wal and
// -shm files the mode of the database file.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return fmt.Errorf("store: create %s: %w", path, err)
}

func isBusy(err error) bool {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	c := se.Code() & 0xff // primary result code
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

// retryBusy runs fn until it does not fail with SQLITE_BUSY, ctx ends, or
// limit passes (0: no limit but ctx). SQLite returns BUSY without waiting
// for busy_timeout when waiting could deadlock, e.g. two connections
// switching a new database to WAL at once, so the retry happens here.
func retryBusy(ctx context.Context, limit time.Duration, fn func() error) error {
	var deadline time.Time
	if limit > 0 {
		deadline = time.Now().Add(limit)
	}
	delay := 5 * time.Millisecond
	for {
		err := fn()
		if err == nil || !isBusy(err) || (!deadline.IsZero() && time.Now().After(deadline)) {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 200*time.Millisecond)
	}
}
