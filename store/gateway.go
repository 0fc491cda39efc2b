package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bulwarkhq/bulwark"
)

var _ bulwark.GatewayStore = (*DB)(nil)

// --- shared helpers ---

// jsonList encodes a list column; an empty list is stored as "[]".
func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, err := json.Marshal(l) // cannot fail for strings; invalid UTF-8 becomes U+FFFD
	if err != nil {
		panic(fmt.Sprintf("store: encode list: %v", err))
	}
	return string(b)
}

// listCol scans a JSON text array column into a []string.
type listCol struct{ l *[]string }

func (c listCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case string:
		b = []byte(v)
	case []byte:
		b = v
	case nil:
		*c.l = []string{}
		return nil
	default:
		return fmt.Errorf("store: cannot scan %T into a list", src)
	}
	l := []string{}
	if err := json.Unmarshal(b, &l); err != nil {
		return fmt.Errorf("store: bad stored list %q: %w", b, err)
	}
	*c.l = l
	return nil
}

// nextVersion is the UpdatedAt of a row last updated at ifUpdatedAt: now,
// but always strictly after ifUpdatedAt so it stays a usable version.
func nextVersion(ifUpdatedAt time.Time) time.Time {
	at := now()
	if prev := normTime(ifUpdatedAt); !at.After(prev) {
		at = prev.Add(time.Microsecond)
	}
	return at
}

// updateVersioned runs an optimistic UPDATE in a transaction. query must
// end in "WHERE <key> AND updated_at = <ifUpdatedAt>"; when it matches no
// row, exists (a SELECT of the key alone, with existsArgs) tells a missing
// row (not found) from one changed meanwhile (conflict). what names the row
// in messages, e.g. `proxy "x"`; a unique violation reports nameTaken.
func (db *DB) updateVersioned(ctx context.Context, op, what, nameTaken, query string, args []any,
	exists string, existsArgs ...any) error {
	return wrap(op, db.inTx(ctx, func(tx *sql.Tx) error {
		return execVersioned(ctx, tx, what, nameTaken, query, args, exists, existsArgs...)
	}))
}

// execVersioned is the body of updateVersioned, in the caller's transaction.
func execVersioned(ctx context.Context, tx *sql.Tx, what, nameTaken, query string, args []any,
	exists string, existsArgs ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if isUniqueViolation(err) {
		return conflict("%s", nameTaken)
	}
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	var one int
	err = tx.QueryRowContext(ctx, exists, existsArgs...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("%s not found", what)
	}
	if err != nil {
		return err
	}
	return conflict("%s was changed by someone else since you loaded it; reload and apply your change again", what)
}

// --- proxies ---

const proxyCols = `id, name, description, type, provider, upstream_url, listen_addr, policies, credential, tags,
	enabled, auto_start, timeout_seconds, max_body_bytes, scan_responses, mcp_config, created_at, updated_at, updated_by`

func scanProxy(s scanner) (*bulwark.Proxy, error) {
	var p bulwark.Proxy
	var typ, provider string
	err := s.Scan(&p.ID, &p.Name, &p.Description, &typ, &provider, &p.UpstreamURL, &p.ListenAddr,
		listCol{&p.Policies}, &p.Credential, listCol{&p.Tags}, &p.Enabled, &p.AutoStart, &p.TimeoutSeconds,
		&p.MaxBodyBytes, &p.ScanResponses, mcpConfigCol{&p.MCP}, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.UpdatedBy)
	p.Type, p.Provider = bulwark.Protocol(typ), bulwark.Provider(provider)
	return &p, err
}

// proxyValues are the values of the columns name … mcp_config, in order.
func proxyValues(p *bulwark.Proxy) []any {
	return []any{p.Name, clean(p.Description), string(p.Type), string(p.Provider), clean(p.UpstreamURL),
		clean(p.ListenAddr), jsonList(p.Policies), p.Credential, jsonList(p.Tags), p.Enabled, p.AutoStart,
		p.TimeoutSeconds, p.MaxBodyBytes, p.ScanResponses, mcpConfigValue(p.MCP)}
}

// mcpConfigValue encodes a proxy's MCP settings; nil becomes SQL NULL.
func mcpConfigValue(c *bulwark.MCPConfig) any {
	if c == nil {
		return nil
	}
	b, err := json.Marshal(c) // cannot fail: strings, a string map, numbers and booleans
	if err != nil {
		panic(fmt.Sprintf("store: encode mcp config: %v", err))
	}
	return string(b)
}

// mcpConfigCol scans the mcp_config column; NULL and empty text read as nil.
type mcpConfigCol struct{ c **bulwark.MCPConfig }

func (c mcpConfigCol) Scan(src any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("store: cannot scan %T into MCP settings", src)
	}
	if len(b) == 0 {
		*c.c = nil
		return nil
	}
	var cfg bulwark.MCPConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("store: bad stored MCP settings: %w", err)
	}
	*c.c = &cfg
	return nil
}

// CreateProxy validates and inserts p and sets its ID, CreatedAt and UpdatedAt.
func (db *DB) CreateProxy(ctx context.Context, p *bulwark.Proxy) error {
	if err := p.Validate(); err != nil {
		return err
	}
	at := now()
	var id int64
	args := append(proxyValues(p), ts(at), clean(p.UpdatedBy))
	err := db.w.QueryRowContext(ctx, `INSERT INTO proxies (name, description, type, provider, upstream_url,
		listen_addr, policies, credential, tags, enabled, auto_start, timeout_seconds, max_body_bytes, scan_responses,
		mcp_config, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
		$13, $14, $15, $16, $16, $17) RETURNING id`, args...).Scan(&id)
	if isUniqueViolation(err) {
		return conflict("proxy %q already exists", p.Name)
	}
	if err != nil {
		return wrap("create proxy", err)
	}
	p.ID, p.CreatedAt, p.UpdatedAt = id, at, at
	return nil
}

// GetProxy returns the proxy named name.
func (db *DB) GetProxy(ctx context.Context, name string) (*bulwark.Proxy, error) {
	p, err := scanProxy(db.r.QueryRowContext(ctx, `SELECT `+proxyCols+` FROM proxies WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("proxy %q not found", name)
	}
	if err != nil {
		return nil, wrap("get proxy", err)
	}
	return p, nil
}

// ListProxies returns every proxy ordered by name.
func (db *DB) ListProxies(ctx context.Context) ([]*bulwark.Proxy, error) {
	return queryAll(ctx, db.r, "list proxies", scanProxy, `SELECT `+proxyCols+` FROM proxies ORDER BY name`)
}

// UpdateProxy writes every field of p but CreatedAt when the proxy was last
// updated at ifUpdatedAt, and sets p.UpdatedAt. The proxy is identified by
// p.ID, or by p.Name when p.ID is 0; with an ID the name may change, and
// the proxy's MCP tools move to the new name in the same transaction.
func (db *DB) UpdateProxy(ctx context.Context, p *bulwark.Proxy, ifUpdatedAt time.Time) error {
	if err := p.Validate(); err != nil {
		return err
	}
	at := nextVersion(ifUpdatedAt)
	key, keyArg, what := "name", any(p.Name), fmt.Sprintf("proxy %q", p.Name)
	if p.ID != 0 {
		key, keyArg, what = "id", p.ID, fmt.Sprintf("proxy %d", p.ID)
	}
	args := append(proxyValues(p), ts(at), clean(p.UpdatedBy), keyArg, ts(ifUpdatedAt))
	err := wrap("update proxy", db.inTx(ctx, func(tx *sql.Tx) error {
		// The name at version ifUpdatedAt: versions only grow, so when the
		// UPDATE below matches, this is the name it replaces.
		var oldName string
		err := tx.QueryRowContext(ctx, `SELECT name FROM proxies WHERE `+key+` = $1 AND updated_at = $2`,
			keyArg, ts(ifUpdatedAt)).Scan(&oldName)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err = execVersioned(ctx, tx, what, fmt.Sprintf("proxy %q already exists", p.Name),
			`UPDATE proxies SET name = $1, description = $2, type = $3, provider = $4, upstream_url = $5,
			listen_addr = $6, policies = $7, credential = $8, tags = $9, enabled = $10, auto_start = $11,
			timeout_seconds = $12, max_body_bytes = $13, scan_responses = $14, mcp_config = $15, updated_at = $16,
			updated_by = $17 WHERE `+key+` = $18 AND updated_at = $19`, args,
			`SELECT 1 FROM proxies WHERE `+key+` = $1`, keyArg)
		if err != nil || oldName == "" || oldName == p.Name {
			return err
		}
		// Tools left under the new name (none while every tool belongs to a
		// proxy) must not pass to this proxy.
		if _, err := tx.ExecContext(ctx, `DELETE FROM mcp_tools WHERE proxy = $1`, p.Name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE mcp_tools SET proxy = $1 WHERE proxy = $2`, p.Name, oldName)
		return err
	}))
	if err != nil {
		return err
	}
	p.UpdatedAt = at
	return nil
}

// DeleteProxy removes the proxy named name and its MCP tools.
func (db *DB) DeleteProxy(ctx context.Context, name string) error {
	return wrap("delete proxy", db.inTx(ctx, func(tx *sql.Tx) error {
		// The proxy first: on PostgreSQL this waits for a CreateMCPTool that
		// holds the proxy row, so its tool is committed and deleted below.
		res, err := tx.ExecContext(ctx, `DELETE FROM proxies WHERE name = $1`, name)
		if err := mustAffect(res, err, "proxy %q", name); err != nil {
			return err
		}
		return deleteMCPTools(ctx, tx, name)
	}))
}

// --- groups ---

const groupCols = `id, name, description, proxies, requests_per_minute, tokens_per_minute, budget_usd,
	budget_warn_percent, budget_action, budget_reset_at, created_at, updated_at, updated_by`

func scanGroup(s scanner) (*bulwark.Group, error) {
	var g bulwark.Group
	var action string
	err := s.Scan(&g.ID, &g.Name, &g.Description, listCol{&g.Proxies}, &g.RequestsPerMinute, &g.TokensPerMinute,
		&g.BudgetUSD, &g.BudgetWarnPercent, &action, nullTimeCol{&g.BudgetResetAt}, timeCol{&g.CreatedAt},
		timeCol{&g.UpdatedAt}, &g.UpdatedBy)
	g.BudgetAction = bulwark.BudgetAction(action)
	return &g, err
}

// groupValues are the values of the columns name … budget_reset_at, in order.
func groupValues(g *bulwark.Group) []any {
	return []any{g.Name, clean(g.Description), jsonList(g.Proxies), g.RequestsPerMinute, g.TokensPerMinute,
		g.BudgetUSD, g.BudgetWarnPercent, string(g.BudgetAction), tsp(g.BudgetResetAt)}
}

// CreateGroup validates and inserts g and sets its ID, CreatedAt and UpdatedAt.
func (db *DB) CreateGroup(ctx context.Context, g *bulwark.Group) error {
	if err := g.Validate(); err != nil {
		return err
	}
	at := now()
	var id int64
	args := append(groupValues(g), ts(at), clean(g.UpdatedBy))
	err := db.w.QueryRowContext(ctx, `INSERT INTO client_groups (name, description, proxies, requests_per_minute,
		tokens_per_minute, budget_usd, budget_warn_percent, budget_action, budget_reset_at, created_at, updated_at,
		updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, $11) RETURNING id`, args...).Scan(&id)
	if isUniqueViolation(err) {
		return conflict("group %q already exists", g.Name)
	}
	if err != nil {
		return wrap("create group", err)
	}
	g.ID, g.CreatedAt, g.UpdatedAt = id, at, at
	return nil
}

// GetGroup returns the group with id.
func (db *DB) GetGroup(ctx context.Context, id int64) (*bulwark.Group, error) {
	g, err := scanGroup(db.r.QueryRowContext(ctx, `SELECT `+groupCols+` FROM client_groups WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("group %d not found", id)
	}
	if err != nil {
		return nil, wrap("get group", err)
	}
	return g, nil
}

// GetGroupByName returns the group named name.
func (db *DB) GetGroupByName(ctx context.Context, name string) (*bulwark.Group, error) {
	g, err := scanGroup(db.r.QueryRowContext(ctx, `SELECT `+groupCols+` FROM client_groups WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("group %q not found", name)
	}
	if err != nil {
		return nil, wrap("get group", err)
	}
	return g, nil
}

// ListGroups returns every group ordered by name.
func (db *DB) ListGroups(ctx context.Context) ([]*bulwark.Group, error) {
	return queryAll(ctx, db.r, "list groups", scanGroup, `SELECT `+groupCols+` FROM client_groups ORDER BY name`)
}

// UpdateGroup writes every field of the group with g.ID but CreatedAt when
// it was last updated at ifUpdatedAt, and sets g.UpdatedAt. The name may
// change; request records keep the name they were made under.
func (db *DB) UpdateGroup(ctx context.Context, g *bulwark.Group, ifUpdatedAt time.Time) error {
	if err := g.Validate(); err != nil {
		return err
	}
	at := nextVersion(ifUpdatedAt)
	args := append(groupValues(g), ts(at), clean(g.UpdatedBy), g.ID, ts(ifUpdatedAt))
	err := db.updateVersioned(ctx, "update group", fmt.Sprintf("group %d", g.ID),
		fmt.Sprintf("group %q already exists", g.Name),
		`UPDATE client_groups SET name = $1, description = $2, proxies = $3, requests_per_minute = $4,
		tokens_per_minute = $5, budget_usd = $6, budget_warn_percent = $7, budget_action = $8, budget_reset_at = $9,
		updated_at = $10, updated_by = $11 WHERE id = $12 AND updated_at = $13`, args,
		`SELECT 1 FROM client_groups WHERE id = $1`, g.ID)
	if err != nil {
		return err
	}
	g.UpdatedAt = at
	return nil
}

// DeleteGroup removes the group with its keys and budget spend; its request
// records stay.
func (db *DB) DeleteGroup(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM client_groups WHERE id = $1`, id)
	return wrap("delete group", mustAffect(res, err, "group %d", id))
}

// --- gateway keys ---

const gatewayKeyCols = `id, group_id, name, prefix, hash, user_name, user_email, requests_per_minute,
	tokens_per_minute, expires_at, revoked_at, last_used_at, created_at, created_by`

func scanGatewayKey(s scanner) (*bulwark.GatewayKey, error) {
	var k bulwark.GatewayKey
	err := s.Scan(&k.ID, &k.GroupID, &k.Name, &k.Prefix, &k.Hash, &k.User, &k.UserEmail, &k.RequestsPerMinute,
		&k.TokensPerMinute, nullTimeCol{&k.ExpiresAt}, nullTimeCol{&k.RevokedAt}, nullTimeCol{&k.LastUsedAt},
		timeCol{&k.CreatedAt}, &k.CreatedBy)
	return &k, err
}

// CreateGatewayKey validates and stores k and sets its ID (and CreatedAt
// when zero). The group must exist.
func (db *DB) CreateGatewayKey(ctx context.Context, k *bulwark.GatewayKey) error {
	created := k.CreatedAt
	if created.IsZero() {
		created = now()
	}
	created = normTime(created)
	if err := k.Validate(now()); err != nil {
		return err
	}
	if k.Hash == "" {
		return invalid("gateway key hash is required")
	}
	var id int64
	err := db.w.QueryRowContext(ctx, `INSERT INTO gateway_keys (group_id, name, prefix, hash, user_name, user_email,
		requests_per_minute, tokens_per_minute, expires_at, revoked_at, last_used_at, created_at, created_by)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id`,
		k.GroupID, clean(k.Name), clean(k.Prefix), k.Hash, clean(k.User), clean(k.UserEmail), k.RequestsPerMinute,
		k.TokensPerMinute, tsp(k.ExpiresAt), tsp(k.RevokedAt), tsp(k.LastUsedAt), ts(created), clean(k.CreatedBy)).Scan(&id)
	switch {
	case isUniqueViolation(err):
		return conflict("a gateway key with this hash already exists")
	case isForeignKeyViolation(err):
		return notFound("group %d not found", k.GroupID)
	case err != nil:
		return wrap("create gateway key", err)
	}
	k.ID, k.CreatedAt = id, created
	return nil
}

// GetGatewayKeyByHash returns the key whose hash is hash, revoked and
// expired keys included (the caller checks Active).
func (db *DB) GetGatewayKeyByHash(ctx context.Context, hash string) (*bulwark.GatewayKey, error) {
	k, err := scanGatewayKey(db.r.QueryRowContext(ctx, `SELECT `+gatewayKeyCols+` FROM gateway_keys WHERE hash = $1`, hash))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("gateway key not found")
	}
	if err != nil {
		return nil, wrap("get gateway key", err)
	}
	return k, nil
}

// ListGatewayKeys lists a group's keys, or all keys when groupID is 0,
// newest first.
func (db *DB) ListGatewayKeys(ctx context.Context, groupID int64) ([]*bulwark.GatewayKey, error) {
	var w where
	if groupID != 0 {
		w.add("group_id = " + w.arg(groupID))
	}
	return queryAll(ctx, db.r, "list gateway keys", scanGatewayKey,
		`SELECT `+gatewayKeyCols+` FROM gateway_keys`+w.String()+` ORDER BY created_at DESC, id DESC`, w.args...)
}

// RevokeGatewayKey revokes a key at time at. Revoking it again keeps the
// first revocation time.
func (db *DB) RevokeGatewayKey(ctx context.Context, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE gateway_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1`,
		id, ts(at))
	return wrap("revoke gateway key", mustAffect(res, err, "gateway key %d", id))
}

// TouchGatewayKeys sets LastUsedAt of several keys in one transaction. A
// time never moves LastUsedAt backwards (replicas flush their batches in
// any order), and keys deleted meanwhile are skipped.
func (db *DB) TouchGatewayKeys(ctx context.Context, lastUsed map[int64]time.Time) error {
	if len(lastUsed) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(lastUsed))
	for id := range lastUsed {
		ids = append(ids, id)
	}
	slices.Sort(ids) // one lock order for every writer: concurrent batches cannot deadlock
	return wrap("touch gateway keys", db.inTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE gateway_keys SET last_used_at = $2
			WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, id := range ids {
			if _, err := stmt.ExecContext(ctx, id, ts(lastUsed[id])); err != nil {
				return err
			}
		}
		return nil
	}))
}

// --- system prompts ---

const systemPromptCols = `id, name, description, template, priority, proxies, group_names, enabled, created_at,
	updated_at, updated_by`

func scanSystemPrompt(s scanner) (*bulwark.SystemPrompt, error) {
	var p bulwark.SystemPrompt
	err := s.Scan(&p.ID, &p.Name, &p.Description, &p.Template, &p.Priority, listCol{&p.Proxies}, listCol{&p.Groups},
		&p.Enabled, timeCol{&p.CreatedAt}, timeCol{&p.UpdatedAt}, &p.UpdatedBy)
	return &p, err
}

// systemPromptValues are the values of the columns name … enabled, in order.
func systemPromptValues(s *bulwark.SystemPrompt) []any {
	return []any{s.Name, clean(s.Description), clean(s.Template), s.Priority, jsonList(s.Proxies),
		jsonList(s.Groups), s.Enabled}
}

// CreateSystemPrompt validates and inserts s and sets its ID, CreatedAt and
// UpdatedAt.
func (db *DB) CreateSystemPrompt(ctx context.Context, s *bulwark.SystemPrompt) error {
	if err := s.Validate(); err != nil {
		return err
	}
	at := now()
	var id int64
	args := append(systemPromptValues(s), ts(at), clean(s.UpdatedBy))
	err := db.w.QueryRowContext(ctx, `INSERT INTO system_prompts (name, description, template, priority, proxies,
		group_names, enabled, created_at, updated_at, updated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, $9)
		RETURNING id`, args...).Scan(&id)
	if isUniqueViolation(err) {
		return conflict("system prompt %q already exists", s.Name)
	}
	if err != nil {
		return wrap("create system prompt", err)
	}
	s.ID, s.CreatedAt, s.UpdatedAt = id, at, at
	return nil
}

// GetSystemPrompt returns the system prompt with id.
func (db *DB) GetSystemPrompt(ctx context.Context, id int64) (*bulwark.SystemPrompt, error) {
	p, err := scanSystemPrompt(db.r.QueryRowContext(ctx, `SELECT `+systemPromptCols+` FROM system_prompts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("system prompt %d not found", id)
	}
	if err != nil {
		return nil, wrap("get system prompt", err)
	}
	return p, nil
}

// ListSystemPrompts returns every system prompt, highest priority first,
// then by name.
func (db *DB) ListSystemPrompts(ctx context.Context) ([]*bulwark.SystemPrompt, error) {
	return queryAll(ctx, db.r, "list system prompts", scanSystemPrompt,
		`SELECT `+systemPromptCols+` FROM system_prompts ORDER BY priority DESC, name`)
}

// UpdateSystemPrompt writes every field of the prompt with s.ID but
// CreatedAt when it was last updated at ifUpdatedAt, and sets s.UpdatedAt.
func (db *DB) UpdateSystemPrompt(ctx context.Context, s *bulwark.SystemPrompt, ifUpdatedAt time.Time) error {
	if err := s.Validate(); err != nil {
		return err
	}
	at := nextVersion(ifUpdatedAt)
	args := append(systemPromptValues(s), ts(at), clean(s.UpdatedBy), s.ID, ts(ifUpdatedAt))
	err := db.updateVersioned(ctx, "update system prompt", fmt.Sprintf("system prompt %d", s.ID),
		fmt.Sprintf("system prompt %q already exists", s.Name),
		`UPDATE system_prompts SET name = $1, description = $2, template = $3, priority = $4, proxies = $5,
		group_names = $6, enabled = $7, updated_at = $8, updated_by = $9 WHERE id = $10 AND updated_at = $11`, args,
		`SELECT 1 FROM system_prompts WHERE id = $1`, s.ID)
	if err != nil {
		return err
	}
	s.UpdatedAt = at
	return nil
}

// DeleteSystemPrompt removes the system prompt with id.
func (db *DB) DeleteSystemPrompt(ctx context.Context, id int64) error {
	res, err := db.w.ExecContext(ctx, `DELETE FROM system_prompts WHERE id = $1`, id)
	return wrap("delete system prompt", mustAffect(res, err, "system prompt %d", id))
}

// queryAll runs a query on q and scans every row with scan.
func queryAll[T any](ctx context.Context, q interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}, op string, scan func(scanner) (*T, error), query string, args ...any) ([]*T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	var out []*T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, v)
	}
	return out, wrap(op, rows.Err())
}
