package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

// MigrationStatus is the state of one embedded migration.
type MigrationStatus struct {
	Version   int64
	Source    string // file name, e.g. "00001_foundation.sql"
	Applied   bool
	AppliedAt time.Time // zero when pending
}

func newMigrator(d dialect, db *sql.DB, log *slog.Logger, sqlitePath string) (*goose.Provider, error) {
	fsys, err := fs.Sub(migrations, "migrations/"+d.name)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithDisableGlobalRegistry(true),
		// Goose stays silent (verbose off; a logger is set so its default,
		// which prints to stdout, is never used). Migrate logs the results.
		goose.WithSlog(log),
	}
	switch d.name {
	case EngineSQLite:
		opts = append(opts, goose.WithLocker(newSQLiteMigrationLock(sqlitePath)))
	case EnginePostgres:
		// Replicas starting together take turns; the lock is per session, so
		// it is released even if a replica dies mid-migration.
		locker, err := lock.NewPostgresSessionLocker(
			lock.WithLockID(migrationLockID),
			lock.WithLockTimeout(1, 600), // poll every second for up to 10 minutes
		)
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(d.goose, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("store: load %s migrations: %w", d.name, err)
	}
	return p, nil
}

// Migrate applies every pending migration. On PostgreSQL it holds a session
// advisory lock meanwhile, so concurrent replicas migrate one at a time.
func (db *DB) Migrate(ctx context.Context) error {
	results, err := db.migrator.Up(ctx)
	if pe := (*goose.PartialError)(nil); errors.As(err, &pe) {
		results = pe.Applied
	}
	for _, r := range results {
		db.log.InfoContext(ctx, "database migration applied",
			slog.String("engine", db.d.name),
			slog.Int64("version", r.Source.Version),
			slog.String("source", filepath.Base(r.Source.Path)),
			slog.Duration("duration", r.Duration))
	}
	if err != nil {
		return fmt.Errorf("store: migrate %s database: %w", db.d.name, err)
	}
	return nil
}

// MigrationStatus lists every embedded migration, oldest first, with
// whether and when it was applied.
func (db *DB) MigrationStatus(ctx context.Context) ([]MigrationStatus, error) {
	st, err := db.migrator.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: migration status: %w", err)
	}
	out := make([]MigrationStatus, 0, len(st))
	for _, s := range st {
		m := MigrationStatus{
			Version: s.Source.Version,
			Source:  filepath.Base(s.Source.Path),
			Applied: s.State == goose.StateApplied,
		}
		if m.Applied {
			m.AppliedAt = s.AppliedAt.UTC()
		}
		out = append(out, m)
	}
	return out, nil
}
