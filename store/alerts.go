package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

var _ bulwark.AlertStore = (*DB)(nil)

const (
	alertCols = `id, time, severity, category, title, description, action, user_name, user_email, group_name,
		source_ip, proxy, target, policy, rule_id, evidence, status, status_by, status_at`
	// maxAlertText bounds a derived text column; evidence is already an excerpt.
	maxAlertText = 4000
	// maxNoteText bounds a note.
	maxNoteText = 4000
	// maxAlertIDs bounds one bulk status change.
	maxAlertIDs = 1000
)

func scanAlert(s scanner, extra ...any) (bulwark.Alert, error) {
	var a bulwark.Alert
	var sev, action, status string
	dest := append([]any{&a.ID, timeCol{&a.Time}, &sev, &a.Category, &a.Title, &a.Description, &action, &a.User,
		&a.UserEmail, &a.Group, &a.SourceIP, &a.Proxy, &a.Target, &a.Policy, &a.RuleID, &a.Evidence, &status,
		&a.StatusBy, nullTimeCol{&a.StatusAt}}, extra...)
	err := s.Scan(dest...)
	a.Severity, a.Action, a.Status = bulwark.Severity(sev), bulwark.Action(action), bulwark.AlertStatus(status)
	return a, err
}

// alertFromEvent derives the alert columns from an alert event: the fields
// of its Data object that name them (strings only; anything else is
// ignored), falling back to the event's own fields.
func alertFromEvent(id string, at time.Time, ev *bulwark.Event) bulwark.Alert {
	var data map[string]json.RawMessage
	_ = json.Unmarshal(ev.Data, &data) // not an object: every field stays empty
	str := func(keys ...string) string {
		for _, k := range keys {
			var s string
			if raw, ok := data[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
				return truncate(clean(s), maxAlertText)
			}
		}
		return ""
	}
	a := bulwark.Alert{
		ID: id, Time: at, Severity: ev.Severity, Category: truncate(clean(ev.Category), maxAlertText),
		Title: str("title"), Description: truncate(clean(ev.Subject), maxAlertText),
		User: str("user", "user_name"), UserEmail: str("user_email", "email"), Group: str("group"),
		SourceIP: str("source_ip", "client_ip"), Proxy: str("proxy"), Target: str("target", "model", "tool"),
		Policy: str("policy"), RuleID: str("rule_id"), Evidence: str("evidence"), Status: bulwark.AlertNew,
	}
	if a.Title == "" {
		a.Title = a.Description
	}
	if a.User == "" && ev.Type == bulwark.EventAlert && strings.HasPrefix(ev.Action, "policy.") {
		a.User = truncate(clean(ev.Actor), maxAlertText)
	}
	if a.Severity == "" {
		a.Severity = bulwark.SeverityInfo
	}
	// The data's action, else the verb of "policy.block" and the like.
	_, verb, _ := strings.Cut(ev.Action, ".")
	for _, act := range []bulwark.Action{bulwark.Action(str("action")), bulwark.Action(verb)} {
		if slices.Contains(bulwark.Actions, act) {
			a.Action = act
			break
		}
	}
	return a
}

func insertAlert(ctx context.Context, tx execer, a *bulwark.Alert) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO alerts (id, time, severity, severity_rank, category, title, description,
		action, user_name, user_email, group_name, source_ip, proxy, target, policy, rule_id, evidence, status)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, 'new')`,
		a.ID, ts(a.Time), clean(string(a.Severity)), a.Severity.Rank(), a.Category, a.Title, a.Description,
		string(a.Action), a.User, a.UserEmail, a.Group, a.SourceIP, a.Proxy, a.Target, a.Policy, a.RuleID, a.Evidence)
	if isUniqueViolation(err) {
		return conflict("alert %q already exists", a.ID)
	}
	return err
}

// alertWhere turns f into a WHERE clause.
func alertWhere(f *bulwark.AlertFilter) (*where, error) {
	var w where
	if f.MinSeverity != "" {
		if !f.MinSeverity.Valid() {
			return nil, invalid("unknown severity %q", f.MinSeverity)
		}
		w.add("severity_rank >= " + w.arg(f.MinSeverity.Rank()))
	}
	if len(f.Categories) > 0 {
		ph := make([]string, len(f.Categories))
		for i, c := range f.Categories {
			ph[i] = w.arg(c)
		}
		w.add("category IN (" + strings.Join(ph, ", ") + ")")
	}
	if len(f.Statuses) > 0 {
		ph := make([]string, len(f.Statuses))
		for i, s := range f.Statuses {
			if !s.Valid() {
				return nil, invalid("unknown alert status %q", s)
			}
			ph[i] = w.arg(string(s))
		}
		w.add("status IN (" + strings.Join(ph, ", ") + ")")
	}
	if f.Proxy != "" {
		w.add("proxy = " + w.arg(f.Proxy))
	}
	if f.RuleID != "" {
		w.add("rule_id = " + w.arg(f.RuleID))
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
		for _, col := range []string{"title", "description", "evidence", "user_name", "proxy", "rule_id"} {
			ors = append(ors, "LOWER("+col+") LIKE "+p+` ESCAPE '\'`)
		}
		w.add("(" + strings.Join(ors, " OR ") + ")")
	}
	return &w, nil
}

// alertOrder turns a sort key into an ORDER BY from a fixed list, so no
// client text ever reaches the SQL. Status sorts in workflow order.
func alertOrder(sort string) (string, error) {
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
	case col == "severity":
		return "severity_rank" + dir + ", " + ties, nil
	case col == "status":
		return `CASE status WHEN 'new' THEN 1 WHEN 'acknowledged' THEN 2 WHEN 'in_progress' THEN 3
			WHEN 'resolved' THEN 4 ELSE 5 END` + dir + ", " + ties, nil
	case col == "category" || col == "proxy":
		return col + dir + ", " + ties, nil
	}
	return "", bulwark.Errorf(bulwark.CodeInvalid, "cannot sort alerts by %q", sort)
}

// ListAlerts returns the alerts matching f with the total; notes are not
// included.
func (db *DB) ListAlerts(ctx context.Context, f bulwark.AlertFilter) (bulwark.Page[bulwark.Alert], error) {
	page := bulwark.Page[bulwark.Alert]{Items: []bulwark.Alert{}}
	w, err := alertWhere(&f)
	if err != nil {
		return page, err
	}
	order, err := alertOrder(f.Sort)
	if err != nil {
		return page, err
	}
	limit, offset := pageLimits(f.Limit, f.Offset)
	err = db.listPage(ctx, "alerts", w, order, limit, offset, alertCols,
		func(rows *sql.Rows) (int, error) {
			var total int
			a, err := scanAlert(rows, &total)
			page.Items = append(page.Items, a)
			return total, err
		}, &page.Total)
	return page, wrap("list alerts", err)
}

// GetAlert returns the alert with id and its notes, oldest first.
func (db *DB) GetAlert(ctx context.Context, id string) (*bulwark.Alert, error) {
	a, err := scanAlert(db.r.QueryRowContext(ctx, `SELECT `+alertCols+` FROM alerts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("alert %q not found", id)
	}
	if err != nil {
		return nil, wrap("get alert", err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT at, author, text FROM alert_notes WHERE alert_id = $1 ORDER BY id`, id)
	if err != nil {
		return nil, wrap("get alert notes", err)
	}
	defer rows.Close()
	for rows.Next() {
		var n bulwark.AlertNote
		if err := rows.Scan(timeCol{&n.At}, &n.By, &n.Text); err != nil {
			return nil, wrap("get alert notes", err)
		}
		a.Notes = append(a.Notes, n)
	}
	return &a, wrap("get alert notes", rows.Err())
}

func checkNote(text string) error {
	if strings.TrimSpace(text) == "" {
		return invalid("a note must not be empty")
	}
	if len(text) > maxNoteText {
		return invalid("a note must not be longer than %d bytes", maxNoteText)
	}
	return nil
}

func insertNote(ctx context.Context, tx *sql.Tx, id string, n bulwark.AlertNote) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO alert_notes (alert_id, at, author, text) VALUES ($1, $2, $3, $4)`,
		id, ts(n.At), n.By, n.Text)
	return err
}

// SetAlertStatus moves every alert in ids to status in one transaction;
// see bulwark.AlertStore.
func (db *DB) SetAlertStatus(ctx context.Context, ids []string, status bulwark.AlertStatus, by, note string) ([]bulwark.Alert, error) {
	if len(ids) == 0 {
		return nil, invalid("no alert ids given")
	}
	if len(ids) > maxAlertIDs {
		return nil, invalid("at most %d alerts can change status at once", maxAlertIDs)
	}
	if !status.Valid() {
		return nil, invalid("unknown alert status %q", status)
	}
	if note != "" {
		if err := checkNote(note); err != nil {
			return nil, err
		}
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] {
			return nil, invalid("alert %q is listed twice", id)
		}
		seen[id] = true
	}
	at, by, note := now(), clean(by), clean(note)
	out := make([]bulwark.Alert, 0, len(ids))
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		for _, id := range ids {
			a, err := scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertCols+` FROM alerts WHERE id = $1`, id))
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("alert %q not found", id)
			}
			if err != nil {
				return err
			}
			if !a.Status.CanBecome(status) {
				return conflict("alert %q is %s and cannot become %s", id, a.Status, status)
			}
			// Only from the status just read: a concurrent change on
			// PostgreSQL makes this match nothing instead of overwriting it.
			res, err := tx.ExecContext(ctx, `UPDATE alerts SET status = $1, status_by = $2, status_at = $3
				WHERE id = $4 AND status = $5`, string(status), by, ts(at), id, string(a.Status))
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil {
				return err
			} else if n == 0 {
				return conflict("alert %q was changed by someone else meanwhile; reload and try again", id)
			}
			if note != "" {
				if err := insertNote(ctx, tx, id, bulwark.AlertNote{At: at, By: by, Text: note}); err != nil {
					return err
				}
			}
			a.Status, a.StatusBy, a.StatusAt = status, by, &at
			out = append(out, a)
		}
		return nil
	})
	if err != nil {
		return nil, wrap("set alert status", err)
	}
	return out, nil
}

// AddAlertNote appends a note to the alert with id.
func (db *DB) AddAlertNote(ctx context.Context, id, by, text string) (*bulwark.AlertNote, error) {
	if err := checkNote(text); err != nil {
		return nil, err
	}
	n := bulwark.AlertNote{At: now(), By: clean(by), Text: clean(text)}
	err := db.inTx(ctx, func(tx *sql.Tx) error {
		var found string
		err := tx.QueryRowContext(ctx, `SELECT id FROM alerts WHERE id = $1`+db.d.keyShare, id).Scan(&found)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("alert %q not found", id)
		}
		if err != nil {
			return err
		}
		return insertNote(ctx, tx, id, n)
	})
	if err != nil {
		return nil, wrap("add alert note", err)
	}
	return &n, nil
}

// CountAlerts counts the alerts matching f by status and by severity.
func (db *DB) CountAlerts(ctx context.Context, f bulwark.AlertFilter) (bulwark.AlertCounts, error) {
	c := bulwark.AlertCounts{ByStatus: map[bulwark.AlertStatus]int{}, BySeverity: map[bulwark.Severity]int{}}
	w, err := alertWhere(&f)
	if err != nil {
		return c, err
	}
	rows, err := db.r.QueryContext(ctx, `SELECT status, severity, COUNT(*) FROM alerts`+w.String()+
		` GROUP BY status, severity`, w.args...)
	if err != nil {
		return c, wrap("count alerts", err)
	}
	defer rows.Close()
	for rows.Next() {
		var status, sev string
		var n int
		if err := rows.Scan(&status, &sev, &n); err != nil {
			return c, wrap("count alerts", err)
		}
		c.ByStatus[bulwark.AlertStatus(status)] += n
		c.BySeverity[bulwark.Severity(sev)] += n
		c.Total += n
	}
	return c, wrap("count alerts", rows.Err())
}
