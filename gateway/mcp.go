package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/bulwarkhq/bulwark/inspect"
	"github.com/bulwarkhq/bulwark/inspect/access"
	"github.com/bulwarkhq/bulwark/inspect/policy"
	"github.com/bulwarkhq/bulwark/inspect/toolguard"
	"github.com/bulwarkhq/bulwark/proxy/mcp"
)

// DefaultMCPRescan is how often an MCP server's listings are checked again
// between client sessions, when the proxy does not set its own interval.
const DefaultMCPRescan = 15 * time.Minute

// toolRefresh bounds how stale the cached approval state may be on a
// replica that did not make the change itself.
const toolRefresh = 5 * time.Second

// mcpRegistry is the gateway side of one MCP proxy: the tool registry
// (discovery, approval, pinning, quarantine), the proxy's policies for
// arguments and results, and the records. It implements mcp.Hooks.
type mcpRegistry struct {
	g      *Gateway
	proxy  *bulwark.Proxy
	policy *policy.Stage
	poison func(json.RawMessage) ([]bulwark.Finding, error)
	engine *detect.Engine

	reconcile sync.Mutex // one reconciliation at a time per proxy

	mu       sync.Mutex
	tools    map[string]*bulwark.MCPTool // kind + "\x00" + name
	loadedAt time.Time
	limiters map[int64]*rate.Limiter
	counts   map[int64][2]int64
	trifecta string // last trifecta warning published, to publish once per change
}

func toolKey(kind bulwark.ToolKind, name string) string { return string(kind) + "\x00" + name }

func newMCPRegistry(g *Gateway, p *bulwark.Proxy, e *detect.Engine) *mcpRegistry {
	r := &mcpRegistry{g: g, proxy: p, engine: e, limiters: map[int64]*rate.Limiter{}, counts: map[int64][2]int64{}}
	if e != nil {
		r.policy = policy.New(e, bulwark.ProtocolMCP)
		r.poison = toolguard.NewScanner(e)
	}
	return r
}

// load refreshes the cached tools from the store when stale (or forced).
func (r *mcpRegistry) load(ctx context.Context, force bool) error {
	r.mu.Lock()
	fresh := !force && time.Since(r.loadedAt) < toolRefresh && r.tools != nil
	r.mu.Unlock()
	if fresh {
		return nil
	}
	list, err := r.g.o.Store.ListMCPTools(ctx, r.proxy.Name)
	if err != nil {
		return err
	}
	m := make(map[string]*bulwark.MCPTool, len(list))
	for _, t := range list {
		m[toolKey(t.Kind, t.Name)] = t
	}
	r.mu.Lock()
	r.tools, r.loadedAt = m, time.Now()
	r.mu.Unlock()
	return nil
}

func (r *mcpRegistry) snapshot(kind bulwark.ToolKind) []*bulwark.MCPTool {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]*bulwark.MCPTool, 0, len(r.tools))
	for _, t := range r.tools {
		if t.Kind == kind {
			out = append(out, t)
		}
	}
	return out
}

// Listed implements mcp.Hooks: it reconciles the listing with the stored
// tools, saves the changes, raises the events and returns what the client
// may see.
func (r *mcpRegistry) Listed(ctx context.Context, kind bulwark.ToolKind, items []json.RawMessage, complete bool, c mcp.Client) (map[string]bool, error) {
	r.reconcile.Lock()
	defer r.reconcile.Unlock()
	if err := r.load(ctx, true); err != nil {
		return nil, err
	}
	var cfg bulwark.MCPConfig
	if r.proxy.MCP != nil {
		cfg = *r.proxy.MCP
	}
	known := r.snapshot(kind)
	if !complete {
		// One page (or one of the resource listings): compare only what it
		// lists, so the rest is not taken for removed.
		listed := map[string]bool{}
		for _, it := range items {
			if _, name, err := toolguard.Canonical(kind, it); err == nil {
				listed[name] = true
			}
		}
		kept := known[:0:0]
		for _, t := range known {
			if listed[t.Name] {
				kept = append(kept, t)
			}
		}
		known = kept
	}
	res, err := toolguard.Reconcile(r.proxy.Name, kind, items, known,
		toolguard.Options{AutoApprove: cfg.AutoApprove, Scan: r.poison, LastSeenEvery: time.Hour}, r.g.o.Now())
	if err != nil {
		return nil, err
	}
	for _, t := range res.Create {
		if err := r.g.o.Store.CreateMCPTool(ctx, t); err != nil && bulwark.ErrorCodeOf(err) != bulwark.CodeConflict {
			return nil, err
		}
	}
	for _, t := range res.Update {
		if err := r.g.o.Store.UpdateMCPTool(ctx, t, t.UpdatedAt); err != nil && bulwark.ErrorCodeOf(err) != bulwark.CodeConflict {
			return nil, err
		}
	}
	for _, ch := range res.Events {
		r.g.rec.publish(r.changeEvent(ch))
	}
	if err := r.load(ctx, true); err != nil {
		return nil, err
	}
	if kind == bulwark.KindTool {
		r.checkTrifecta()
	}
	return toolguard.Filter(r.snapshot(kind), c.GroupName()), nil
}

func (r *mcpRegistry) changeEvent(ch toolguard.Change) bulwark.Event {
	t := ch.Tool
	sev, subject := bulwark.SeverityLow, ""
	switch ch.Type {
	case toolguard.ChangeAdded:
		sev = bulwark.SeverityMedium
		subject = fmt.Sprintf("New MCP %s %s on proxy %s awaits approval", t.Kind, t.Name, r.proxy.Name)
		if t.Status == bulwark.ToolApproved {
			sev, subject = bulwark.SeverityLow, fmt.Sprintf("New MCP %s %s on proxy %s was auto-approved", t.Kind, t.Name, r.proxy.Name)
		}
	case toolguard.ChangeChanged:
		sev = bulwark.SeverityMedium
		subject = fmt.Sprintf("MCP %s %s on proxy %s changed", t.Kind, t.Name, r.proxy.Name)
		if t.Status == bulwark.ToolQuarantined {
			sev = bulwark.SeverityHigh
			subject = fmt.Sprintf("MCP %s %s on proxy %s changed after approval and is quarantined", t.Kind, t.Name, r.proxy.Name)
		}
	case toolguard.ChangeRemoved:
		subject = fmt.Sprintf("MCP %s %s is no longer offered by proxy %s", t.Kind, t.Name, r.proxy.Name)
	case toolguard.ChangeReappeared:
		sev = bulwark.SeverityMedium
		subject = fmt.Sprintf("MCP %s %s is offered again by proxy %s (%s)", t.Kind, t.Name, r.proxy.Name, t.Status)
	}
	for _, f := range ch.Findings {
		if f.Severity.Rank() > sev.Rank() {
			sev = f.Severity
		}
	}
	return bulwark.Event{
		Type: bulwark.EventAlert, Action: "mcp_tool." + string(ch.Type), Severity: sev,
		Category: string(bulwark.CategoryMCPToolChanges), Actor: r.proxy.Name, Subject: subject,
		Data: mustJSON(map[string]any{"proxy": r.proxy.Name, "kind": t.Kind, "tool": t.Name, "tool_id": t.ID,
			"status": t.Status, "hash": t.Hash, "pinned_hash": t.PinnedHash, "diff": ch.Diff, "findings": ch.Findings}),
	}
}

// checkTrifecta warns once per distinct combination of risky tools.
func (r *mcpRegistry) checkTrifecta() {
	a := toolguard.Trifecta(r.snapshot(bulwark.KindTool))
	r.mu.Lock()
	prev := r.trifecta
	if a.Warning {
		r.trifecta = a.Message
	} else {
		r.trifecta = ""
	}
	r.mu.Unlock()
	if !a.Warning || a.Message == prev {
		return
	}
	r.g.rec.publish(bulwark.Event{
		Type: bulwark.EventAlert, Action: "mcp.lethal_trifecta", Severity: bulwark.SeverityHigh,
		Category: string(bulwark.CategoryToolSecurity), Actor: r.proxy.Name,
		Subject: "Proxy " + r.proxy.Name + ": " + a.Message,
		Data:    mustJSON(map[string]any{"proxy": r.proxy.Name, "private": a.Private, "untrusted": a.Untrusted, "exfil": a.Exfil, "why": a.Why}),
	})
}

// Check implements mcp.Hooks.
func (r *mcpRegistry) Check(ctx context.Context, kind bulwark.ToolKind, name string, c mcp.Client) *mcp.Refusal {
	if err := r.load(ctx, false); err != nil {
		r.g.log.Error("mcp tools unreadable", "proxy", r.proxy.Name, "err", err)
		return &mcp.Refusal{Code: mcp.CodeGatewayError, Message: "The gateway could not check this tool's approval, so the call was refused."}
	}
	r.mu.Lock()
	t := r.tools[toolKey(kind, name)]
	if t == nil && kind == bulwark.KindResource {
		t = r.templateFor(name)
	}
	var lim *rate.Limiter
	if t != nil && t.CallsPerMinute > 0 {
		lim = r.limiters[t.ID]
		if lim == nil || lim.Burst() != t.CallsPerMinute {
			lim = rate.NewLimiter(rate.Limit(float64(t.CallsPerMinute)/60), t.CallsPerMinute)
			r.limiters[t.ID] = lim
		}
	}
	r.mu.Unlock()
	switch {
	case t == nil:
		return &mcp.Refusal{Code: mcp.CodeToolNotApproved, Message: fmt.Sprintf("Unknown %s %q: it is not offered through this gateway.", kind, name)}
	case t.Removed:
		return &mcp.Refusal{Code: mcp.CodeToolNotApproved, Message: fmt.Sprintf("The %s %q is no longer offered by the server.", kind, name)}
	case t.Status != bulwark.ToolApproved || !t.Callable():
		return &mcp.Refusal{Code: mcp.CodeToolNotApproved, Message: fmt.Sprintf("The %s %q is %s on this gateway: an operator must approve it before it can be used.", kind, name, t.Status)}
	case !t.AllowsGroup(c.GroupName()):
		return &mcp.Refusal{Code: mcp.CodeToolNotApproved, Message: fmt.Sprintf("Group %q may not use the %s %q.", c.GroupName(), kind, name)}
	case lim != nil && !lim.Allow():
		return &mcp.Refusal{Code: mcp.CodeRateLimited, Message: fmt.Sprintf("Rate limit of the %s %q reached: %d calls per minute.", kind, name, t.CallsPerMinute)}
	}
	return nil
}

// templateFor finds an approved resource template that a concrete URI was
// read through (a template's URI pattern is its name). Called with r.mu held.
func (r *mcpRegistry) templateFor(uri string) *bulwark.MCPTool {
	for _, t := range r.tools {
		if t.Kind == bulwark.KindResource && matchTemplate(t.Name, uri) {
			return t
		}
	}
	return nil
}

// matchTemplate reports whether uri fits an RFC 6570 level-1 template
// (literal text with {var} segments that match anything but "/").
func matchTemplate(tmpl, uri string) bool {
	for tmpl != "" {
		i := indexByte(tmpl, '{')
		if i < 0 {
			return tmpl == uri
		}
		if len(uri) < i || uri[:i] != tmpl[:i] {
			return false
		}
		uri, tmpl = uri[i:], tmpl[i:]
		j := indexByte(tmpl, '}')
		if j < 0 {
			return false
		}
		tmpl = tmpl[j+1:]
		// The variable takes everything up to the next literal byte.
		stop := byte('/')
		if tmpl != "" {
			stop = tmpl[0]
		}
		k := 0
		for k < len(uri) && uri[k] != stop && uri[k] != '/' {
			k++
		}
		if k == 0 {
			return false
		}
		uri = uri[k:]
	}
	return uri == ""
}

func indexByte(s string, b byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == b {
			return i
		}
	}
	return -1
}

// Scan implements mcp.Hooks with the proxy's policies.
func (r *mcpRegistry) Scan(ctx context.Context, _ bulwark.Surface, doc inspect.Doc, redact bool, call *mcp.Call) error {
	if r.policy == nil {
		return nil
	}
	x := &inspect.Exchange{Proxy: r.proxy.Name, Protocol: bulwark.ProtocolMCP, Group: call.Client.Group, Key: call.Client.Key}
	err := r.policy.Scan(ctx, x, doc, redact)
	call.Findings = append(call.Findings, x.Findings...)
	if err == nil && x.Verdict != "" && x.Verdict != bulwark.VerdictAllow && call.Verdict == bulwark.VerdictAllow {
		call.Verdict = x.Verdict
	}
	return err
}

// Instructions implements mcp.Hooks: the server's instructions reach the
// model like a tool description, so they are scanned for poisoning.
func (r *mcpRegistry) Instructions(_ context.Context, text string) {
	if r.engine == nil {
		return
	}
	fs, err := toolguard.ScanInstructions(r.engine, text)
	if err != nil || len(fs) == 0 {
		return
	}
	lead := fs[0]
	for _, f := range fs[1:] {
		if f.Severity.Rank() > lead.Severity.Rank() {
			lead = f
		}
	}
	r.g.rec.publish(bulwark.Event{
		Type: bulwark.EventAlert, Action: "mcp.instructions_finding", Severity: lead.Severity,
		Category: string(bulwark.CategoryToolSecurity), Actor: r.proxy.Name,
		Subject: fmt.Sprintf("The instructions of MCP proxy %s match %s (%s)", r.proxy.Name, lead.RuleID, lead.Title),
		Data:    mustJSON(map[string]any{"proxy": r.proxy.Name, "findings": fs}),
	})
}

// Done implements mcp.Hooks: counts, request records and alerts.
func (r *mcpRegistry) Done(call *mcp.Call) {
	r.mu.Lock()
	var id int64
	if t := r.tools[toolKey(call.Kind, call.Name)]; t != nil {
		id = t.ID
		c := r.counts[id]
		c[0]++
		if call.Verdict == bulwark.VerdictBlock {
			c[1]++
		}
		r.counts[id] = c
	}
	r.mu.Unlock()
	rec := &bulwark.RequestRecord{
		RequestID: call.Session, At: call.Start.UTC(), Proxy: r.proxy.Name, Model: call.Name,
		API: "mcp." + string(call.Kind), Path: string(call.Kind) + "/" + call.Name, Status: 200, Verdict: call.Verdict,
		RuleID: call.RuleID, Findings: len(call.Findings), LatencyMs: float64(call.Duration.Microseconds()) / 1000,
		Error: call.Error,
	}
	switch call.Verdict {
	case bulwark.VerdictBlock:
		rec.Status = 403
	case bulwark.VerdictDeny:
		rec.Status = 403
	case bulwark.VerdictError:
		rec.Status = 502
	}
	if rec.RuleID == "" && len(call.Findings) > 0 {
		rec.RuleID = call.Findings[0].RuleID
	}
	x := &inspect.Exchange{Group: call.Client.Group, Key: call.Client.Key, Findings: call.Findings}
	if call.Verdict == bulwark.VerdictBlock {
		for i := range call.Findings {
			if call.Findings[i].RuleID == call.RuleID {
				x.Blocked = &inspect.Block{RuleID: call.RuleID, Finding: &call.Findings[i]}
				break
			}
		}
	}
	if c := call.Client.Group; c != nil {
		rec.GroupID, rec.Group = c.ID, c.Name
	}
	if k := call.Client.Key; k != nil {
		rec.KeyID, rec.User = k.ID, k.User
		if rec.User == "" {
			rec.User = k.Name
		}
	}
	r.g.done(r.proxy.Name, x, rec)
}

// flushCounts writes the call counts gathered since the last flush.
func (r *mcpRegistry) flushCounts(ctx context.Context) {
	r.mu.Lock()
	counts := r.counts
	r.counts = map[int64][2]int64{}
	r.mu.Unlock()
	if len(counts) == 0 {
		return
	}
	if err := r.g.o.Store.AddMCPToolCalls(ctx, counts); err != nil {
		r.g.log.Warn("mcp call counts not stored", "proxy", r.proxy.Name, "err", err)
	}
}

// rescan lists the server's tools, prompts and resources with the
// gateway's own short session, so new and changed definitions are caught
// even while no client is connected.
func (r *mcpRegistry) rescan(ctx context.Context, dial mcp.Upstream) error {
	conn, err := dial(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	call := func(id int64, method string, params any) (json.RawMessage, error) {
		p, _ := json.Marshal(params)
		jid, err := jsonrpc.MakeID(fmt.Sprintf("bulwark-rescan-%d", id))
		if err != nil {
			return nil, err
		}
		if err := conn.Write(ctx, &jsonrpc.Request{ID: jid, Method: method, Params: p}); err != nil {
			return nil, err
		}
		for {
			msg, err := conn.Read(ctx)
			if err != nil {
				return nil, err
			}
			if resp, ok := msg.(*jsonrpc.Response); ok && resp.ID == jid {
				if resp.Error != nil {
					return nil, resp.Error
				}
				return resp.Result, nil
			}
		}
	}
	initRes, err := call(1, "initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "bulwark-rescan", "version": "1"}})
	if err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	if err := conn.Write(ctx, &jsonrpc.Request{Method: "notifications/initialized", Params: json.RawMessage(`{}`)}); err != nil {
		return err
	}
	var caps struct {
		Capabilities struct {
			Tools, Prompts, Resources json.RawMessage
		} `json:"capabilities"`
		Instructions string `json:"instructions"`
	}
	_ = json.Unmarshal(initRes, &caps)
	if caps.Instructions != "" {
		r.Instructions(ctx, caps.Instructions)
	}
	lists := []struct {
		method, field string
		kind          bulwark.ToolKind
		offered       bool
	}{
		{"tools/list", "tools", bulwark.KindTool, caps.Capabilities.Tools != nil},
		{"prompts/list", "prompts", bulwark.KindPrompt, caps.Capabilities.Prompts != nil},
		{"resources/list", "resources", bulwark.KindResource, caps.Capabilities.Resources != nil},
		{"resources/templates/list", "resourceTemplates", bulwark.KindResource, caps.Capabilities.Resources != nil},
	}
	// Resources and resource templates are one kind: reconcile them together.
	var resources []json.RawMessage
	id := int64(2)
	for _, l := range lists {
		if !l.offered {
			continue
		}
		var items []json.RawMessage
		cursor := ""
		for page := 0; page < 100; page++ {
			params := map[string]any{}
			if cursor != "" {
				params["cursor"] = cursor
			}
			res, err := call(id, l.method, params)
			id++
			if err != nil {
				return fmt.Errorf("%s: %w", l.method, err)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(res, &body); err != nil {
				return fmt.Errorf("%s: %w", l.method, err)
			}
			var got []json.RawMessage
			_ = json.Unmarshal(body[l.field], &got)
			items = append(items, got...)
			cursor = ""
			_ = json.Unmarshal(body["nextCursor"], &cursor)
			if cursor == "" {
				break
			}
		}
		if l.kind == bulwark.KindResource {
			resources = append(resources, items...)
			continue
		}
		if _, err := r.Listed(ctx, l.kind, items, true, mcp.Client{}); err != nil {
			return fmt.Errorf("%s: %w", l.method, err)
		}
	}
	if caps.Capabilities.Resources != nil {
		if _, err := r.Listed(ctx, bulwark.KindResource, resources, true, mcp.Client{}); err != nil {
			return fmt.Errorf("resources: %w", err)
		}
	}
	return nil
}

// mcpRuntime is the part of an MCP proxy that outlives handler rebuilds:
// the client sessions stay on their handler until they end.
type mcpRuntime struct {
	handler  *mcp.Handler
	registry *mcpRegistry
	mux      *mcp.Mux // the shared stdio server, when one process serves the proxy
	muxKey   string
	stop     chan struct{}
	done     chan struct{}
}

// buildMCP builds (or reconfigures) the handler of an MCP proxy.
func (g *Gateway) buildMCP(ctx context.Context, p *bulwark.Proxy, in *instance, e *detect.Engine) (http.Handler, error) {
	if p.MCP == nil {
		return nil, errors.New("the proxy has no MCP settings")
	}
	cred, err := g.credential(p)
	if err != nil {
		return nil, err
	}
	hdr := http.Header{}
	if cred != "" {
		hdr.Set("Authorization", "Bearer "+cred)
	}
	cfg := *p.MCP
	dial := func(ctx context.Context) (sdk.Connection, error) {
		dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		return g.mcpDialer.Dial(dctx, p.Name, &cfg, p.UpstreamURL, hdr)
	}
	in.mu.Lock()
	rt := in.mcp
	in.mu.Unlock()
	// A stdio server runs once per proxy unless configured per session:
	// the sessions share it through a mux. It is kept across rebuilds
	// while the server's own settings stay the same.
	var mux *mcp.Mux
	if cfg.Transport == bulwark.MCPStdio && !cfg.ProcessPerSession {
		key := muxKey(&cfg)
		if rt != nil && rt.mux != nil && rt.muxKey == key {
			mux = rt.mux
		} else {
			mux = mcp.NewMux(dial, g.log.With("proxy", p.Name))
			if rt != nil && rt.mux != nil {
				rt.mux.Close()
			}
		}
		if rt != nil {
			rt.mux, rt.muxKey = mux, key
		}
		dial = mux.Open
	} else if rt != nil && rt.mux != nil {
		rt.mux.Close()
		rt.mux = nil
	}
	reg := newMCPRegistry(g, p, e)
	hc := mcp.HandlerConfig{
		Proxy: p, Auth: &access.Stage{Keys: g.keys, Now: g.o.Now}, Upstream: dial, Hooks: reg,
		Log: g.log.With("proxy", p.Name), MaxMessageBytes: p.MaxBodyBytes,
		Dropped: func(_, reason string) { g.metrics.mcpDropped.WithLabelValues(p.Name, reason).Inc() },
	}
	if rt != nil {
		rt.handler.Reconfigure(hc)
		rt.stopLoops()
	} else {
		rt = &mcpRuntime{handler: mcp.NewHandler(hc)}
		if mux != nil {
			rt.mux, rt.muxKey = mux, muxKey(&cfg)
		}
	}
	rt.registry = reg
	rt.startLoops(g, p, dial)
	in.mu.Lock()
	in.mcp = rt
	in.mu.Unlock()
	return rt.handler, nil
}

// startLoops runs the rescan and count-flush loop of an MCP proxy.
func (rt *mcpRuntime) startLoops(g *Gateway, p *bulwark.Proxy, dial mcp.Upstream) {
	rt.stop, rt.done = make(chan struct{}), make(chan struct{})
	every := DefaultMCPRescan
	if s := p.MCP.RescanSeconds; s > 0 {
		every = time.Duration(s) * time.Second
	}
	reg, stop, done := rt.registry, rt.stop, rt.done
	go func() {
		defer close(done)
		scan := func() {
			if p.MCP.RescanSeconds < 0 {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if err := reg.rescan(ctx, dial); err != nil {
				g.log.Warn("mcp rescan failed", "proxy", p.Name, "err", err)
			}
		}
		scan() // discover at start, so operators see pending tools before any client connects
		rescan := time.NewTicker(every)
		flush := time.NewTicker(2 * time.Second)
		idle := time.NewTicker(time.Minute)
		defer rescan.Stop()
		defer flush.Stop()
		defer idle.Stop()
		for {
			select {
			case <-stop:
				reg.flushCounts(context.Background())
				return
			case <-rescan.C:
				scan()
			case <-flush.C:
				reg.flushCounts(context.Background())
				g.metrics.mcpSessions.WithLabelValues(p.Name).Set(float64(rt.handler.Sessions()))
			case now := <-idle.C:
				rt.handler.Expire(now)
			}
		}
	}()
}

func (rt *mcpRuntime) stopLoops() {
	if rt.stop != nil {
		close(rt.stop)
		<-rt.done
		rt.stop = nil
	}
}

// close ends the sessions and loops of a stopped or deleted MCP proxy.
func (rt *mcpRuntime) close() {
	rt.stopLoops()
	rt.handler.Close()
	if rt.mux != nil {
		rt.mux.Close()
	}
}

// muxKey identifies the settings that start a stdio server.
func muxKey(c *bulwark.MCPConfig) string {
	b, _ := json.Marshal([]any{c.Transport, c.Command, c.Args, c.Env, c.Dir})
	return string(b)
}

// MCPToolsChanged makes an MCP proxy re-read its tools' approval state at
// once (after an operator approved, denied or edited a tool).
func (g *Gateway) MCPToolsChanged(ctx context.Context, proxy string) {
	g.mu.Lock()
	in := g.instances[proxy]
	g.mu.Unlock()
	if in == nil {
		return
	}
	in.mu.Lock()
	rt := in.mcp
	in.mu.Unlock()
	if rt != nil && rt.registry != nil {
		if err := rt.registry.load(ctx, true); err == nil {
			rt.registry.checkTrifecta()
		}
	}
}
