package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// GetSettings returns every stored setting by key, values verbatim.
func (db *DB) GetSettings(ctx context.Context) (map[string]json.RawMessage, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT key, value FROM settings`)
	if err != nil {
		return nil, wrap("get settings", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return nil, wrap("get settings", err)
		}
		out[k] = json.RawMessage(v)
	}
	return out, wrap("get settings", rows.Err())
}

// PutSettings upserts the given keys in one transaction. Each value must be
// valid JSON; it is stored byte for byte.
func (db *DB) PutSettings(ctx context.Context, values map[string]json.RawMessage, updatedBy string, at time.Time) error {
	keys := slices.Sorted(maps.Keys(values)) // a fixed order keeps concurrent upserts from deadlocking
	for _, k := range keys {
		v := values[k]
		if k == "" || k != clean(k) {
			return invalid("setting key %q is not valid", k)
		}
		if !json.Valid(v) || !utf8.Valid(v) {
			return invalid("setting %q: value is not valid JSON", k)
		}
	}
	return wrap("put settings", db.inTx(ctx, func(tx *sql.Tx) error {
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value, updated_at, updated_by)
				VALUES ($1, $2, $3, $4)
				ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at,
					updated_by = excluded.updated_by`,
				k, string(values[k]), ts(at), clean(updatedBy)); err != nil {
				return err
			}
		}
		return nil
	}))
}
