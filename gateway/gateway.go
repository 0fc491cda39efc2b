// Package gateway is the proxy supervisor: it builds each stored proxy's
// handler and inspection chain, runs it on its own listener or mounted at
// /p/{name}/ on the main port, starts, stops and restarts it, hot-reloads
// it when its configuration (or a policy, group or system prompt it uses)
// changes without dropping requests in flight, reports its status as events,
// and keeps per-proxy statistics. Requests end in Done, which records usage,
// settles budgets and raises alerts.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/bulwarkhq/bulwark/inspect/budget"
	"github.com/bulwarkhq/bulwark/proxy/mcp"
	"github.com/bulwarkhq/bulwark/secret"
	"github.com/bulwarkhq/bulwark/usage"
)

// Store is what the gateway reads and writes.
type Store interface {
	ListProxies(ctx context.Context) ([]*bulwark.Proxy, error)
	GetProxy(ctx context.Context, name string) (*bulwark.Proxy, error)
	UpdateProxy(ctx context.Context, p *bulwark.Proxy, ifUpdatedAt time.Time) error
	GetGroup(ctx context.Context, id int64) (*bulwark.Group, error)
	GetGatewayKeyByHash(ctx context.Context, hash string) (*bulwark.GatewayKey, error)
	TouchGatewayKeys(ctx context.Context, lastUsed map[int64]time.Time) error
	ListSystemPrompts(ctx context.Context) ([]*bulwark.SystemPrompt, error)
	ListPolicies(ctx context.Context) ([]*bulwark.StoredPolicy, error)
	RecordRequests(ctx context.Context, recs []*bulwark.RequestRecord) error
	GroupSpend(ctx context.Context, groupID int64, period time.Time) (float64, error)
	CreateMCPTool(ctx context.Context, t *bulwark.MCPTool) error
	ListMCPTools(ctx context.Context, proxy string) ([]*bulwark.MCPTool, error)
	UpdateMCPTool(ctx context.Context, t *bulwark.MCPTool, ifUpdatedAt time.Time) error
	AddMCPToolCalls(ctx context.Context, counts map[int64][2]int64) error
}

// Publisher stores events on the event path.
type Publisher interface {
	Publish(ctx context.Context, ev bulwark.Event) (bulwark.Event, error)
}

// Options configure a Gateway.
type Options struct {
	Store   Store
	Keyring *secret.Keyring
	Events  Publisher
	Log     *slog.Logger
	// Registerer receives the per-proxy metrics (nil: not registered).
	Registerer prometheus.Registerer
	Prices     *usage.PriceTable
	// Classifier is the learned detector passed to every policy engine.
	Classifier detect.Classifier
	// Organization returns the value of {{.Organization}} in system prompts.
	Organization func() string
	// BudgetLocation is the time zone of budget months (UTC when nil).
	BudgetLocation *time.Location
	DefaultTimeout time.Duration // per upstream exchange; default 10 minutes
	DefaultMaxBody int64         // per request body; default 10 MiB
	// SyncInterval is how often stored configuration is compared with the
	// running one, to pick up changes made through other replicas (default 10s).
	SyncInterval time.Duration
	// Transport reaches upstreams (default: a tuned clone of http.DefaultTransport).
	Transport http.RoundTripper
	// MCPAllowedCommands are the programs stdio MCP servers may run (bare
	// names resolved on PATH, or absolute paths); empty allows absolute paths only.
	MCPAllowedCommands []string
	// Tracer traces proxied requests (nil: no tracing).
	Tracer trace.TracerProvider
	Now    func() time.Time
}

// State is a proxy's run state.
type State string

// States.
const (
	StateRunning State = "running"
	StateStopped State = "stopped"
	StateError   State = "error"
)

// Status is a proxy's run state as reported to operators.
type Status struct {
	State  State
	Reason string // why it is in error, or stopped
	Since  time.Time
	// Addr is the listener's address, or the mount path on the main port.
	Addr string
}

// Gateway runs the stored proxies.
type Gateway struct {
	o       Options
	log     *slog.Logger
	metrics *metrics
	engines detect.EngineCache
	ledger  *budget.Ledger
	keys    *keyCache
	rec     *recorder

	mcpDialer *mcp.Dialer

	mu        sync.Mutex
	instances map[string]*instance
	builtin   *detect.Registry

	stopSync chan struct{}
	syncDone chan struct{}
	closed   atomic.Bool
}

// New returns a gateway; Start runs its proxies.
func New(o Options) (*Gateway, error) {
	if o.Store == nil {
		return nil, errors.New("gateway: a store is required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.DefaultTimeout <= 0 {
		o.DefaultTimeout = 10 * time.Minute
	}
	if o.DefaultMaxBody <= 0 {
		o.DefaultMaxBody = 10 << 20
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = 10 * time.Second
	}
	if o.Prices == nil {
		o.Prices = usage.Builtin()
	}
	if o.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConns = 1024
		t.MaxIdleConnsPerHost = 256
		t.ForceAttemptHTTP2 = true
		o.Transport = t
	}
	builtin, err := detect.BuiltinRegistry()
	if err != nil {
		return nil, fmt.Errorf("gateway: built-in policies: %w", err)
	}
	g := &Gateway{
		o:         o,
		log:       o.Log,
		metrics:   newMetrics(o.Registerer),
		instances: map[string]*instance{},
		builtin:   builtin,
	}
	g.ledger = budget.NewLedger(budget.Options{Spend: o.Store, Location: o.BudgetLocation, Notify: g.budgetNotice, Now: o.Now})
	g.keys = newKeyCache(o.Store, o.Now)
	g.rec = newRecorder(g)
	g.mcpDialer = &mcp.Dialer{Log: o.Log.With("component", "mcp-upstream"), AllowedCommands: o.MCPAllowedCommands}
	return g, nil
}

// Start starts every enabled proxy and the background loops. A proxy that
// fails to start is reported in its status; it does not stop the others.
func (g *Gateway) Start(ctx context.Context) error {
	list, err := g.o.Store.ListProxies(ctx)
	if err != nil {
		return fmt.Errorf("gateway: list proxies: %w", err)
	}
	for _, p := range list {
		if p.Enabled && !p.AutoStart {
			// Auto-start is off: this process leaves the proxy stopped until
			// an operator starts it (the stored desired state is unchanged,
			// so other replicas are not affected).
			g.mu.Lock()
			in := newInstance(p.Name)
			in.held = true
			g.instances[p.Name] = in
			g.mu.Unlock()
		}
		g.apply(ctx, p)
	}
	g.rec.start()
	g.keys.start(g.o.Store)
	g.stopSync, g.syncDone = make(chan struct{}), make(chan struct{})
	go g.syncLoop()
	return nil
}

// Shutdown stops the listeners (letting requests in flight finish until ctx
// ends), then flushes the request log.
func (g *Gateway) Shutdown(ctx context.Context) error {
	if !g.closed.CompareAndSwap(false, true) {
		return nil
	}
	if g.stopSync != nil {
		close(g.stopSync)
		<-g.syncDone
	}
	g.mu.Lock()
	insts := make([]*instance, 0, len(g.instances))
	for _, in := range g.instances {
		insts = append(insts, in)
	}
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, in := range insts {
		wg.Add(1)
		go func() { defer wg.Done(); in.closeMCP(); in.stopListener(ctx) }()
	}
	wg.Wait()
	g.keys.stop()
	return g.rec.stop(ctx)
}

// CloseSessions ends every MCP client session, so that a graceful
// shutdown of the main listener does not wait for their open streams
// (register it with http.Server.RegisterOnShutdown).
func (g *Gateway) CloseSessions() {
	g.mu.Lock()
	insts := make([]*instance, 0, len(g.instances))
	for _, in := range g.instances {
		insts = append(insts, in)
	}
	g.mu.Unlock()
	for _, in := range insts {
		in.mu.Lock()
		rt := in.mcp
		in.mu.Unlock()
		if rt != nil {
			rt.handler.Close()
		}
	}
}

// Ledger is the budget and rate-limit state (for budget status in the API).
func (g *Gateway) Ledger() *budget.Ledger { return g.ledger }

// Prices is the price table in use.
func (g *Gateway) Prices() *usage.PriceTable { return g.o.Prices }

// Reload re-reads the named proxy from the store and applies it: a new
// handler for new requests (those in flight finish on the old one), a new
// listener when the address changed, stop when disabled or deleted.
func (g *Gateway) Reload(ctx context.Context, name string) {
	p, err := g.o.Store.GetProxy(ctx, name)
	if errors.Is(err, bulwark.ErrNotFound) {
		g.remove(ctx, name)
		return
	}
	if err != nil {
		g.log.Error("reload proxy", "proxy", name, "err", err)
		return
	}
	g.apply(ctx, p)
}

// ReloadAll rebuilds every proxy, after a change that can affect any of
// them (a policy, a system prompt, a group or key).
func (g *Gateway) ReloadAll(ctx context.Context) {
	g.keys.flush()
	list, err := g.o.Store.ListProxies(ctx)
	if err != nil {
		g.log.Error("reload proxies", "err", err)
		return
	}
	seen := map[string]bool{}
	for _, p := range list {
		seen[p.Name] = true
		g.apply(ctx, p)
	}
	g.mu.Lock()
	var gone []string
	for name := range g.instances {
		if !seen[name] {
			gone = append(gone, name)
		}
	}
	g.mu.Unlock()
	for _, name := range gone {
		g.remove(ctx, name)
	}
}

// KeysChanged drops cached key and group lookups (after a key is revoked
// or a group changed) so the change applies to the next request.
func (g *Gateway) KeysChanged(groupID int64) {
	g.keys.flush()
	if groupID != 0 {
		g.ledger.Reset(groupID)
	}
}

// Status returns the named proxy's status; ok is false for an unknown proxy.
func (g *Gateway) Status(name string) (Status, bool) {
	g.mu.Lock()
	in := g.instances[name]
	g.mu.Unlock()
	if in == nil {
		return Status{State: StateStopped, Since: time.Time{}}, false
	}
	return in.getStatus(), true
}

// Stats returns the named proxy's statistics since the process started.
func (g *Gateway) Stats(name string) bulwark.ProxyStats {
	g.mu.Lock()
	in := g.instances[name]
	g.mu.Unlock()
	if in == nil {
		return bulwark.ProxyStats{}
	}
	return in.stats.snapshot()
}

// Recent returns the last requests through the named proxy, newest first.
func (g *Gateway) Recent(name string, n int) []bulwark.RequestRecord {
	g.mu.Lock()
	in := g.instances[name]
	g.mu.Unlock()
	if in == nil {
		return nil
	}
	return in.stats.recent(n)
}

// SetEnabled starts or stops a proxy and stores the desired state so it
// survives restarts.
func (g *Gateway) SetEnabled(ctx context.Context, name string, enabled bool, by string) (*bulwark.Proxy, error) {
	p, err := g.o.Store.GetProxy(ctx, name)
	if err != nil {
		return nil, err
	}
	if enabled {
		g.release(name)
	}
	if p.Enabled != enabled {
		p.Enabled = enabled
		p.UpdatedBy = by
		if err := g.o.Store.UpdateProxy(ctx, p, p.UpdatedAt); err != nil {
			return nil, err
		}
	}
	g.apply(ctx, p)
	return p, nil
}

// Restart stops and starts a proxy: a new listener and a freshly built
// handler (for example after an upstream credential was rotated outside).
func (g *Gateway) Restart(ctx context.Context, name string) (*bulwark.Proxy, error) {
	p, err := g.o.Store.GetProxy(ctx, name)
	if err != nil {
		return nil, err
	}
	g.release(name)
	g.mu.Lock()
	in := g.instances[name]
	g.mu.Unlock()
	if in != nil {
		in.stopListener(ctx)
		in.setStatus(g, StateStopped, "restarting", "")
		in.mu.Lock()
		in.cfg = nil // force a rebuild
		in.mu.Unlock()
	}
	g.apply(ctx, p)
	return p, nil
}

// ServeHTTP serves the proxies mounted on the main port at /p/{name}/.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, "/p/")
	if !ok {
		writeGatewayError(w, r, http.StatusNotFound, "not_found", "Not found. Proxies are mounted at /p/{proxy}/.")
		return
	}
	name, sub, _ := strings.Cut(rest, "/")
	g.mu.Lock()
	in := g.instances[name]
	g.mu.Unlock()
	if in == nil {
		writeGatewayError(w, r, http.StatusNotFound, "proxy_not_found", fmt.Sprintf("No proxy named %q.", name))
		return
	}
	if in.listenAddr() != "" {
		writeGatewayError(w, r, http.StatusNotFound, "proxy_not_found",
			fmt.Sprintf("Proxy %q listens on its own port %s, not on /p/%s/.", name, in.listenAddr(), name))
		return
	}
	r2 := r.Clone(mcp.WithMountPath(r.Context(), "/p/"+name))
	r2.URL.Path = "/" + sub
	r2.URL.RawPath = ""
	in.ServeHTTP(w, r2)
}

// Names returns the names of the proxies the gateway knows, sorted.
func (g *Gateway) Names() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]string, 0, len(g.instances))
	for n := range g.instances {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// release lets a proxy held back by auto-start run.
func (g *Gateway) release(name string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if in := g.instances[name]; in != nil {
		in.mu.Lock()
		in.held = false
		in.mu.Unlock()
	}
}

func (g *Gateway) remove(ctx context.Context, name string) {
	g.mu.Lock()
	in := g.instances[name]
	delete(g.instances, name)
	g.mu.Unlock()
	if in != nil {
		in.stopListener(ctx)
		in.closeMCP()
		in.setStatus(g, StateStopped, "deleted", "")
		g.metrics.forget(name)
	}
}

// apply brings the running state of p in line with its stored config.
func (g *Gateway) apply(ctx context.Context, p *bulwark.Proxy) {
	g.mu.Lock()
	in := g.instances[p.Name]
	if in == nil {
		in = newInstance(p.Name)
		g.instances[p.Name] = in
	}
	g.mu.Unlock()
	in.apply(ctx, g, p)
}

// syncLoop picks up changes made by other replicas (or directly in the
// database): every SyncInterval it compares the stored configuration's
// fingerprint with the running one and reloads what differs.
func (g *Gateway) syncLoop() {
	defer close(g.syncDone)
	t := time.NewTicker(g.o.SyncInterval)
	defer t.Stop()
	last := ""
	for {
		select {
		case <-g.stopSync:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), g.o.SyncInterval)
		fp, err := g.fingerprint(ctx)
		if err == nil && fp != last {
			if last != "" {
				g.ReloadAll(ctx)
			}
			last = fp
		}
		cancel()
	}
}

// fingerprint summarises the stored configuration the proxies depend on.
func (g *Gateway) fingerprint(ctx context.Context) (string, error) {
	var b strings.Builder
	ps, err := g.o.Store.ListProxies(ctx)
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		fmt.Fprintf(&b, "p%s@%d;", p.Name, p.UpdatedAt.UnixMicro())
	}
	sp, err := g.o.Store.ListSystemPrompts(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range sp {
		fmt.Fprintf(&b, "s%d@%d;", s.ID, s.UpdatedAt.UnixMicro())
	}
	pol, err := g.o.Store.ListPolicies(ctx)
	if err != nil {
		return "", err
	}
	for _, s := range pol {
		fmt.Fprintf(&b, "y%s@%d;", s.Name, s.UpdatedAt.UnixMicro())
	}
	return b.String(), nil
}

func (g *Gateway) budgetNotice(n budget.Notice) {
	sev, verb := bulwark.SeverityMedium, "reached its warning threshold"
	if n.Kind == budget.NoticeExhausted {
		sev, verb = bulwark.SeverityHigh, "is used up"
	}
	ev := bulwark.Event{
		Type:     bulwark.EventAlert,
		Action:   n.Kind,
		Severity: sev,
		Category: "Policy Violations",
		Actor:    n.Group.Name,
		Subject:  fmt.Sprintf("Budget of group %s %s: %.2f of %.2f USD", n.Group.Name, verb, n.SpentUSD, n.Budget),
		Data: mustJSON(map[string]any{
			"group": n.Group.Name, "group_id": n.Group.ID, "spent_usd": n.SpentUSD, "budget_usd": n.Budget,
			"period_start": n.Period, "action": n.Group.BudgetAction, "warn_percent": n.Group.BudgetWarnPercent,
		}),
	}
	// Notify runs under the ledger's lock: publish from another goroutine.
	g.rec.publish(ev)
}

// listen opens a proxy listener.
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}
