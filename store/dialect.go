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
	// keyShare is appended to a sub-select that checks a referenced row
	// exists before inserting a row that refers to it: on PostgreSQL it locks
	// the row against a concurrent delete (and skips it once deleted), so the
	// insert cannot fail its foreign key. SQLite writers are serial.
	keyShare string
	// utcDay is the SQL expression of the UTC calendar day (YYYY-MM-DD) of
	// the time column col, the one expression whose text differs.
	utcDay func(col string) string
}

var sqliteDialect = dialect{
	name:  EngineSQLite,
	goose: goose.DialectSQLite3,
	// Writers are already serialized: one writer connection per process and
	// BEGIN IMMEDIATE across processes.
	lockAdmins: func(context.Context, *sql.Tx) error { return nil },
	// Times are stored as "2006-01-02T15:04:05.000000Z" text, already UTC.
	utcDay: func(col string) string { return "substr(" + col + ", 1, 10)" },
}

var postgresDialect = dialect{
	name:  EnginePostgres,
	goose: goose.DialectPostgres,
	lockAdmins: func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, adminLockID)
		return err
	},
	skipLocked: " FOR UPDATE SKIP LOCKED",
	keyShare:   " FOR KEY SHARE",
	utcDay: func(col string) string {
		return "to_char(" + col + " AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
	},
}
