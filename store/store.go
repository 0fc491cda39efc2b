// Package store owns Bulwark's persistent state: it implements bulwark.Store
// on database/sql for SQLite (modernc.org/sqlite, the default) and PostgreSQL
// (pgx), and owns the schema, embedded as goose migrations per engine.
//
// Both engines run the same SQL text with $N placeholders. What truly differs
// between them (advisory locks, row locking, how the pools are built) lives
// in the small dialect type, not in duplicated queries. Times are stored in
// UTC with microsecond precision: TIMESTAMPTZ on PostgreSQL and fixed-width
// RFC 3339 TEXT ("2006-01-02T15:04:05.000000Z") on SQLite, which sorts and
// compares like the time it encodes.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/bulwarkhq/bulwark"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Engine names returned by DB.Engine.
const (
	EngineSQLite   = "sqlite"
	EnginePostgres = "postgres"
)

// Options tune Open.
type Options struct {
	// MigrateOnOpen applies pending migrations before Open returns. Callers
	// normally pass true; `bulwark migrate` passes false to report first.
	MigrateOnOpen bool
	// Logger receives migration progress. Nil means silent.
	Logger *slog.Logger
	// MaxOpenConns bounds the PostgreSQL pool, or the SQLite reader pool (the
	// SQLite writer always has exactly one connection). 0 picks a default.
	MaxOpenConns int
}

const (
	defaultPostgresConns = 10
	defaultSQLiteReaders = 4
	// sqliteBusyTimeoutMS is how long a SQLite connection waits for another
	// process's write lock (e.g. a CLI command next to the server).
	sqliteBusyTimeoutMS = 10000
)

// DB is the database handle. It implements bulwark.Store and is safe for
// concurrent use.
type DB struct {
	d        dialect
	w        *sql.DB // writer: every write and transaction (SQLite: one connection)
	r        *sql.DB // reader: plain reads (PostgreSQL: the same pool as w)
	log      *slog.Logger
	path     string // SQLite: absolute database file path
	migrator *goose.Provider
	latest   int64 // newest embedded migration version
}

var _ bulwark.Store = (*DB)(nil)

// Open connects to databaseURL, which is a postgres:// or postgresql:// URL,
// or a SQLite location: sqlite:///abs/path.db, sqlite://rel/path.db, file:…
// or a plain file path. The parent directory of a SQLite file is created
// (0700) when missing.
func Open(ctx context.Context, databaseURL string, opts Options) (*DB, error) {
	loc, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	db := &DB{log: log}
	switch loc.engine {
	case EnginePostgres:
		err = db.openPostgres(ctx, loc.dsn, opts)
	default:
		err = db.openSQLite(ctx, loc.path, opts)
	}
	if err != nil {
		return nil, err
	}
	if db.migrator, err = newMigrator(db.d, db.w, log, db.path); err != nil {
		db.Close()
		return nil, err
	}
	srcs := db.migrator.ListSources()
	db.latest = srcs[len(srcs)-1].Version
	if opts.MigrateOnOpen {
		if err := db.Migrate(ctx); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

func (db *DB) openPostgres(ctx context.Context, dsn string, opts Options) error {
	pool, err := sql.Open("pgx", dsn)
	if err != nil {
		return fmt.Errorf("store: open %s: %w", Redact(dsn), err)
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = defaultPostgresConns
	}
	pool.SetMaxOpenConns(n)
	pool.SetMaxIdleConns(n)
	pool.SetConnMaxIdleTime(5 * time.Minute)
	if err := pool.PingContext(ctx); err != nil {
		pool.Close()
		return fmt.Errorf("store: connect to %s: %w", Redact(dsn), err)
	}
	db.d, db.w, db.r = postgresDialect, pool, pool
	return nil
}

func (db *DB) openSQLite(ctx context.Context, path string, opts Options) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("store: sqlite path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return fmt.Errorf("store: create database directory: %w", err)
	}
	// The file holds password and token hashes: owner-only.
	if err := createPrivate(abs); err != nil {
		return err
	}
	// One writer connection: SQLite allows one writer at a time anyway, and
	// queueing in database/sql (which honors ctx) beats SQLITE_BUSY retries.
	// BEGIN IMMEDIATE takes the write lock up front, so a read-then-write
	// transaction cannot fail half-way against another process.
	w, err := sql.Open("sqlite", sqliteDSN(abs, sqliteWriter))
	if err != nil {
		return fmt.Errorf("store: open sqlite %s: %w", abs, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Pinging creates the file and switches it to WAL before readers open it.
	if err := retryBusy(ctx, 30*time.Second, func() error { return w.PingContext(ctx) }); err != nil {
		w.Close()
		return fmt.Errorf("store: open sqlite %s: %w", abs, err)
	}
	r, err := sql.Open("sqlite", sqliteDSN(abs, sqliteReader))
	if err != nil {
		w.Close()
		return fmt.Errorf("store: open sqlite %s: %w", abs, err)
	}
	n := opts.MaxOpenConns
	if n <= 0 {
		n = defaultSQLiteReaders
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := retryBusy(ctx, 30*time.Second, func() error { return r.PingContext(ctx) }); err != nil {
		r.Close()
		w.Close()
		return fmt.Errorf("store: open sqlite %s (reader): %w", abs, err)
	}
	db.d, db.w, db.r, db.path = sqliteDialect, w, r, abs
	return nil
}

// SQLite connection roles for sqliteDSN.
const (
	sqliteWriter = "writer"
	sqliteReader = "reader"
	sqliteLock   = "lock" // the migration lock's side file
)

// sqliteDSN builds a file: URI whose _pragma parameters the driver applies
// to every new pooled connection, not just the first.
func sqliteDSN(abs, role string) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", sqliteBusyTimeoutMS))
	switch role {
	case sqliteWriter:
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Set("_txlock", "immediate")
	case sqliteReader:
		q.Add("_pragma", "foreign_keys(1)")
		q.Set("mode", "ro")
	}
	u := url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}
	return u.String()
}

// Engine reports "sqlite" or "postgres".
func (db *DB) Engine() string { return db.d.name }

// SQLDBs returns the connection pools by role, for DB-stats metrics:
// {"writer", "reader"} on SQLite, {"primary"} on PostgreSQL.
func (db *DB) SQLDBs() map[string]*sql.DB {
	if db.r == db.w {
		return map[string]*sql.DB{"primary": db.w}
	}
	return map[string]*sql.DB{"writer": db.w, "reader": db.r}
}

// Ready reports whether the database answers and the newest embedded
// migration is applied (a newer schema from a newer replica is fine).
func (db *DB) Ready(ctx context.Context) error {
	for _, p := range uniquePools(db.w, db.r) {
		if err := p.PingContext(ctx); err != nil {
			return &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "database is not reachable", Err: err}
		}
	}
	var v sql.NullInt64
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(version_id) FROM `+goose.DefaultTablename).Scan(&v); err != nil {
		return &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "database schema is not migrated", Err: err}
	}
	if v.Int64 < db.latest {
		return &bulwark.Error{Code: bulwark.CodeUnavailable,
			Message: fmt.Sprintf("database schema is at version %d, want %d: run bulwark migrate", v.Int64, db.latest)}
	}
	return nil
}

// Close closes every pool.
func (db *DB) Close() error {
	var errs []error
	for _, p := range uniquePools(db.w, db.r) {
		errs = append(errs, p.Close())
	}
	return errors.Join(errs...)
}

func uniquePools(w, r *sql.DB) []*sql.DB {
	switch {
	case w == nil && r == nil:
		return nil
	case r == nil || r == w:
		return []*sql.DB{w}
	case w == nil:
		return []*sql.DB{r}
	}
	return []*sql.DB{w, r}
}

// location is a parsed database URL.
type location struct {
	engine string
	dsn    string // postgres: the URL as given
	path   string // sqlite: file path
}

var schemeRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

func parseURL(databaseURL string) (location, error) {
	s := strings.TrimSpace(databaseURL)
	if s == "" {
		return location{}, errors.New("store: empty database URL")
	}
	if m := schemeRE.FindStringSubmatch(s); m != nil {
		switch strings.ToLower(m[1]) {
		case "postgres", "postgresql":
			return location{engine: EnginePostgres, dsn: s}, nil
		case "sqlite", "sqlite3":
			// sqlite:///abs/path.db → /abs/path.db; sqlite://rel/path.db → rel/path.db
			return sqlitePath(s, s[len(m[0]):], true)
		case "file":
			return sqlitePath(s, s[len("file://"):], true)
		default:
			return location{}, fmt.Errorf("store: unsupported database URL scheme %q (want postgres://, postgresql://, sqlite:// or a file path)", m[1])
		}
	}
	if rest, ok := strings.CutPrefix(s, "file:"); ok {
		return sqlitePath(s, rest, true)
	}
	return sqlitePath(s, s, false)
}

// sqlitePath validates a SQLite file location; URL forms are percent-decoded.
func sqlitePath(orig, p string, isURL bool) (location, error) {
	if strings.ContainsAny(p, "?#") {
		return location{}, fmt.Errorf("store: SQLite location %q: query parameters are not supported; Bulwark sets its own", orig)
	}
	if p == "" || p == ":memory:" || strings.HasPrefix(p, ":memory:") {
		return location{}, fmt.Errorf("store: SQLite location %q: a database file path is required", orig)
	}
	if isURL {
		unescaped, err := url.PathUnescape(p)
		if err != nil {
			return location{}, fmt.Errorf("store: SQLite location %q: %w", orig, err)
		}
		p = unescaped
	}
	return location{engine: EngineSQLite, path: p}, nil
}

var passwordParamRE = regexp.MustCompile(`(?i)((?:^|[?&\s])password=)[^&\s]*`)

// Redact returns databaseURL with any password masked, for errors and logs.
func Redact(databaseURL string) string {
	if !schemeRE.MatchString(databaseURL) {
		// A path or file: URI carries no credentials, but a key=value DSN might.
		return passwordParamRE.ReplaceAllString(databaseURL, "${1}xxxxx")
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		// Unparseable: keep only the scheme rather than risk printing a secret.
		m := schemeRE.FindString(databaseURL)
		return m + "(unparseable URL redacted)"
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.String()
}
