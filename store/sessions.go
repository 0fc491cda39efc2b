package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// CreateSession stores s. A missing user is a not-found error.
func (db *DB) CreateSession(ctx context.Context, s *bulwark.Session) error {
	_, err := db.w.ExecContext(ctx, `INSERT INTO sessions (id, user_id, created_at, expires_at, last_seen_at,
		source_ip, user_agent) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		s.ID, s.UserID, ts(s.CreatedAt), ts(s.ExpiresAt), ts(s.LastSeenAt), clean(s.SourceIP), clean(s.UserAgent))
	switch {
	case isUniqueViolation(err):
		return conflict("session already exists")
	case isForeignKeyViolation(err):
		return notFound("user %d not found", s.UserID)
	}
	return wrap("create session", err)
}

// GetSession returns the session with id, expired or not.
func (db *DB) GetSession(ctx context.Context, id string) (*bulwark.Session, error) {
	var s bulwark.Session
	err := db.r.QueryRowContext(ctx, `SELECT id, user_id, created_at, expires_at, last_seen_at, source_ip, user_agent
		FROM sessions WHERE id = $1`, id).Scan(&s.ID, &s.UserID, timeCol{&s.CreatedAt}, timeCol{&s.ExpiresAt},
		timeCol{&s.LastSeenAt}, &s.SourceIP, &s.UserAgent)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("session not found") // the id is a secret-derived hash: keep it out of messages
	}
	if err != nil {
		return nil, wrap("get session", err)
	}
	return &s, nil
}

// TouchSession records activity and slides the expiry.
func (db *DB) TouchSession(ctx context.Context, id string, lastSeen, expires time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1`,
		id, ts(lastSeen), ts(expires))
	return wrap("touch session", mustAffect(res, err, "session"))
}

// DeleteSession ends a session. Ending one that is already gone is not an
// error, so logging out twice is harmless.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE id = $1`, id)
	return wrap("delete session", err)
}

// DeleteUserSessions ends all of a user's sessions except keepID (may be "").
func (db *DB) DeleteUserSessions(ctx context.Context, userID int64, keepID string) error {
	_, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = $1 AND id <> $2`, userID, keepID)
	return wrap("delete user sessions", err)
}

// DeleteExpiredSessions removes sessions whose expiry is at or before now.
func (db *DB) DeleteExpiredSessions(ctx context.Context, now time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM sessions WHERE expires_at <= $1`, ts(now))
	if err != nil {
		return 0, wrap("delete expired sessions", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete expired sessions", err)
}
