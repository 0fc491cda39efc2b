package store

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// keepDelivered is how many delivered rows each sink keeps for inspection;
// CompleteOutbox prunes older ones.
const keepDelivered = 100

var _ bulwark.DeliveryStore = (*DB)(nil)

const deliveryCols = `o.id, o.event_id, e.time, e.type, e.action, e.severity, e.subject, o.status, o.attempts,
	o.last_error, o.next_attempt_at, o.created_at, o.updated_at`

// ListDeliveries returns f.Sink's outbox rows, newest first, with the total.
func (db *DB) ListDeliveries(ctx context.Context, f bulwark.DeliveryFilter) (bulwark.Page[bulwark.Delivery], error) {
	page := bulwark.Page[bulwark.Delivery]{Items: []bulwark.Delivery{}}
	if f.Sink == "" {
		return page, invalid("delivery sink is required")
	}
	var w where
	w.add("o.sink = " + w.arg(f.Sink))
	if f.Status != "" {
		if !slices.Contains(bulwark.DeliveryStatuses, f.Status) {
			return page, invalid("unknown delivery status %q", f.Status)
		}
		w.add("o.status = " + w.arg(f.Status))
	}
	limit, offset := pageLimits(f.Limit, f.Offset)
	err := db.listPage(ctx, "outbox o JOIN events e ON e.id = o.event_id", &w, "o.id DESC", limit, offset, deliveryCols,
		func(rows *sql.Rows) (int, error) {
			var d bulwark.Delivery
			var typ, sev string
			var total int
			err := rows.Scan(&d.ID, &d.EventID, timeCol{&d.EventTime}, &typ, &d.Action, &sev, &d.Subject, &d.Status,
				&d.Attempts, &d.LastError, timeCol{&d.NextAttempt}, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, &total)
			d.Type, d.Severity = bulwark.EventType(typ), bulwark.Severity(sev)
			page.Items = append(page.Items, d)
			return total, err
		}, &page.Total)
	return page, wrap("list deliveries", err)
}

// RetryDeadDeliveries moves sink's dead letters with ids (all when ids is
// empty) back to pending, due now, with no attempts: the dispatcher then
// delivers them like new rows.
func (db *DB) RetryDeadDeliveries(ctx context.Context, sink string, ids []int64) (int, error) {
	if sink == "" {
		return 0, invalid("delivery sink is required")
	}
	at := ts(now())
	if len(ids) == 0 {
		res, err := db.w.ExecContext(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2,
			leased_until = NULL, updated_at = $2 WHERE sink = $1 AND status = 'dead'`, sink, at)
		return affected(res, err)
	}
	const chunk = 500 // stay far below every engine's parameter limit
	total := 0
	for len(ids) > 0 {
		n := min(len(ids), chunk)
		args := []any{sink, at}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		res, err := db.w.ExecContext(ctx, `UPDATE outbox SET status = 'pending', attempts = 0, next_attempt_at = $2,
			leased_until = NULL, updated_at = $2 WHERE sink = $1 AND status = 'dead' AND id IN (`+placeholders(3, n)+`)`, args...)
		k, err := affected(res, err)
		if err != nil {
			return total, err
		}
		total += k
		ids = ids[n:]
	}
	return total, nil
}

func affected(res sql.Result, err error) (int, error) {
	if err != nil {
		return 0, wrap("retry dead letters", err)
	}
	n, err := res.RowsAffected()
	return int(n), wrap("retry dead letters", err)
}

// OldestPendingOutbox is when sink's oldest pending row was queued; the
// dispatcher reports its age as the integration's oldest pending age.
func (db *DB) OldestPendingOutbox(ctx context.Context, sink string) (time.Time, bool, error) {
	var t time.Time
	// Rows are numbered as they are queued: the smallest pending id is the
	// oldest, found through the (sink, id) index without reading the whole
	// backlog (ordering by created_at read every pending row).
	err := db.r.QueryRowContext(ctx, `SELECT created_at FROM outbox WHERE sink = $1 AND status = 'pending'
		ORDER BY id LIMIT 1`, sink).Scan(timeCol{&t})
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, wrap("oldest pending outbox", err)
	}
	return t, true, nil
}

// markDelivered marks the pending rows among ids delivered and prunes each
// of their sinks' delivered rows beyond the newest keepDelivered.
func markDelivered(ctx context.Context, tx *sql.Tx, ids []any) error {
	sinks, err := deliveredSinks(ctx, tx, ids)
	if err != nil {
		return err
	}
	for _, s := range sinks {
		if _, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE sink = $1 AND status = 'delivered' AND id <=
			(SELECT id FROM outbox WHERE sink = $1 AND status = 'delivered' ORDER BY id DESC LIMIT 1 OFFSET $2)`,
			s, keepDelivered); err != nil {
			return err
		}
	}
	return nil
}

// deliveredSinks marks the pending rows among ids delivered and returns
// their distinct sinks.
func deliveredSinks(ctx context.Context, tx *sql.Tx, ids []any) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE outbox SET status = 'delivered', attempts = attempts + 1, leased_until = NULL,
		updated_at = $1 WHERE status = 'pending' AND id IN (`+placeholders(2, len(ids))+`) RETURNING sink`,
		append([]any{ts(now())}, ids...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var sinks []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		if !slices.Contains(sinks, s) {
			sinks = append(sinks, s)
		}
	}
	return sinks, rows.Err()
}
