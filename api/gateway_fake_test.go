package api_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/inspect/sysprompt"
	"github.com/bulwarkhq/bulwark/secret"
	"github.com/bulwarkhq/bulwark/store"
)

// fakeGateway records what the API tells the gateway and keeps a simple
// running state: a proxy runs when it is enabled in the store at its last reload.
type fakeGateway struct {
	db    *store.DB
	clock *fakeClock

	mu       sync.Mutex
	calls    []string
	running  map[string]api.GatewayStatus
	stats    map[string]bulwark.ProxyStats
	recent   map[string][]bulwark.RequestRecord
	reserved map[int64]float64
}

var _ api.Gateway = (*fakeGateway)(nil)

func newFakeGateway(db *store.DB, clk *fakeClock) *fakeGateway {
	return &fakeGateway{db: db, clock: clk, running: map[string]api.GatewayStatus{}, stats: map[string]bulwark.ProxyStats{},
		recent: map[string][]bulwark.RequestRecord{}, reserved: map[int64]float64{}}
}

func (g *fakeGateway) record(format string, args ...any) {
	g.mu.Lock()
	g.calls = append(g.calls, fmt.Sprintf(format, args...))
	g.mu.Unlock()
}

// mark and since return the calls made after a point.
func (g *fakeGateway) mark() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.calls)
}

func (g *fakeGateway) since(mark int) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.calls[mark:])
}

func (g *fakeGateway) apply(ctx context.Context, name string) {
	p, err := g.db.GetProxy(ctx, name)
	g.mu.Lock()
	defer g.mu.Unlock()
	if err != nil || !p.Enabled {
		delete(g.running, name)
		return
	}
	g.running[name] = api.GatewayStatus{State: "running", Since: g.clock.Now(), Addr: "/p/" + name + "/"}
}

func (g *fakeGateway) Reload(ctx context.Context, name string) {
	g.record("reload %s", name)
	g.apply(ctx, name)
}

func (g *fakeGateway) ReloadAll(context.Context) { g.record("reload_all") }

func (g *fakeGateway) KeysChanged(groupID int64) { g.record("keys %d", groupID) }

func (g *fakeGateway) SetEnabled(ctx context.Context, name string, enabled bool, by string) (*bulwark.Proxy, error) {
	g.record("enable %s %v", name, enabled)
	p, err := g.db.GetProxy(ctx, name)
	if err != nil {
		return nil, err
	}
	if p.Enabled != enabled {
		p.Enabled, p.UpdatedBy = enabled, by
		if err := g.db.UpdateProxy(ctx, p, p.UpdatedAt); err != nil {
			return nil, err
		}
	}
	g.apply(ctx, name)
	return p, nil
}

func (g *fakeGateway) Restart(ctx context.Context, name string) (*bulwark.Proxy, error) {
	g.record("restart %s", name)
	p, err := g.db.GetProxy(ctx, name)
	if err != nil {
		return nil, err
	}
	g.apply(ctx, name)
	return p, nil
}

func (g *fakeGateway) Status(name string) (api.GatewayStatus, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st, ok := g.running[name]
	return st, ok
}

func (g *fakeGateway) Stats(name string) bulwark.ProxyStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stats[name]
}

func (g *fakeGateway) Recent(name string, n int) []bulwark.RequestRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	r := g.recent[name]
	return slices.Clone(r[:min(n, len(r))])
}

// BudgetStatus computes the period like the budget ledger, in UTC.
func (g *fakeGateway) BudgetStatus(ctx context.Context, grp *bulwark.Group) (api.GatewayBudget, error) {
	period := budgetPeriod(grp, g.clock.Now())
	spent, err := g.db.GroupSpend(ctx, grp.ID, period)
	if err != nil {
		return api.GatewayBudget{}, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return api.GatewayBudget{Spent: spent, Reserved: g.reserved[grp.ID], Period: period}, nil
}

func budgetPeriod(grp *bulwark.Group, now time.Time) time.Time {
	t := now.UTC()
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
	if grp.BudgetResetAt != nil && grp.BudgetResetAt.After(start) && !grp.BudgetResetAt.After(now) {
		start = grp.BudgetResetAt.UTC()
	}
	return start
}

func testKeyring(t testing.TB) *secret.Keyring {
	key := make([]byte, secret.KeySize)
	_, _ = rand.Read(key)
	kr, err := secret.NewKeyring(key)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// validateSystemPrompt is what the wiring passes: the sysprompt stage's parser.
func validateSystemPrompt(name, text string) error {
	_, err := sysprompt.Parse(name, text)
	return err
}

func (g *fakeGateway) MCPToolsChanged(_ context.Context, proxy string) {
	g.record("mcp_tools %s", proxy)
}
