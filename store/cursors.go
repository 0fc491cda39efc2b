package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// maxTail bounds one ListRequestsAfter page.
const maxTail = 1000

// ListRequestsAfter returns up to limit request records whose id is above
// afterID, in id order: the feed of integrations that tail the request log
// (Langfuse). On PostgreSQL ids are handed out before commit, so a record
// with a lower id may still appear after higher ones were read; tailers
// allow for such gaps.
func (db *DB) ListRequestsAfter(ctx context.Context, afterID int64, limit int) ([]bulwark.RequestRecord, error) {
	if limit <= 0 {
		return []bulwark.RequestRecord{}, nil
	}
	limit = min(limit, maxTail)
	rows, err := db.r.QueryContext(ctx, `SELECT `+requestCols+` FROM requests WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
	if err != nil {
		return nil, wrap("list requests after", err)
	}
	defer rows.Close()
	out := []bulwark.RequestRecord{}
	for rows.Next() {
		r, err := scanRequest(rows)
		if err != nil {
			return nil, wrap("list requests after", err)
		}
		out = append(out, r)
	}
	return out, wrap("list requests after", rows.Err())
}

// RequestPositionAt is where a tail that should start with the records of
// time t begins: one below the lowest id of the records at or after t, or
// the highest id when none is that recent (0 when there are no records).
// A zero t means now: the highest id.
func (db *DB) RequestPositionAt(ctx context.Context, t time.Time) (int64, error) {
	var pos sql.NullInt64
	if !t.IsZero() {
		err := db.r.QueryRowContext(ctx, `SELECT MIN(id) - 1 FROM requests WHERE at >= $1`, ts(t)).Scan(&pos)
		if err != nil {
			return 0, wrap("request position", err)
		}
		if pos.Valid {
			return pos.Int64, nil
		}
	}
	if err := db.r.QueryRowContext(ctx, `SELECT MAX(id) FROM requests`).Scan(&pos); err != nil {
		return 0, wrap("request position", err)
	}
	return pos.Int64, nil
}

// ClaimIntegrationCursor takes the lease on the cursor of integration id
// for owner until now+lease, creating the cursor at start when it does not
// exist. It returns the stored position and whether owner holds the lease:
// false while another owner's lease runs. It fails with CodeNotFound when
// the integration does not exist.
func (db *DB) ClaimIntegrationCursor(ctx context.Context, id int64, owner string, start int64, now time.Time, lease time.Duration) (int64, bool, error) {
	if owner == "" || lease <= 0 {
		return 0, false, invalid("cursor owner and a positive lease are required")
	}
	var pos int64
	held := false
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO integration_cursors (integration_id, position, owner, leased_until, updated_at)
			VALUES ($1, $2, '', NULL, $3) ON CONFLICT (integration_id) DO NOTHING`, id, start, ts(now))
		if isForeignKeyViolation(err) {
			return notFound("integration %d not found", id)
		}
		if err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `UPDATE integration_cursors SET owner = $2, leased_until = $3, updated_at = $4
			WHERE integration_id = $1 AND (owner = $2 OR owner = '' OR leased_until IS NULL OR leased_until < $4)
			RETURNING position`, id, owner, ts(now.Add(lease)), ts(now)).Scan(&pos)
		if err == nil {
			held = true
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT position FROM integration_cursors WHERE integration_id = $1`, id).Scan(&pos)
	})
	return pos, held, wrap("claim integration cursor", err)
}

// AdvanceIntegrationCursor stores position and extends owner's lease to
// now+lease. It fails with CodeConflict when owner no longer holds the
// lease (another replica took over) and with CodeNotFound when the cursor
// is gone (the integration was deleted).
func (db *DB) AdvanceIntegrationCursor(ctx context.Context, id int64, owner string, position int64, now time.Time, lease time.Duration) error {
	if owner == "" || lease <= 0 {
		return invalid("cursor owner and a positive lease are required")
	}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE integration_cursors SET position = $3, leased_until = $4, updated_at = $5
			WHERE integration_id = $1 AND owner = $2 AND leased_until IS NOT NULL AND leased_until >= $5`,
			id, owner, position, ts(now.Add(lease)), ts(now))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		var other string
		err = tx.QueryRowContext(ctx, `SELECT owner FROM integration_cursors WHERE integration_id = $1`, id).Scan(&other)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("cursor of integration %d not found", id)
		}
		if err != nil {
			return err
		}
		return conflict("the cursor of integration %d is no longer leased by %s", id, owner)
	})
	return wrap("advance integration cursor", err)
}

// ReleaseIntegrationCursor gives up owner's lease, so another replica can
// take over at once. Releasing a lease not held is not an error.
func (db *DB) ReleaseIntegrationCursor(ctx context.Context, id int64, owner string) error {
	_, err := db.w.ExecContext(ctx, `UPDATE integration_cursors SET owner = '', leased_until = NULL
		WHERE integration_id = $1 AND owner = $2`, id, owner)
	return wrap("release integration cursor", err)
}
