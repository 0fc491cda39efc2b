package budget

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

type spendStore struct {
	mu sync.Mutex
	v  map[int64]float64
}

func (s *spendStore) GroupSpend(_ context.Context, id int64, _ time.Time) (float64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.v[id], nil
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// TestBudgetHoldsUnderConcurrency: 64 racing requests, each costing 1 USD,
// against a 10 USD budget: the spend may exceed the budget by at most one
// request's cost.
func TestBudgetHoldsUnderConcurrency(t *testing.T) {
	c := &clock{t: time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)}
	l := NewLedger(Options{Spend: &spendStore{v: map[int64]float64{}}, Now: c.now})
	g := &bulwark.Group{ID: 1, Name: "team", BudgetUSD: 10, BudgetAction: bulwark.BudgetBlock}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		admitted int
		blocked  int
	)
	// One request first, so the ledger has seen what requests cost.
	r, _, err := l.Admit(context.Background(), g, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	r.Settle(1)
	start := make(chan struct{})
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				res, _, err := l.Admit(context.Background(), g, 0.5) // the estimate is low on purpose
				var b *inspect.Block
				if errors.As(err, &b) {
					if b.Status != 402 || b.Code != "budget_exceeded" {
						t.Errorf("block %+v", b)
					}
					mu.Lock()
					blocked++
					mu.Unlock()
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				admitted++
				mu.Unlock()
				time.Sleep(time.Millisecond)
				res.Settle(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	st, _ := l.Status(context.Background(), g)
	if st.Spent > g.BudgetUSD+1 {
		t.Fatalf("spent %.2f of a %.2f budget with %d admitted: overspend beyond one request", st.Spent, g.BudgetUSD, admitted)
	}
	if st.Spent < g.BudgetUSD {
		t.Fatalf("spent only %.2f: budget not used", st.Spent)
	}
	if blocked != 64 {
		t.Fatalf("%d goroutines ended blocked, want 64", blocked)
	}
	if st.Reserved != 0 {
		t.Fatalf("reservations left: %.2f", st.Reserved)
	}
}

func TestBudgetWarnNoticesAndMonthlyReset(t *testing.T) {
	c := &clock{t: time.Date(2026, 5, 31, 23, 0, 0, 0, time.UTC)}
	var notices []Notice
	l := NewLedger(Options{Now: c.now, Notify: func(n Notice) { notices = append(notices, n) }})
	g := &bulwark.Group{ID: 2, Name: "warn", BudgetUSD: 10, BudgetWarnPercent: 50, BudgetAction: bulwark.BudgetWarn}
	for i := 0; i < 12; i++ {
		r, _, err := l.Admit(context.Background(), g, 1)
		if err != nil {
			t.Fatalf("warn-only budget blocked: %v", err)
		}
		r.Settle(1)
	}
	if len(notices) != 2 || notices[0].Kind != NoticeWarning || notices[1].Kind != NoticeExhausted {
		t.Fatalf("notices %+v", notices)
	}
	c.add(2 * time.Hour) // June: a new period
	st, _ := l.Status(context.Background(), g)
	if st.Spent != 0 || !st.Period.Equal(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("after month change: %+v", st)
	}
	// A manual reset inside the month starts a new period at that instant.
	reset := c.now().Add(-time.Minute)
	g.BudgetResetAt = &reset
	if p := l.PeriodStart(g, c.now()); !p.Equal(reset) {
		t.Fatalf("period start %v, want the reset %v", p, reset)
	}
}

func TestRateLimits(t *testing.T) {
	c := &clock{t: time.Date(2026, 5, 10, 0, 0, 0, 0, time.UTC)}
	l := NewLedger(Options{Now: c.now})
	s := &Stage{Ledger: l}
	g := &bulwark.Group{ID: 3, Name: "rl", RequestsPerMinute: 100}
	k := &bulwark.GatewayKey{ID: 9, Name: "ci", RequestsPerMinute: 2, TokensPerMinute: 1000}
	req := func(tokens int64) error {
		x := &inspect.Exchange{Group: g, Key: k}
		err := s.Request(context.Background(), x)
		if err == nil {
			x.Finish(inspect.Outcome{InputTokens: tokens / 2, OutputTokens: tokens / 2})
		}
		return err
	}
	var b *inspect.Block
	// Requests per minute: two pass, the third waits.
	if err := req(10); err != nil {
		t.Fatal(err)
	}
	if err := req(10); err != nil {
		t.Fatal(err)
	}
	if err := req(10); !errors.As(err, &b) || b.Status != 429 || b.RetryAfterSeconds < 1 || b.Code != "rate_limit_exceeded" {
		t.Fatalf("third request: %v", err)
	}
	c.add(time.Minute)
	// Tokens per minute: one big answer overdraws the bucket; the next
	// request waits until it is refilled.
	if err := req(1500); err != nil {
		t.Fatal(err)
	}
	if err := req(10); !errors.As(err, &b) || b.Status != 429 {
		t.Fatalf("after overdraw: %v", err)
	}
	c.add(30 * time.Second)
	if err := req(10); !errors.As(err, &b) {
		t.Fatalf("half refilled: %v", err)
	}
	c.add(time.Minute)
	if err := req(10); err != nil {
		t.Fatalf("after refill: %v", err)
	}
}
