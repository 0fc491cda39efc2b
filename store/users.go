package store

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/bulwarkhq/bulwark"
)

const userCols = `id, username, email, display_name, role, password_hash, must_change_password,
	disabled, failed_logins, locked_until, last_login_at, password_changed_at, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanUser(s scanner) (*bulwark.User, error) {
	var u bulwark.User
	var role string
	err := s.Scan(&u.ID, &u.Username, &u.Email, &u.DisplayName, &role, &u.PasswordHash, &u.MustChangePassword,
		&u.Disabled, &u.FailedLogins, nullTimeCol{&u.LockedUntil}, nullTimeCol{&u.LastLoginAt},
		nullTimeCol{&u.PasswordChangedAt}, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt})
	u.Role = bulwark.Role(role)
	return &u, err
}

// CreateUser inserts u and sets its ID, CreatedAt and UpdatedAt.
func (db *DB) CreateUser(ctx context.Context, u *bulwark.User) error {
	at := now()
	var id int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO users (username, email, display_name, role, password_hash,
		must_change_password, disabled, failed_logins, locked_until, last_login_at, password_changed_at,
		created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING id`,
		u.Username, u.Email, u.DisplayName, string(u.Role), u.PasswordHash, u.MustChangePassword, u.Disabled,
		u.FailedLogins, tsp(u.LockedUntil), tsp(u.LastLoginAt), tsp(u.PasswordChangedAt), ts(at)).Scan(&id)
	if isUniqueViolation(err) {
		return conflict("username %q already exists", u.Username)
	}
	if err != nil {
		return wrap("create user", err)
	}
	u.ID, u.CreatedAt, u.UpdatedAt = id, at, at
	return nil
}

// GetUser returns the user with id.
func (db *DB) GetUser(ctx context.Context, id int64) (*bulwark.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user %d not found", id)
	}
	return u, wrap("get user", err)
}

// GetUserByUsername returns the user with exactly this (normalised) username.
func (db *DB) GetUserByUsername(ctx context.Context, username string) (*bulwark.User, error) {
	u, err := scanUser(db.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE username = $1`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user %q not found", username)
	}
	return u, wrap("get user", err)
}

// ListUsers returns every user ordered by username.
func (db *DB) ListUsers(ctx context.Context) ([]*bulwark.User, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY username`)
	if err != nil {
		return nil, wrap("list users", err)
	}
	defer rows.Close()
	var out []*bulwark.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, wrap("list users", err)
		}
		out = append(out, u)
	}
	return out, wrap("list users", rows.Err())
}

// CountUsers returns the number of users.
func (db *DB) CountUsers(ctx context.Context) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n)
	return n, wrap("count users", err)
}

// UpdateUser writes every field of u but ID and CreatedAt, and sets
// u.UpdatedAt. It refuses when the change would leave no enabled admin.
func (db *DB) UpdateUser(ctx context.Context, u *bulwark.User) error {
	at := now()
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		if u.Role != bulwark.RoleAdmin || u.Disabled {
			if err := db.guardLastAdmin(ctx, tx, u.ID, "this change"); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET username = $2, email = $3, display_name = $4, role = $5,
			password_hash = $6, must_change_password = $7, disabled = $8, failed_logins = $9,
			locked_until = $10, last_login_at = $11, password_changed_at = $12, updated_at = $13
			WHERE id = $1`,
			u.ID, u.Username, u.Email, u.DisplayName, string(u.Role), u.PasswordHash, u.MustChangePassword,
			u.Disabled, u.FailedLogins, tsp(u.LockedUntil), tsp(u.LastLoginAt), tsp(u.PasswordChangedAt), ts(at))
		if isUniqueViolation(err) {
			return conflict("username %q already exists", u.Username)
		}
		return mustAffect(res, err, "user %d", u.ID)
	})
	if err != nil {
		return wrap("update user", err)
	}
	u.UpdatedAt = at
	return nil
}

// DeleteUser removes the user with its sessions and API tokens (by foreign
// key cascade). It refuses when that would leave no enabled admin.
func (db *DB) DeleteUser(ctx context.Context, id int64) error {
	return wrap("delete user", db.inTx(ctx, func(tx *sql.Tx) error {
		if err := db.guardLastAdmin(ctx, tx, id, "deleting this user"); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM users WHERE id = $1`, id)
		return mustAffect(res, err, "user %d", id)
	}))
}

// guardLastAdmin fails when user id is currently an enabled admin and no
// other enabled admin exists, i.e. when demoting, disabling or deleting it
// would lock everyone out of user management. It must run inside the
// transaction that makes the change; the dialect's lock (PostgreSQL) or the
// single writer (SQLite) keeps two such transactions from interleaving.
func (db *DB) guardLastAdmin(ctx context.Context, tx *sql.Tx, id int64, what string) error {
	if err := db.d.lockAdmins(ctx, tx); err != nil {
		return err
	}
	var role string
	var disabled bool
	err := tx.QueryRowContext(ctx, `SELECT role, disabled FROM users WHERE id = $1`, id).Scan(&role, &disabled)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("user %d not found", id)
	}
	if err != nil {
		return err
	}
	if bulwark.Role(role) != bulwark.RoleAdmin || disabled {
		return nil // not an enabled admin: removing it changes nothing
	}
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users
		WHERE role = 'admin' AND disabled = FALSE AND id <> $1`, id).Scan(&others); err != nil {
		return err
	}
	if others == 0 {
		return &bulwark.Error{Code: bulwark.CodeConflict,
			Message: what + " would leave no enabled admin; make another user an admin first"}
	}
	return nil
}

// RecordLoginFailure atomically counts a failed login and, when the count
// reaches maxFailures (if > 0), locks the account until lockUntil.
func (db *DB) RecordLoginFailure(ctx context.Context, id int64, maxFailures int, lockUntil time.Time) (*bulwark.User, error) {
	u, err := scanUser(db.w.QueryRowContext(ctx, `UPDATE users SET failed_logins = failed_logins + 1,
		locked_until = CASE WHEN $2 > 0 AND failed_logins + 1 >= $2 THEN $3 ELSE locked_until END
		WHERE id = $1 RETURNING `+userCols, id, maxFailures, ts(lockUntil)))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("user %d not found", id)
	}
	if err != nil {
		return nil, wrap("record login failure", err)
	}
	return u, nil
}

// RecordLoginSuccess clears the failure count and lock and sets LastLoginAt.
func (db *DB) RecordLoginSuccess(ctx context.Context, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE users SET failed_logins = 0, locked_until = NULL, last_login_at = $2
		WHERE id = $1`, id, ts(at))
	return wrap("record login success", mustAffect(res, err, "user %d", id))
}
