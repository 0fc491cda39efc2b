package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkhq/bulwark"
)

const tokenCols = `id, user_id, name, prefix, hash, created_at, expires_at, last_used_at, revoked_at`

func scanToken(s scanner) (*bulwark.APIToken, error) {
	var t bulwark.APIToken
	err := s.Scan(&t.ID, &t.UserID, &t.Name, &t.Prefix, &t.Hash, timeCol{&t.CreatedAt},
		nullTimeCol{&t.ExpiresAt}, nullTimeCol{&t.LastUsedAt}, nullTimeCol{&t.RevokedAt})
	return &t, err
}

// CreateAPIToken stores t and sets its ID (and CreatedAt when zero).
func (db *DB) CreateAPIToken(ctx context.Context, t *bulwark.APIToken) error {
	created := t.CreatedAt
	if created.IsZero() {
		created = now()
	}
	var id int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO api_tokens (user_id, name, prefix, hash, created_at, expires_at,
		last_used_at, revoked_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id`,
		t.UserID, t.Name, t.Prefix, t.Hash, ts(created), tsp(t.ExpiresAt), tsp(t.LastUsedAt), tsp(t.RevokedAt)).Scan(&id)
	switch {
	case isUniqueViolation(err):
		return conflict("an API token with this hash already exists")
	case isForeignKeyViolation(err):
		return notFound("user %d not found", t.UserID)
	case err != nil:
		return wrap("create API token", err)
	}
	t.ID, t.CreatedAt = id, created
	return nil
}

// GetAPIToken returns the token with id.
func (db *DB) GetAPIToken(ctx context.Context, id int64) (*bulwark.APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API token %d not found", id)
	}
	if err != nil {
		return nil, wrap("get API token", err)
	}
	return t, nil
}

// GetAPITokenByHash returns the token whose hash is hash.
func (db *DB) GetAPITokenByHash(ctx context.Context, hash string) (*bulwark.APIToken, error) {
	t, err := scanToken(db.r.QueryRowContext(ctx, `SELECT `+tokenCols+` FROM api_tokens WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("API token not found")
	}
	if err != nil {
		return nil, wrap("get API token", err)
	}
	return t, nil
}

// ListAPITokens lists a user's tokens, or everyone's when userID is 0,
// newest first.
func (db *DB) ListAPITokens(ctx context.Context, userID int64) ([]*bulwark.APIToken, error) {
	var w where
	if userID != 0 {
		w.add("user_id = " + w.arg(userID))
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+tokenCols+` FROM api_tokens`+w.String()+
		` ORDER BY created_at DESC, id DESC`, w.args...)
	if err != nil {
		return nil, wrap("list API tokens", err)
	}
	defer rows.Close()
	var out []*bulwark.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, wrap("list API tokens", err)
		}
		out = append(out, t)
	}
	return out, wrap("list API tokens", rows.Err())
}

// RevokeAPIToken revokes a token at time at. Revoking it again keeps the
// first revocation time.
func (db *DB) RevokeAPIToken(ctx context.Context, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`,
		id, ts(at))
	return wrap("revoke API token", mustAffect(res, err, "API token %d", id))
}

// TouchAPIToken records that the token was used at time at.
func (db *DB) TouchAPIToken(ctx context.Context, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $2 WHERE id = $1`, id, ts(at))
	return wrap("touch API token", mustAffect(res, err, "API token %d", id))
}
