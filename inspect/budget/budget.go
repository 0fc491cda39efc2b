// Package budget is the stage that enforces per-key and per-group rate
// limits (requests and tokens per minute) and per-group monthly budgets in
// USD, and the gateway-wide state behind it: token buckets and the budget
// ledger.
//
// Budgets hold under concurrency: each admitted request reserves its
// estimated cost (at least the moving average of what the group's recent
// requests actually cost), and a request is admitted only while the
// recorded spend plus the reservations of requests in flight is below the
// budget, so racing requests cannot overspend by more than about one
// request's cost. That holds per replica: replicas share the recorded spend
// through the database, refreshed every few seconds, not each other's
// reservations.
package budget

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

// Spend reads a group's recorded spend for a budget period.
type Spend interface {
	GroupSpend(ctx context.Context, groupID int64, period time.Time) (float64, error)
}

// Notice kinds reported through Options.Notify.
const (
	NoticeWarning   = "budget.warning"
	NoticeExhausted = "budget.exhausted"
)

// Notice is a budget threshold crossing, reported once per group and period.
type Notice struct {
	Kind             string
	Group            *bulwark.Group
	Period           time.Time
	SpentUSD, Budget float64
}

// Options configure a Ledger.
type Options struct {
	Spend Spend
	// Location is the time zone whose calendar months are budget periods (UTC when nil).
	Location *time.Location
	// Refresh is how old the cached spend may get before it is re-read (default 5s).
	Refresh time.Duration
	// Notify receives threshold crossings; it must not block.
	Notify func(Notice)
	Now    func() time.Time
}

// Ledger is the gateway-wide budget and rate-limit state. It is safe for
// concurrent use.
type Ledger struct {
	opt Options

	mu     sync.Mutex
	groups map[int64]*account
	keys   map[int64]*limits
	glims  map[int64]*limits
}

type account struct {
	period    time.Time
	dbSpent   float64 // spend read from the store
	pending   float64 // cost of finished requests not yet in the store
	reserved  float64 // estimated cost of requests in flight
	avgCost   float64 // moving average of the actual cost of recent requests
	loadedAt  time.Time
	gen       uint64 // bumped when pending moves to the store, to discard racing reads
	warned    bool
	exhausted bool
}

func (a *account) spent() float64 { return a.dbSpent + a.pending }

// NewLedger returns an empty ledger.
func NewLedger(opt Options) *Ledger {
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Refresh <= 0 {
		opt.Refresh = 5 * time.Second
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &Ledger{opt: opt, groups: map[int64]*account{}, keys: map[int64]*limits{}, glims: map[int64]*limits{}}
}

// PeriodStart is the start of g's current budget period: the first instant
// of the calendar month in the ledger's time zone, or the group's manual
// reset when that is later.
func (l *Ledger) PeriodStart(g *bulwark.Group, now time.Time) time.Time {
	t := now.In(l.opt.Location)
	start := time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, l.opt.Location).UTC()
	if g.BudgetResetAt != nil && g.BudgetResetAt.After(start) && !g.BudgetResetAt.After(now) {
		start = g.BudgetResetAt.UTC()
	}
	return start
}

// Status is a group's budget position.
type Status struct {
	Period    time.Time
	Budget    float64
	Spent     float64
	Reserved  float64
	Remaining float64
}

// account returns g's account for the current period, loading the
// recorded spend when the cache is stale. It is called with l.mu held and
// releases it around the store read.
func (l *Ledger) account(ctx context.Context, g *bulwark.Group, now time.Time) (*account, error) {
	period := l.PeriodStart(g, now)
	a := l.groups[g.ID]
	if a == nil || !a.period.Equal(period) {
		// A new period (month start or manual reset) starts from nothing
		// recorded; reservations in flight carry over.
		var reserved float64
		if a != nil {
			reserved = a.reserved
		}
		a = &account{period: period, reserved: reserved}
		l.groups[g.ID] = a
	}
	if now.Sub(a.loadedAt) < l.opt.Refresh || l.opt.Spend == nil {
		return a, nil
	}
	gen := a.gen
	l.mu.Unlock()
	v, err := l.opt.Spend.GroupSpend(ctx, g.ID, period)
	l.mu.Lock()
	if err != nil {
		return nil, err
	}
	if cur := l.groups[g.ID]; cur == a && a.gen == gen {
		a.dbSpent, a.loadedAt = v, now
	}
	return a, nil
}

// Reservation is an admitted request's hold on its group's budget.
type Reservation struct {
	l        *Ledger
	g        *bulwark.Group
	period   time.Time
	estimate float64
	done     bool
}

// Admit checks g's budget for a request estimated to cost estimate USD and
// reserves it. It returns a *inspect.Block (402) when the budget is spent
// and the group's action is block.
func (l *Ledger) Admit(ctx context.Context, g *bulwark.Group, estimate float64) (*Reservation, Status, error) {
	if g == nil || g.BudgetUSD <= 0 {
		return nil, Status{}, nil
	}
	now := l.opt.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	a, err := l.account(ctx, g, now)
	if err != nil {
		return nil, Status{}, fmt.Errorf("read budget of group %q: %w", g.Name, err)
	}
	st := l.status(g, a)
	if a.spent()+a.reserved >= g.BudgetUSD {
		l.noticeLocked(g, a)
		if g.BudgetAction == bulwark.BudgetBlock {
			return nil, st, &inspect.Block{Status: 402, Type: inspect.TypeBudget, Code: "budget_exceeded",
				Message: fmt.Sprintf("The monthly budget of group %q (%s USD) is used up (%s USD spent%s). It resets at %s; an administrator can raise or reset it.",
					g.Name, money(g.BudgetUSD), money(a.spent()), inFlight(a.reserved), l.nextReset(now).Format(time.RFC3339))}
		}
	}
	// Reserve at least what recent requests actually cost: the up-front
	// estimate cannot know the length of the answer, and a low reservation
	// would let racing requests overspend by the difference.
	estimate = max(estimate, a.avgCost)
	a.reserved += estimate
	return &Reservation{l: l, g: g, period: a.period, estimate: estimate}, st, nil
}

func inFlight(r float64) string {
	if r <= 0 {
		return ""
	}
	return fmt.Sprintf(", %s USD reserved by requests in flight", money(r))
}

func (l *Ledger) nextReset(now time.Time) time.Time {
	t := now.In(l.opt.Location)
	return time.Date(t.Year(), t.Month()+1, 1, 0, 0, 0, 0, l.opt.Location)
}

func (l *Ledger) status(g *bulwark.Group, a *account) Status {
	spent := a.spent()
	return Status{Period: a.period, Budget: g.BudgetUSD, Spent: spent, Reserved: a.reserved,
		Remaining: math.Max(0, g.BudgetUSD-spent)}
}

// Settle ends the reservation with the request's actual cost.
func (r *Reservation) Settle(cost float64) {
	if r == nil || r.done {
		return
	}
	r.done = true
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.groups[r.g.ID]
	if a == nil {
		return
	}
	a.reserved = math.Max(0, a.reserved-r.estimate)
	if cost > 0 {
		if a.avgCost == 0 {
			a.avgCost = cost
		} else {
			a.avgCost = 0.8*a.avgCost + 0.2*cost
		}
	}
	if a.period.Equal(r.period) {
		a.pending += cost
		l.noticeLocked(r.g, a)
	}
}

// Stored tells the ledger that cost of group groupID for period is now in
// the store (the request log was flushed), so it is no longer pending.
func (l *Ledger) Stored(groupID int64, period time.Time, cost float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.groups[groupID]
	if a == nil || !a.period.Equal(period) {
		return
	}
	a.pending = math.Max(0, a.pending-cost)
	a.dbSpent += cost
	a.gen++
}

// Reset forgets the cached state of a group (after a manual reset or a
// change of its budget), so the next request re-reads it.
func (l *Ledger) Reset(groupID int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.groups, groupID)
	delete(l.glims, groupID)
}

// Status returns g's current budget position, reading the store when the
// cache is stale.
func (l *Ledger) Status(ctx context.Context, g *bulwark.Group) (Status, error) {
	if g.BudgetUSD <= 0 {
		return Status{}, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	a, err := l.account(ctx, g, l.opt.Now())
	if err != nil {
		return Status{}, err
	}
	return l.status(g, a), nil
}

func (l *Ledger) noticeLocked(g *bulwark.Group, a *account) {
	if l.opt.Notify == nil {
		return
	}
	spent := a.spent()
	if !a.exhausted && spent >= g.BudgetUSD {
		a.exhausted, a.warned = true, true
		l.opt.Notify(Notice{Kind: NoticeExhausted, Group: g, Period: a.period, SpentUSD: spent, Budget: g.BudgetUSD})
		return
	}
	if !a.warned && g.BudgetWarnPercent > 0 && spent >= g.BudgetUSD*float64(g.BudgetWarnPercent)/100 {
		a.warned = true
		l.opt.Notify(Notice{Kind: NoticeWarning, Group: g, Period: a.period, SpentUSD: spent, Budget: g.BudgetUSD})
	}
}

func money(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

// Estimator prices a request before it is sent: the estimated input
// tokens and the output the request allows. ok is false for an unpriced
// model, which then reserves nothing (its cost is recorded as unknown).
type Estimator func(model string, inputTokens int64) (usd float64, ok bool)

// Stage enforces rate limits and the group budget in the request phase.
type Stage struct {
	Ledger   *Ledger
	Estimate Estimator
}

// Name implements inspect.Stage.
func (s *Stage) Name() string { return "budget" }

// Request implements inspect.Stage.
func (s *Stage) Request(ctx context.Context, x *inspect.Exchange) error {
	if x.Group == nil {
		return nil
	}
	if b := s.Ledger.allow(x); b != nil {
		return b
	}
	var est float64
	if s.Estimate != nil {
		est, _ = s.Estimate(x.Model, x.EstimatedInputTokens)
	}
	res, st, err := s.Ledger.Admit(ctx, x.Group, est)
	if st.Budget > 0 {
		x.SetHeader("X-Budget-Limit", money(st.Budget))
		x.SetHeader("X-Budget-Used", money(st.Spent))
		x.SetHeader("X-Budget-Remaining", money(st.Remaining))
	}
	if err != nil {
		return err
	}
	g, k := x.Group, x.Key
	x.OnFinish(func(o inspect.Outcome) {
		res.Settle(o.CostUSD)
		s.Ledger.consume(g, k, o.InputTokens+o.OutputTokens)
	})
	return nil
}
