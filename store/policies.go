package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
)

var _ bulwark.PolicyStore = (*DB)(nil)

const policyCols = `id, name, version, description, document, created_at, updated_at, updated_by`

func scanPolicy(s scanner) (*bulwark.StoredPolicy, error) {
	var p bulwark.StoredPolicy
	var doc string
	err := s.Scan(&p.ID, &p.Name, &p.Version, &p.Description, &doc, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.UpdatedBy)
	p.Document = json.RawMessage(doc)
	return &p, err
}

func checkPolicy(p *bulwark.StoredPolicy) error {
	if p.Name == "" || p.Name != clean(p.Name) {
		return invalid("policy name %q is not valid", p.Name)
	}
	if !json.Valid(p.Document) || !utf8.Valid(p.Document) {
		return invalid("policy %q: document is not valid JSON", p.Name)
	}
	return nil
}

// CreatePolicy inserts p and sets its ID, CreatedAt and UpdatedAt.
func (db *DB) CreatePolicy(ctx context.Context, p *bulwark.StoredPolicy) error {
	if err := checkPolicy(p); err != nil {
		return err
	}
	at := now()
	var id int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO policies (name, version, description, document, created_at, updated_at, updated_by)
		VALUES ($1, $2, $3, $4, $5, $5, $6) RETURNING id`,
		p.Name, p.Version, p.Description, string(p.Document), ts(at), clean(p.UpdatedBy)).Scan(&id)
	if isUniqueViolation(err) {
		return conflict("policy %q already exists", p.Name)
	}
	if err != nil {
		return wrap("create policy", err)
	}
	p.ID, p.CreatedAt, p.UpdatedAt = id, at, at
	return nil
}

// GetPolicy returns the policy named name.
func (db *DB) GetPolicy(ctx context.Context, name string) (*bulwark.StoredPolicy, error) {
	p, err := scanPolicy(db.r.QueryRowContext(ctx, `SELECT `+policyCols+` FROM policies WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("policy %q not found", name)
	}
	if err != nil {
		return nil, wrap("get policy", err)
	}
	return p, nil
}

// ListPolicies returns every stored policy ordered by name.
func (db *DB) ListPolicies(ctx context.Context) ([]*bulwark.StoredPolicy, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+policyCols+` FROM policies ORDER BY name`)
	if err != nil {
		return nil, wrap("list policies", err)
	}
	defer rows.Close()
	var out []*bulwark.StoredPolicy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, wrap("list policies", err)
		}
		out = append(out, p)
	}
	return out, wrap("list policies", rows.Err())
}

// UpdatePolicy replaces the document of the policy named p.Name when it
// was last updated at ifUpdatedAt, and sets p.UpdatedAt.
func (db *DB) UpdatePolicy(ctx context.Context, p *bulwark.StoredPolicy, ifUpdatedAt time.Time) error {
	if err := checkPolicy(p); err != nil {
		return err
	}
	at := now()
	if !at.After(normTime(ifUpdatedAt)) {
		// Keep updated_at strictly increasing so it stays a usable version.
		at = normTime(ifUpdatedAt).Add(time.Microsecond)
	}
	return wrap("update policy", db.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE policies SET version = $1, description = $2, document = $3,
			updated_at = $4, updated_by = $5 WHERE name = $6 AND updated_at = $7`,
			p.Version, p.Description, string(p.Document), ts(at), clean(p.UpdatedBy), p.Name, ts(ifUpdatedAt))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			var cur string
			err := tx.QueryRowContext(ctx, `SELECT name FROM policies WHERE name = $1`, p.Name).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("policy %q not found", p.Name)
			}
			if err != nil {
				return err
			}
			return conflict("policy %q was changed by someone else since you loaded it; reload and apply your change again", p.Name)
		}
		p.UpdatedAt = at
		return nil
	}))
}

// DeletePolicy removes the policy named name.
func (db *DB) DeletePolicy(ctx context.Context, name string) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM policies WHERE name = $1`, name)
	return wrap("delete policy", mustAffect(res, err, "policy %q", name))
}
