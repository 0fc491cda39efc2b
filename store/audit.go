package store

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

const auditCols = `id, time, actor_id, actor, action, resource_type, resource_id, result, source_ip, user_agent, details`

func scanAudit(s scanner, extra ...any) (bulwark.AuditEntry, error) {
	var e bulwark.AuditEntry
	var details sql.NullString
	dest := append([]any{&e.ID, timeCol{&e.Time}, &e.ActorID, &e.Actor, &e.Action, &e.ResourceType, &e.ResourceID,
		&e.Result, &e.SourceIP, &e.UserAgent, &details}, extra...)
	if err := s.Scan(dest...); err != nil {
		return e, err
	}
	if details.Valid && details.String != "" {
		if err := json.Unmarshal([]byte(details.String), &e.Details); err != nil {
			return e, err
		}
	}
	return e, nil
}

// insertAudit writes a within tx and sets a.ID (and a.Time when zero).
func insertAudit(ctx context.Context, tx *sql.Tx, a *bulwark.AuditEntry) error {
	if a.Time.IsZero() {
		a.Time = now()
	} else {
		a.Time = normTime(a.Time)
	}
	var details any
	if a.Details != nil {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // keep "<" searchable as typed
		if err := enc.Encode(a.Details); err != nil {
			return invalid("audit details are not JSON-encodable: %v", err)
		}
		details = strings.TrimSuffix(buf.String(), "\n")
	}
	return tx.QueryRowContext(ctx, `INSERT INTO audit_log (time, actor_id, actor, action, resource_type, resource_id,
		result, source_ip, user_agent, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id`,
		ts(a.Time), a.ActorID, clean(a.Actor), clean(a.Action), clean(a.ResourceType), clean(a.ResourceID),
		clean(a.Result), clean(a.SourceIP), clean(a.UserAgent), details).Scan(&a.ID)
}

// ListAudit returns the entries matching f, newest first, with the total
// number of matches. Since is inclusive, Until exclusive. Query matches a
// substring of actor, action, resource id, source IP or details, ignoring
// ASCII case on both engines (PostgreSQL also folds non-ASCII letters).
func (db *DB) ListAudit(ctx context.Context, f bulwark.AuditFilter) (bulwark.Page[bulwark.AuditEntry], error) {
	var w where
	if f.Actor != "" {
		w.add("actor = " + w.arg(f.Actor))
	}
	if f.Action != "" {
		if strings.HasSuffix(f.Action, ".") {
			lo, hi := dotPrefixRange(f.Action)
			w.add("action >= " + w.arg(lo) + " AND action < " + w.arg(hi))
		} else {
			w.add("action = " + w.arg(f.Action))
		}
	}
	if f.ResourceType != "" {
		w.add("resource_type = " + w.arg(f.ResourceType))
	}
	if f.ResourceID != "" {
		w.add("resource_id = " + w.arg(f.ResourceID))
	}
	if f.Result != "" {
		w.add("result = " + w.arg(f.Result))
	}
	if !f.Since.IsZero() {
		w.add("time >= " + w.arg(ts(f.Since)))
	}
	if !f.Until.IsZero() {
		w.add("time < " + w.arg(ts(f.Until)))
	}
	if f.Query != "" {
		p := "LOWER(" + w.arg(containsPattern(clean(f.Query))) + ")"
		var ors []string
		for _, col := range []string{"actor", "action", "resource_id", "source_ip", "details"} {
			ors = append(ors, "LOWER("+col+") LIKE "+p+` ESCAPE '\'`)
		}
		w.add("(" + strings.Join(ors, " OR ") + ")")
	}
	limit, offset := pageLimits(f.Limit, f.Offset)
	page := bulwark.Page[bulwark.AuditEntry]{Items: []bulwark.AuditEntry{}}
	order, err := auditOrder(f.Sort)
	if err != nil {
		return page, err
	}
	err = db.listPage(ctx, "audit_log", &w, order, limit, offset, auditCols,
		func(rows *sql.Rows) (int, error) {
			var total int
			e, err := scanAudit(rows, &total)
			page.Items = append(page.Items, e)
			return total, err
		}, &page.Total)
	return page, wrap("list audit", err)
}

// auditOrder turns a sort key into an ORDER BY from a fixed list, so no
// client text ever reaches the SQL.
func auditOrder(sort string) (string, error) {
	const ties = "time DESC, id DESC"
	col, desc := strings.CutPrefix(sort, "-")
	dir := " ASC"
	if desc {
		dir = " DESC"
	}
	switch {
	case sort == "":
		return ties, nil
	case col == "time":
		return "time" + dir + ", id" + dir, nil
	case col == "actor" || col == "action" || col == "result":
		return col + dir + ", " + ties, nil
	}
	return "", bulwark.Errorf(bulwark.CodeInvalid, "cannot sort the audit log by %q", sort)
}

// listPage runs one page of a filtered listing. COUNT(*) OVER () returns
// the total with the page in one consistent statement; only a page past
// the end needs a second query for it.
func (db *DB) listPage(ctx context.Context, table string, w *where, order string, limit, offset int, cols string,
	scan func(*sql.Rows) (total int, err error), total *int) error {
	filterArgs := len(w.args)
	q := `SELECT ` + cols + `, COUNT(*) OVER () FROM ` + table + w.String() + ` ORDER BY ` + order +
		` LIMIT ` + w.arg(limit) + ` OFFSET ` + w.arg(offset)
	rows, err := db.r.QueryContext(ctx, q, w.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		t, err := scan(rows)
		if err != nil {
			return err
		}
		*total, n = t, n+1
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n == 0 && offset > 0 {
		w.args = w.args[:filterArgs]
		return db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+table+w.String(), w.args...).Scan(total)
	}
	return nil
}

// GetAudit returns the audit entry with id.
func (db *DB) GetAudit(ctx context.Context, id int64) (*bulwark.AuditEntry, error) {
	e, err := scanAudit(db.r.QueryRowContext(ctx, `SELECT `+auditCols+` FROM audit_log WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("audit entry %d not found", id)
	}
	if err != nil {
		return nil, wrap("get audit entry", err)
	}
	return &e, nil
}

// DeleteAuditBefore removes entries older than t and reports how many.
func (db *DB) DeleteAuditBefore(ctx context.Context, t time.Time) (int64, error) {
	res, err := db.w.ExecContext(ctx, `DELETE FROM audit_log WHERE time < $1`, ts(t))
	if err != nil {
		return 0, wrap("delete audit", err)
	}
	n, err := res.RowsAffected()
	return n, wrap("delete audit", err)
}
