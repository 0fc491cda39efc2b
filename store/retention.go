package store

import (
	"context"
	"time"
)

// DeleteEventsBefore deletes events older than t with their delivered and
// dead-lettered outbox rows. An event that still has a pending delivery is
// kept whatever its age: retention never drops an alert on its way to an
// integration.
func (db *DB) DeleteEventsBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM events WHERE time < $1
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.event_id = events.id AND o.status = 'pending')`, ts(t))
	if err != nil {
		return 0, wrap("delete events", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete events", err)
}

// DeleteClosedAlertsBefore deletes resolved and false-positive alerts older
// than t, with their notes. Open alerts (new, acknowledged, in progress)
// are work still to do and are kept.
func (db *DB) DeleteClosedAlertsBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM alerts WHERE time < $1
		AND status IN ('resolved', 'false_positive')`, ts(t))
	if err != nil {
		return 0, wrap("delete alerts", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete alerts", err)
}
