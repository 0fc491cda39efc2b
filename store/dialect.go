package store

import (
	"context"
	"database/sql"

	"github.com/pressly/goose/v3"
)

// Advisory lock keys (PostgreSQL). Arbitrary constants, fixed forever:
// replicas of every version must agree on them.
const (
	migrationLockID int64 = 0x62756c7761726b01 // "bulwark" + 1: schema migrations
	adminLockID     int64 = 0x62756c7761726b02 // "bulwark" + 2: last-enabled-admin checks
)

// dialect holds the few things that differ between the engines; the SQL
// text of every query is shared.
type dialect struct {
	name  string
	goose goose.Dialect
	// lockAdmins serializes the transactions that can remove an enabled
	// admin, so two of them cannot each see the other admin and both proceed.
	lockAdmins func(ctx context.Context, tx *sql.Tx) error
	// skipLocked is appended to the row-claiming sub-select of ClaimOutbox.
	skipLocked string
}

var sqliteDialect = dialect{
	name:  EngineSQLite,
	goose: goose.DialectSQLite3,
	// Writers are already serialized: one writer connection per process and
	// BEGIN IMMEDIATE across processes.
	lockAdmins: func(context.Context, *sql.Tx) error { return nil },
}

var postgresDialect = dialect{
	name:  EnginePostgres,
	goose: goose.DialectPostgres,
	lockAdmins: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, adminLockID)
		return err
	},
	skipLocked: " FOR UPDATE SKIP LOCKED",
}
