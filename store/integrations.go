package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/bulwarkhq/bulwark"
)

var _ bulwark.IntegrationStore = (*DB)(nil)

const integrationCols = `id, name, kind, enabled, types, min_severity, categories, settings, secrets, created_at, updated_at, updated_by`

func scanIntegration(s scanner) (*bulwark.Integration, error) {
	var i bulwark.Integration
	var kind, sev, settings string
	var types []string
	err := s.Scan(&i.ID, &i.Name, &kind, &i.Enabled, listCol{&types}, &sev, listCol{&i.Categories}, &settings,
		&i.Secrets, timeCol{&i.CreatedAt}, timeCol{&i.UpdatedAt}, &i.UpdatedBy)
	i.Kind, i.MinSeverity, i.Settings = bulwark.IntegrationKind(kind), bulwark.Severity(sev), json.RawMessage(settings)
	for _, t := range types {
		i.Types = append(i.Types, bulwark.EventType(t))
	}
	return &i, err
}

func integrationValues(i *bulwark.Integration) []any {
	types := make([]string, 0, len(i.Types))
	for _, t := range i.Types {
		types = append(types, string(t))
	}
	settings := string(i.Settings)
	if settings == "" {
		settings = "{}"
	}
	return []any{i.Name, string(i.Kind), i.Enabled, jsonList(types), string(i.MinSeverity), jsonList(i.Categories), settings, i.Secrets}
}

// CreateIntegration inserts i and sets its ID, CreatedAt and UpdatedAt.
func (db *DB) CreateIntegration(ctx context.Context, i *bulwark.Integration) error {
	if err := i.Validate(); err != nil {
		return err
	}
	at := now()
	var id int64
	args := append(integrationValues(i), ts(at), clean(i.UpdatedBy))
	err := db.w.QueryRowContext(ctx, `INSERT INTO integrations (name, kind, enabled, types, min_severity, categories, settings,
		secrets, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9, $10) RETURNING id`, args...).Scan(&id)
	if isUniqueViolation(err) {
		return conflict("integration %q already exists", i.Name)
	}
	if err != nil {
		return wrap("create integration", err)
	}
	i.ID, i.CreatedAt, i.UpdatedAt = id, at, at
	return nil
}

// GetIntegration returns the integration with id.
func (db *DB) GetIntegration(ctx context.Context, id int64) (*bulwark.Integration, error) {
	i, err := scanIntegration(db.r.QueryRowContext(ctx, `SELECT `+integrationCols+` FROM integrations WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("integration %d not found", id)
	}
	if err != nil {
		return nil, wrap("get integration", err)
	}
	return i, nil
}

// ListIntegrations returns every integration ordered by name.
func (db *DB) ListIntegrations(ctx context.Context) ([]*bulwark.Integration, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+integrationCols+` FROM integrations ORDER BY name`)
	if err != nil {
		return nil, wrap("list integrations", err)
	}
	defer rows.Close()
	var out []*bulwark.Integration
	for rows.Next() {
		i, err := scanIntegration(rows)
		if err != nil {
			return nil, wrap("list integrations", err)
		}
		out = append(out, i)
	}
	return out, wrap("list integrations", rows.Err())
}

// UpdateIntegration replaces the integration with i.ID when it was last
// updated at ifUpdatedAt, and sets i.UpdatedAt.
func (db *DB) UpdateIntegration(ctx context.Context, i *bulwark.Integration, ifUpdatedAt time.Time) error {
	if err := i.Validate(); err != nil {
		return err
	}
	at := now()
	if !at.After(normTime(ifUpdatedAt)) {
		at = normTime(ifUpdatedAt).Add(time.Microsecond)
	}
	return wrap("update integration", db.inTx(ctx, func(tx *sql.Tx) error {
		args := append(integrationValues(i), ts(at), clean(i.UpdatedBy), i.ID, ts(ifUpdatedAt))
		res, err := tx.ExecContext(ctx, `UPDATE integrations SET name = $1, kind = $2, enabled = $3, types = $4, min_severity = $5,
			categories = $6, settings = $7, secrets = $8, updated_at = $9, updated_by = $10 WHERE id = $11 AND updated_at = $12`, args...)
		if isUniqueViolation(err) {
			return conflict("integration %q already exists", i.Name)
		}
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			var cur int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM integrations WHERE id = $1`, i.ID).Scan(&cur)
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("integration %d not found", i.ID)
			}
			if err != nil {
				return err
			}
			return conflict("integration %q was changed by someone else since you loaded it; reload and apply your change again", i.Name)
		}
		i.UpdatedAt = at
		return nil
	}))
}

// DeleteIntegration removes the integration with id; its outbox items stay.
func (db *DB) DeleteIntegration(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM integrations WHERE id = $1`, id)
	return wrap("delete integration", mustAffect(res, err, "integration %d", id))
}
