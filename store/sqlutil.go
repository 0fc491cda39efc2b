package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bulwarkhq/bulwark"
)

// timeLayout is how times travel to the database on both engines: UTC,
// microseconds, fixed width. SQLite stores the text as is (so text order is
// time order); PostgreSQL parses it into TIMESTAMPTZ (pgx sends Go strings
// in text format, which the server casts to the parameter's type).
const timeLayout = "2006-01-02T15:04:05.000000Z"

// ts encodes t for a query argument.
func ts(t time.Time) string { return t.UTC().Format(timeLayout) }

// tsp encodes an optional time; nil becomes SQL NULL.
func tsp(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ts(*t)
}

// now is the store's clock, already at the precision the database keeps.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// normTime is t as it will read back from the database.
func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// timeCol scans a time column from either engine: time.Time from pgx,
// TEXT from SQLite.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	t, ok, err := parseTimeValue(src)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("store: unexpected NULL in a NOT NULL time column")
	}
	*c.t = t
	return nil
}

// nullTimeCol scans a nullable time column into a *time.Time.
type nullTimeCol struct{ t **time.Time }

func (c nullTimeCol) Scan(src any) error {
	t, ok, err := parseTimeValue(src)
	if err != nil {
		return err
	}
	if !ok {
		*c.t = nil
		return nil
	}
	*c.t = &t
	return nil
}

func parseTimeValue(src any) (time.Time, bool, error) {
	switch v := src.(type) {
	case nil:
		return time.Time{}, false, nil
	case time.Time:
		return v.UTC(), true, nil
	case string:
		return parseTimeText(v)
	case []byte:
		return parseTimeText(string(v))
	}
	return time.Time{}, false, fmt.Errorf("store: cannot scan %T into a time", src)
}

func parseTimeText(s string) (time.Time, bool, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: bad stored time %q: %w", s, err)
	}
	return t.UTC(), true, nil
}

// clean makes free text safe for both engines: PostgreSQL rejects NUL bytes
// and invalid UTF-8 in TEXT, and audit fields carry attacker-chosen input
// (a tried username, a User-Agent) that must not make the audit write fail.
func clean(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// truncate cuts s to at most n bytes on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	return false
}

func isForeignKeyViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23503"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
	}
	return false
}

func conflict(format string, args ...any) error {
	return &bulwark.Error{Code: bulwark.CodeConflict, Message: fmt.Sprintf(format, args...), Err: bulwark.ErrConflict}
}

func notFound(format string, args ...any) error {
	return &bulwark.Error{Code: bulwark.CodeNotFound, Message: fmt.Sprintf(format, args...), Err: bulwark.ErrNotFound}
}

func invalid(format string, args ...any) error {
	return &bulwark.Error{Code: bulwark.CodeInvalid, Message: fmt.Sprintf(format, args...)}
}

// wrap adds the operation to an unexpected database error.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var be *bulwark.Error
	if errors.As(err, &be) {
		return err
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// mustAffect turns "no row matched" into a not-found error.
func mustAffect(res sql.Result, err error, what string, args ...any) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(what+" not found", args...)
	}
	return nil
}

// inTx runs fn in a writer transaction, committing when fn returns nil.
// On SQLite the single writer connection plus BEGIN IMMEDIATE makes every
// such transaction serial. fn must not use db.w or db.r: on SQLite the
// writer's only connection is busy, and the reader would not see the
// transaction's own writes.
func (db *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// where builds a WHERE clause with numbered placeholders.
type where struct {
	conds []string
	args  []any
}

// arg adds a query argument and returns its placeholder.
func (w *where) arg(v any) string {
	w.args = append(w.args, v)
	return "$" + strconv.Itoa(len(w.args))
}

func (w *where) add(cond string) { w.conds = append(w.conds, cond) }

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// likeEscaper escapes LIKE wildcards; queries declare ESCAPE '\'.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// containsPattern is a LIKE pattern matching s anywhere.
func containsPattern(s string) string { return "%" + likeEscaper.Replace(s) + "%" }

// dotPrefixRange returns bounds [lo, hi) matching every string that starts
// with prefix, which must end in ".". A range sorts bytewise on both engines
// and uses an index, where LIKE differs in case rules between them.
func dotPrefixRange(prefix string) (lo, hi string) {
	return prefix, strings.TrimSuffix(prefix, ".") + "/" // '/' is '.'+1
}

// pageLimits applies the default and maximum page size.
func pageLimits(limit, offset int) (int, int) {
	const defaultLimit, maxLimit = 50, 500
	if limit <= 0 {
		limit = defaultLimit
	}
	limit = min(limit, maxLimit)
	return limit, max(offset, 0)
}

// placeholders returns "$start, $start+1, …" for n arguments.
func placeholders(start, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(start + i))
	}
	return b.String()
}
