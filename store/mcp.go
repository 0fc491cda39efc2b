package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
)

var _ bulwark.MCPToolStore = (*DB)(nil)

const mcpToolCols = `id, proxy, kind, name, definition, hash, status, pinned_definition, pinned_hash, findings,
	removed, group_names, calls_per_minute, calls, blocked_calls, first_seen, last_seen, decided_by, decided_at,
	updated_at`

func scanMCPTool(s scanner) (*bulwark.MCPTool, error) {
	var t bulwark.MCPTool
	var kind, status, def, pinned string
	err := s.Scan(&t.ID, &t.Proxy, &kind, &t.Name, &def, &t.Hash, &status, &pinned, &t.PinnedHash,
		findingsCol{&t.Findings}, &t.Removed, listCol{&t.Groups}, &t.CallsPerMinute, &t.Calls, &t.BlockedCalls,
		timeCol{&t.FirstSeen}, timeCol{&t.LastSeen}, &t.DecidedBy, nullTimeCol{&t.DecidedAt}, timeCol{&t.UpdatedAt})
	t.Kind, t.Status = bulwark.ToolKind(kind), bulwark.ToolStatus(status)
	t.Definition, t.PinnedDefinition = rawJSON(def), rawJSON(pinned)
	return &t, err
}

// rawJSON is a stored definition as read back: nil when empty, else the
// stored bytes.
func rawJSON(s string) json.RawMessage {
	if s == "" {
		return nil
	}
	return json.RawMessage(s)
}

// findingsCol scans a JSON array of findings; an empty array reads as an
// empty, non-nil slice, like list columns.
type findingsCol struct{ f *[]bulwark.Finding }

func (c findingsCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*c.f = []bulwark.Finding{}
		return nil
	default:
		return fmt.Errorf("store: cannot scan %T into findings", src)
	}
	f := []bulwark.Finding{}
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("store: bad stored findings: %w", err)
	}
	*c.f = f
	return nil
}

var (
	toolKinds    = []bulwark.ToolKind{bulwark.KindTool, bulwark.KindPrompt, bulwark.KindResource}
	toolStatuses = []bulwark.ToolStatus{bulwark.ToolPending, bulwark.ToolApproved, bulwark.ToolDenied,
		bulwark.ToolQuarantined}
)

// what names a tool in messages.
func toolWhat(t *bulwark.MCPTool) string {
	return fmt.Sprintf("MCP %s %q of proxy %q", t.Kind, t.Name, t.Proxy)
}

// checkToolKey checks the fields that identify a tool (written on create only).
func checkToolKey(t *bulwark.MCPTool) error {
	switch {
	case !bulwark.ValidName(t.Proxy):
		return invalid("MCP tool: proxy name %q is not valid", t.Proxy)
	case !slices.Contains(toolKinds, t.Kind):
		return invalid("MCP tool: kind %q is not one of tool, prompt, resource", t.Kind)
	case t.Name == "" || t.Name != clean(t.Name):
		// Not cleaned: two names must never become one tool.
		return invalid("MCP tool: name %q is empty or not valid UTF-8 text", t.Name)
	}
	return nil
}

// mcpToolValues checks the fields every write stores and returns the values
// of the columns definition … decided_at, in order.
func mcpToolValues(t *bulwark.MCPTool) ([]any, error) {
	what := toolWhat(t)
	if !slices.Contains(toolStatuses, t.Status) {
		return nil, invalid("%s: status %q is not one of pending, approved, denied, quarantined", what, t.Status)
	}
	for _, d := range []struct {
		name string
		v    json.RawMessage
	}{{"definition", t.Definition}, {"pinned definition", t.PinnedDefinition}} {
		if len(d.v) > 0 && (!json.Valid(d.v) || !utf8.Valid(d.v)) {
			return nil, invalid("%s: %s is not valid JSON", what, d.name)
		}
	}
	if t.CallsPerMinute < 0 {
		return nil, invalid("%s: calls per minute must be 0 (unlimited) or positive", what)
	}
	if t.LastSeen.IsZero() {
		return nil, invalid("%s: last seen time is required", what)
	}
	findings := "[]"
	if len(t.Findings) > 0 {
		b, err := json.Marshal(t.Findings)
		if err != nil { // a NaN or infinite score
			return nil, invalid("%s: findings cannot be stored: %v", what, err)
		}
		findings = string(b)
	}
	return []any{string(t.Definition), clean(t.Hash), string(t.Status), string(t.PinnedDefinition),
		clean(t.PinnedHash), findings, t.Removed, jsonList(t.Groups), t.CallsPerMinute, ts(t.LastSeen),
		clean(t.DecidedBy), tsp(t.DecidedAt)}, nil
}

// CreateMCPTool inserts t and sets its ID and UpdatedAt; a zero FirstSeen
// or LastSeen becomes the current time. The proxy must exist (a tool of a
// missing proxy is not found) and (proxy, kind, name) must be new.
// Definitions are stored byte for byte.
func (db *DB) CreateMCPTool(ctx context.Context, t *bulwark.MCPTool) error {
	if err := checkToolKey(t); err != nil {
		return err
	}
	at := now()
	first, last := t.FirstSeen, t.LastSeen
	if first.IsZero() {
		first = at
	}
	if last.IsZero() {
		last = at
	}
	first, last = normTime(first), normTime(last)
	tool := *t
	tool.LastSeen = last
	vals, err := mcpToolValues(&tool)
	if err != nil {
		return err
	}
	if t.Calls < 0 || t.BlockedCalls < 0 {
		return invalid("%s: call counts must not be negative", toolWhat(t))
	}
	args := append([]any{t.Proxy, string(t.Kind), t.Name}, vals...)
	args = append(args, t.Calls, t.BlockedCalls, ts(first), ts(at))
	// The sub-select refuses a tool of a missing proxy; on PostgreSQL it
	// also holds the proxy row against a concurrent delete or rename until
	// the tool is committed, so DeleteProxy and UpdateProxy see it.
	var id int64
	err = db.w.QueryRowContext(ctx, `INSERT INTO mcp_tools (proxy, kind, name, definition, hash, status,
		pinned_definition, pinned_hash, findings, removed, group_names, calls_per_minute, last_seen, decided_by,
		decided_at, calls, blocked_calls, first_seen, updated_at)
		SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19
		WHERE EXISTS (SELECT 1 FROM proxies WHERE name = $1`+db.d.keyShare+`) RETURNING id`, args...).Scan(&id)
	switch {
	case isUniqueViolation(err):
		return conflict("%s already exists", toolWhat(t))
	case errors.Is(err, sql.ErrNoRows):
		return notFound("proxy %q not found", t.Proxy)
	case err != nil:
		return wrap("create MCP tool", err)
	}
	t.ID, t.FirstSeen, t.LastSeen, t.UpdatedAt = id, first, last, at
	return nil
}

// GetMCPTool returns the tool with id.
func (db *DB) GetMCPTool(ctx context.Context, id int64) (*bulwark.MCPTool, error) {
	t, err := scanMCPTool(db.r.QueryRowContext(ctx, `SELECT `+mcpToolCols+` FROM mcp_tools WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("MCP tool %d not found", id)
	}
	if err != nil {
		return nil, wrap("get MCP tool", err)
	}
	return t, nil
}

// ListMCPTools lists a proxy's tools, or every proxy's when proxy is "",
// ordered by proxy, kind and name (bytewise).
func (db *DB) ListMCPTools(ctx context.Context, proxy string) ([]*bulwark.MCPTool, error) {
	var w where
	if proxy != "" {
		w.add("proxy = " + w.arg(proxy))
	}
	return queryAll(ctx, db.r, "list MCP tools", scanMCPTool,
		`SELECT `+mcpToolCols+` FROM mcp_tools`+w.String()+` ORDER BY proxy, kind, name`, w.args...)
}

// UpdateMCPTool writes every field of the tool with t.ID but Proxy, Kind,
// Name, FirstSeen and the call counts when it was last updated at
// ifUpdatedAt, and sets t.UpdatedAt. Call counts only grow, through
// AddMCPToolCalls, which leaves UpdatedAt alone.
func (db *DB) UpdateMCPTool(ctx context.Context, t *bulwark.MCPTool, ifUpdatedAt time.Time) error {
	vals, err := mcpToolValues(t)
	if err != nil {
		return err
	}
	at := nextVersion(ifUpdatedAt)
	what := fmt.Sprintf("MCP tool %d", t.ID)
	args := append(vals, ts(at), t.ID, ts(ifUpdatedAt))
	err = db.updateVersioned(ctx, "update MCP tool", what, what+" clashes with another tool",
		`UPDATE mcp_tools SET definition = $1, hash = $2, status = $3, pinned_definition = $4, pinned_hash = $5,
		findings = $6, removed = $7, group_names = $8, calls_per_minute = $9, last_seen = $10, decided_by = $11,
		decided_at = $12, updated_at = $13 WHERE id = $14 AND updated_at = $15`, args,
		`SELECT 1 FROM mcp_tools WHERE id = $1`, t.ID)
	if err != nil {
		return err
	}
	t.UpdatedAt = at
	return nil
}

// AddMCPToolCalls adds counts[id][0] calls and counts[id][1] blocked calls
// to each tool in one transaction. Tools deleted meanwhile are skipped.
func (db *DB) AddMCPToolCalls(ctx context.Context, counts map[int64][2]int64) error {
	ids := make([]int64, 0, len(counts))
	for id, c := range counts {
		if c[0] < 0 || c[1] < 0 {
			return invalid("MCP tool %d: call counts must not be negative", id)
		}
		if c != [2]int64{} {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids) // one lock order for every writer: concurrent batches cannot deadlock
	return wrap("add MCP tool calls", db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE mcp_tools SET calls = calls + $2,
			blocked_calls = blocked_calls + $3 WHERE id = $1`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, id, counts[id][0], counts[id][1]); err != nil {
				return err
			}
		}
		return nil
	}))
}

// DeleteMCPTools removes every tool of proxy; none is not an error.
// DeleteProxy already does this in its own transaction.
func (db *DB) DeleteMCPTools(ctx context.Context, proxy string) error {
	return wrap("delete MCP tools", deleteMCPTools(ctx, db.w, proxy))
}

func deleteMCPTools(ctx context.Context, x interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}, proxy string) error {
	_, err := x.ExecContext(ctx, `DELETE FROM mcp_tools WHERE proxy = $1`, proxy)
	return err
}
