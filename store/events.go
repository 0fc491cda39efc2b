package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/bulwarkhq/bulwark"
)

const (
	// maxLastError bounds the stored delivery error; sinks can return whole pages.
	maxLastError = 2000
	// maxClaim bounds one ClaimOutbox batch.
	maxClaim = 1000
)

const eventCols = `id, time, type, action, severity, category, actor, subject, data`

func scanEvent(s scanner, extra ...any) (bulwark.Event, error) {
	var ev bulwark.Event
	var typ, sev string
	var data sql.NullString
	dest := append([]any{&ev.ID, timeCol{&ev.Time}, &typ, &ev.Action, &sev, &ev.Category, &ev.Actor, &ev.Subject,
		&data}, extra...)
	err := s.Scan(dest...)
	ev.Type, ev.Severity = bulwark.EventType(typ), bulwark.Severity(sev)
	if data.Valid {
		ev.Data = json.RawMessage(data.String)
	}
	return ev, err
}

// RecordEvent stores ev, its alert when ev is of type alert, the audit
// entry when not nil, and one outbox row per distinct sink, in a single
// transaction. It fills in ev.ID (a new
// UUID) and ev.Time (now) when empty, and audit.ID and audit.Time.
func (db *DB) RecordEvent(ctx context.Context, ev *bulwark.Event, audit *bulwark.AuditEntry, sinks []string) error {
	if ev == nil {
		return invalid("event is required")
	}
	return db.RecordEvents(ctx, []bulwark.EventRecord{{Event: ev, Audit: audit, Sinks: sinks}})
}

// RecordEvents stores several events as RecordEvent does, all in one
// transaction: either every one is stored or none. On SQLite a commit
// costs far more than the rows it writes, so a publisher with a queue of
// events stores them many times faster together.
func (db *DB) RecordEvents(ctx context.Context, recs []bulwark.EventRecord) error {
	rows := make([]eventRow, len(recs))
	for i, r := range recs {
		if err := rows[i].prepare(r); err != nil {
			return err
		}
	}
	at := now()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var ex execer = tx
		if len(rows) > 1 {
			st := &txStatements{tx: tx}
			defer st.close()
			ex = st
		}
		for i := range rows {
			if err := rows[i].insert(ctx, tx, ex, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return wrap("record event", err)
	}
	for i, r := range recs {
		r.Event.ID, r.Event.Time = rows[i].id, rows[i].time
		if r.Audit != nil {
			*r.Audit = rows[i].audit
		}
	}
	return nil
}

// execer runs one statement: a transaction, or txStatements.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// txStatements prepares each statement of a transaction once, for a batch
// that runs the same few statements many times (SQLite parses a statement
// on every plain Exec).
type txStatements struct {
	tx *sql.Tx
	m  map[string]*sql.Stmt
}

func (t *txStatements) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, ok := t.m[query]
	if !ok {
		var err error
		if st, err = t.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		if t.m == nil {
			t.m = map[string]*sql.Stmt{}
		}
		t.m[query] = st
	}
	return st.ExecContext(ctx, args...)
}

func (t *txStatements) close() {
	for _, st := range t.m {
		_ = st.Close()
	}
}

// eventRow is one event checked and ready to insert.
type eventRow struct {
	ev       *bulwark.Event
	id       string
	time     time.Time
	data     any
	sinks    []string
	hasAudit bool
	audit    bulwark.AuditEntry // a copy: the caller's entry is touched only once everything is stored
}

func (r *eventRow) prepare(rec bulwark.EventRecord) error {
	ev := rec.Event
	if ev == nil {
		return invalid("event is required")
	}
	if len(ev.Data) > 0 {
		if !json.Valid(ev.Data) {
			return invalid("event data is not valid JSON")
		}
		r.data = clean(string(ev.Data))
	}
	seen := make(map[string]bool, len(rec.Sinks))
	for _, s := range rec.Sinks {
		if s == "" {
			return invalid("event sink name is empty")
		}
		if !seen[s] {
			seen[s] = true
			r.sinks = append(r.sinks, s)
		}
	}
	r.ev, r.id, r.time = ev, ev.ID, ev.Time
	if r.id == "" {
		r.id = uuid.NewString()
	}
	if r.time.IsZero() {
		r.time = now()
	}
	r.time = normTime(r.time)
	if rec.Audit != nil {
		r.hasAudit, r.audit = true, *rec.Audit
	}
	return nil
}

// insert writes the row; ex runs the statements (tx itself, or its
// statements prepared once for a batch); the audit entry goes through tx.
func (r *eventRow) insert(ctx context.Context, tx *sql.Tx, ex execer, at time.Time) error {
	ev := r.ev
	_, err := ex.ExecContext(ctx, `INSERT INTO events (`+eventCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		r.id, ts(r.time), clean(string(ev.Type)), clean(ev.Action), clean(string(ev.Severity)), clean(ev.Category),
		clean(ev.Actor), clean(ev.Subject), r.data)
	if isUniqueViolation(err) {
		return conflict("event %q already exists", r.id)
	}
	if err != nil {
		return err
	}
	if ev.Type == bulwark.EventAlert {
		a := alertFromEvent(r.id, r.time, ev)
		if err := insertAlert(ctx, ex, &a); err != nil {
			return err
		}
	}
	if r.hasAudit {
		if err := insertAudit(ctx, tx, &r.audit); err != nil {
			return err
		}
	}
	for _, s := range r.sinks {
		if _, err := ex.ExecContext(ctx, `INSERT INTO outbox (event_id, sink, status, attempts, next_attempt_at,
			created_at, updated_at) VALUES ($1, $2, 'pending', 0, $3, $3, $3)`, r.id, clean(s), ts(at)); err != nil {
			return err
		}
	}
	return nil
}

// severitiesAtLeast lists the severities ranked at or above min.
func severitiesAtLeast(minimum bulwark.Severity) []string {
	var out []string
	for _, s := range []bulwark.Severity{bulwark.SeverityCritical, bulwark.SeverityHigh, bulwark.SeverityMedium,
		bulwark.SeverityLow, bulwark.SeverityInfo} {
		if s.Rank() >= minimum.Rank() {
			out = append(out, string(s))
		}
	}
	return out
}

// ListEvents returns the events matching f, newest first, with the total.
func (db *DB) ListEvents(ctx context.Context, f bulwark.EventFilter) (bulwark.Page[bulwark.Event], error) {
	var w where
	if f.Type != "" {
		w.add("type = " + w.arg(string(f.Type)))
	}
	if f.MinSeverity != "" {
		if !f.MinSeverity.Valid() {
			return bulwark.Page[bulwark.Event]{}, invalid("unknown severity %q", f.MinSeverity)
		}
		sev := severitiesAtLeast(f.MinSeverity)
		ph := make([]string, len(sev))
		for i, s := range sev {
			ph[i] = w.arg(s)
		}
		w.add("severity IN (" + strings.Join(ph, ", ") + ")")
	}
	if !f.Since.IsZero() {
		w.add("time >= " + w.arg(ts(f.Since)))
	}
	limit, offset := pageLimits(f.Limit, f.Offset)
	page := bulwark.Page[bulwark.Event]{Items: []bulwark.Event{}}
	err := db.listPage(ctx, "events", &w, "time DESC, id DESC", limit, offset, eventCols,
		func(rows *sql.Rows) (int, error) {
			var total int
			ev, err := scanEvent(rows, &total)
			page.Items = append(page.Items, ev)
			return total, err
		}, &page.Total)
	return page, wrap("list events", err)
}

// ClaimOutbox leases up to limit due, pending items of sink, oldest first:
// items whose next attempt is at or before now and whose previous lease (if
// any) has run out. Claimed items stay invisible to other workers until now
// + lease, after which a crashed worker's items are claimed again.
func (db *DB) ClaimOutbox(ctx context.Context, sink string, limit int, now time.Time, lease time.Duration) ([]bulwark.OutboxItem, error) {
	if limit <= 0 {
		return nil, nil
	}
	if lease <= 0 {
		return nil, invalid("outbox lease must be positive")
	}
	limit = min(limit, maxClaim)
	var items []bulwark.OutboxItem
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		// On PostgreSQL the sub-select skips rows another worker is claiming
		// right now; the single SQLite writer never has that race.
		ids, err := queryIDs(ctx, tx, `UPDATE outbox SET leased_until = $3, updated_at = $2
			WHERE id IN (SELECT id FROM outbox
				WHERE sink = $1 AND status = 'pending' AND next_attempt_at <= $2
					AND (leased_until IS NULL OR leased_until < $2)
				ORDER BY next_attempt_at, id LIMIT $4`+db.d.skipLocked+`)
			RETURNING id`, sink, ts(now), ts(now.Add(lease)), limit)
		if err != nil || len(ids) == 0 {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT o.id, o.event_id, o.sink, o.attempts, o.next_attempt_at, o.last_error,
			e.id, e.time, e.type, e.action, e.severity, e.category, e.actor, e.subject, e.data
			FROM outbox o JOIN events e ON e.id = o.event_id
			WHERE o.id IN (`+placeholders(1, len(ids))+`) ORDER BY o.next_attempt_at, o.id`, ids...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var it bulwark.OutboxItem
			var ev bulwark.Event
			var typ, sev string
			var data sql.NullString
			if err := rows.Scan(&it.ID, &it.EventID, &it.Sink, &it.Attempts, timeCol{&it.NextAttempt}, &it.LastError,
				&ev.ID, timeCol{&ev.Time}, &typ, &ev.Action, &sev, &ev.Category, &ev.Actor, &ev.Subject,
				&data); err != nil {
				return err
			}
			ev.Type, ev.Severity = bulwark.EventType(typ), bulwark.Severity(sev)
			if data.Valid {
				ev.Data = json.RawMessage(data.String)
			}
			it.Event = ev
			items = append(items, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap("claim outbox", err)
	}
	return items, nil
}

// queryIDs runs a query returning one id column and collects the ids as
// query arguments.
func queryIDs(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]any, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []any
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}

// CompleteOutbox marks delivered items delivered: they are never claimed
// again and only the newest keepDelivered of each sink are kept, for
// ListDeliveries. Unknown or already completed ids are ignored, so a
// completion that is retried after a lost reply is harmless.
func (db *DB) CompleteOutbox(ctx context.Context, ids []int64) error {
	const chunk = 500 // stay far below every engine's parameter limit
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		args := make([]any, n)
		for i, id := range ids[:n] {
			args[i] = id
		}
		if err := db.inTx(ctx, func(tx *sql.Tx) error { return markDelivered(ctx, tx, args) }); err != nil {
			return wrap("complete outbox", err)
		}
		ids = ids[n:]
	}
	return nil
}

// RetryOutbox records a failed attempt and schedules the next one at next,
// releasing the lease.
func (db *DB) RetryOutbox(ctx context.Context, id int64, next time.Time, lastErr string) error {
	res, err := db.w.ExecContext(ctx, `UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2,
		last_error = $3, leased_until = NULL, updated_at = $4 WHERE id = $1 AND status = 'pending'`,
		id, ts(next), truncate(clean(lastErr), maxLastError), ts(now()))
	return wrap("retry outbox", mustAffect(res, err, "pending outbox item %d", id))
}

// DeadLetterOutbox records a final failed attempt and parks the item: it
// is kept for inspection but never claimed again.
func (db *DB) DeadLetterOutbox(ctx context.Context, id int64, lastErr string) error {
	res, err := db.w.ExecContext(ctx, `UPDATE outbox SET status = 'dead', attempts = attempts + 1, last_error = $2,
		leased_until = NULL, updated_at = $3 WHERE id = $1 AND status = 'pending'`,
		id, truncate(clean(lastErr), maxLastError), ts(now()))
	return wrap("dead-letter outbox", mustAffect(res, err, "pending outbox item %d", id))
}

// OutboxDepth counts pending (not dead-lettered) items of sink, or of every
// sink when sink is "".
func (db *DB) OutboxDepth(ctx context.Context, sink string) (int, error) {
	var w where
	w.add("status = 'pending'")
	if sink != "" {
		w.add("sink = " + w.arg(sink))
	}
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`+w.String(), w.args...).Scan(&n)
	return n, wrap("outbox depth", err)
}
