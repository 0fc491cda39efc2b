package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

// engines runs f against SQLite, and PostgreSQL when the test server is
// configured.
func engines(t *testing.T, f func(t *testing.T, db *store.DB)) {
	t.Run("sqlite", func(t *testing.T) { t.Parallel(); f(t, storetest.OpenSQLite(t)) })
	if os.Getenv(storetest.PostgresEnv) != "" {
		t.Run("postgres", func(t *testing.T) { t.Parallel(); f(t, storetest.OpenPostgres(t)) })
	}
}

// fastOptions are dispatch options with test-sized durations.
func fastOptions(db OutboxStore) DispatchOptions {
	return DispatchOptions{Store: db, BaseBackoff: 5 * time.Millisecond, MaxBackoff: 40 * time.Millisecond,
		PollInterval: 10 * time.Millisecond, DeliverTimeout: 2 * time.Second, Lease: 5 * time.Second,
		FailedAfter: 300 * time.Millisecond, StopTimeout: 2 * time.Second}
}

// fakeSink records what it accepted; fail decides each call's outcome.
type fakeSink struct {
	name  string
	batch int
	delay time.Duration
	fail  func(call int, evs []bulwark.Event) error

	mu       sync.Mutex
	calls    int
	sizes    []int
	times    []time.Time
	accepted map[string]int // event id → accepted deliveries
	failed   int            // events in failed calls
}

func newFakeSink(name string, batch int) *fakeSink {
	return &fakeSink{name: name, batch: batch, accepted: map[string]int{}}
}

func (s *fakeSink) Name() string  { return s.name }
func (s *fakeSink) MaxBatch() int { return s.batch }

func (s *fakeSink) Deliver(ctx context.Context, evs []bulwark.Event) error {
	s.mu.Lock()
	call := s.calls
	s.calls++
	s.sizes = append(s.sizes, len(evs))
	s.times = append(s.times, time.Now())
	s.mu.Unlock()
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var err error
	if s.fail != nil {
		err = s.fail(call, evs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.failed += len(evs)
		return err
	}
	for _, ev := range evs {
		s.accepted[ev.ID]++
	}
	return nil
}

func (s *fakeSink) snapshot() (calls int, sizes []int, times []time.Time, accepted map[string]int, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acc := make(map[string]int, len(s.accepted))
	for k, v := range s.accepted {
		acc[k] = v
	}
	return s.calls, append([]int(nil), s.sizes...), append([]time.Time(nil), s.times...), acc, s.failed
}

type recordingPublisher struct {
	mu  sync.Mutex
	evs []bulwark.Event
}

func (p *recordingPublisher) Publish(_ context.Context, ev bulwark.Event) (bulwark.Event, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.evs = append(p.evs, ev)
	return ev, nil
}

func (p *recordingPublisher) states(t *testing.T) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, ev := range p.evs {
		var d struct {
			Integration string `json:"integration"`
			State       string `json:"state"`
		}
		if ev.Type != bulwark.EventIntegrationHealth || json.Unmarshal(ev.Data, &d) != nil {
			t.Fatalf("bad health event %+v", ev)
		}
		out = append(out, d.Integration+":"+d.State)
	}
	return out
}

func newTestBus(db *store.DB, routes ...Route) *Bus {
	b := New(db, slog.New(slog.DiscardHandler))
	b.SetRoutes(routes)
	return b
}

func publishAlerts(t testing.TB, b *Bus, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		ev, err := b.Publish(context.Background(), bulwark.Event{Type: bulwark.EventAlert, Action: "policy.block",
			Severity: bulwark.SeverityHigh, Category: "Guardrails", Subject: fmt.Sprintf("alert %d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = ev.ID
	}
	return ids
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func depth(t *testing.T, db OutboxStore, sink string) int {
	t.Helper()
	n, err := db.OutboxDepth(context.Background(), sink)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDispatchBatches(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		bus := newTestBus(db, Route{Sink: "siem"})
		ids := publishAlerts(t, bus, 25)
		sink := newFakeSink("siem", 10)
		d := NewDispatcher(fastOptions(db))
		d.SetSinks([]Sink{sink})
		defer d.Stop(context.Background())
		waitFor(t, "delivery", 10*time.Second, func() bool { _, _, _, acc, _ := sink.snapshot(); return len(acc) == 25 })
		_, sizes, _, acc, _ := sink.snapshot()
		if fmt.Sprint(sizes) != "[10 10 5]" {
			t.Fatalf("batch sizes %v, want [10 10 5]", sizes)
		}
		for _, id := range ids {
			if acc[id] != 1 {
				t.Fatalf("event %s delivered %d times", id, acc[id])
			}
		}
		waitFor(t, "depth", 5*time.Second, func() bool { return d.Health()["siem"].QueueDepth == 0 })
		h := d.Health()["siem"]
		if h.State != Healthy || h.Sent != 25 || h.Failed != 0 || h.LastSuccess.IsZero() || depth(t, db, "siem") != 0 {
			t.Fatalf("health %+v", h)
		}
	})
}

func TestDispatchRetryThenSuccess(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		bus := newTestBus(db, Route{Sink: "hook"})
		ids := publishAlerts(t, bus, 1)
		sink := newFakeSink("hook", 1)
		sink.fail = func(call int, _ []bulwark.Event) error {
			switch call {
			case 0:
				return errors.New("connection refused")
			case 1:
				return HTTPFailure(503, 0, "unavailable")
			}
			return nil
		}
		d := NewDispatcher(fastOptions(db))
		d.SetSinks([]Sink{sink})
		defer d.Stop(context.Background())
		waitFor(t, "delivery", 10*time.Second, func() bool { return d.Health()["hook"].Sent == 1 })
		calls, _, _, acc, failed := sink.snapshot()
		if acc[ids[0]] != 1 {
			t.Fatalf("accepted %v", acc)
		}
		h := d.Health()["hook"]
		if calls != 3 || failed != 2 || h.Sent != 1 || h.Failed != 2 || h.Retried != 2 || h.DeadLettered != 0 ||
			h.LastError == "" || depth(t, db, "hook") != 0 {
			t.Fatalf("calls %d failed %d health %+v", calls, failed, h)
		}
	})
}

func TestDispatchHonoursRetryAfter(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		bus := newTestBus(db, Route{Sink: "slack"})
		publishAlerts(t, bus, 1)
		sink := newFakeSink("slack", 1)
		sink.fail = func(call int, _ []bulwark.Event) error {
			if call == 0 {
				return HTTPFailure(429, 400*time.Millisecond, "slow down")
			}
			return nil
		}
		d := NewDispatcher(fastOptions(db)) // backoff alone would be ≤ 40 ms
		d.SetSinks([]Sink{sink})
		defer d.Stop(context.Background())
		waitFor(t, "delivery", 10*time.Second, func() bool { _, _, _, acc, _ := sink.snapshot(); return len(acc) == 1 })
		_, _, times, _, _ := sink.snapshot()
		if gap := times[1].Sub(times[0]); gap < 400*time.Millisecond {
			t.Fatalf("retried after %s, want ≥ 400ms (Retry-After)", gap)
		}
	})
}

func TestDispatchBackoffIsCappedFullJitter(t *testing.T) {
	d := NewDispatcher(DispatchOptions{})
	var seen []time.Duration
	d.o.jitter = func(n time.Duration) time.Duration { seen = append(seen, n); return n / 2 }
	for _, tc := range []struct {
		attempts   int
		retryAfter time.Duration
		want, ceil time.Duration
	}{
		{0, 0, 500 * time.Millisecond, time.Second},
		{3, 0, 4 * time.Second, 8 * time.Second},
		{12, 0, 5 * time.Minute, 10 * time.Minute},
		{1000, 0, 5 * time.Minute, 10 * time.Minute},
		{0, 30 * time.Second, 30 * time.Second, time.Second},
	} {
		seen = nil
		if got := d.backoff(tc.attempts, tc.retryAfter); got != tc.want || seen[0] != tc.ceil {
			t.Errorf("backoff(%d, %s) = %s over %v, want %s over %s", tc.attempts, tc.retryAfter, got, seen, tc.want, tc.ceil)
		}
	}
	d = NewDispatcher(DispatchOptions{})
	for range 1000 {
		if b := d.backoff(2, 0); b < 0 || b > 4*time.Second {
			t.Fatalf("jittered backoff %s outside [0, 4s]", b)
		}
	}
}

func TestDispatchPermanentFailureDeadLetters(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		bus := newTestBus(db, Route{Sink: "splunk"})
		publishAlerts(t, bus, 3)
		sink := newFakeSink("splunk", 10)
		sink.fail = func(int, []bulwark.Event) error { return HTTPFailure(403, 0, "invalid token") }
		pub := &recordingPublisher{}
		o := fastOptions(db)
		o.Publisher = pub
		reg := prometheus.NewRegistry()
		o.Registerer = reg
		d := NewDispatcher(o)
		d.SetSinks([]Sink{sink})
		defer d.Stop(context.Background())
		waitFor(t, "dead letters", 10*time.Second, func() bool { return d.Health()["splunk"].DeadLettered == 3 })
		waitFor(t, "depth", 5*time.Second, func() bool { return d.Health()["splunk"].QueueDepth == 0 })
		time.Sleep(50 * time.Millisecond)
		calls, _, _, _, _ := sink.snapshot()
		h := d.Health()["splunk"]
		if calls != 1 || h.State != Failed || h.Retried != 0 || h.Failed != 3 || depth(t, db, "splunk") != 0 {
			t.Fatalf("calls %d health %+v", calls, h)
		}
		if got := pub.states(t); fmt.Sprint(got) != "[splunk:failed]" {
			t.Fatalf("health events %v", got)
		}
		m := gather(t, reg)
		for series, want := range map[string]float64{
			`bulwark_integration_dead_lettered_total{integration="splunk"}`:    3,
			`bulwark_integration_failed_total{integration="splunk"}`:           3,
			`bulwark_integration_sent_total{integration="splunk"}`:             0,
			`bulwark_integration_queue_depth{integration="splunk"}`:            0,
			`bulwark_integration_health{integration="splunk",state="failed"}`:  1,
			`bulwark_integration_health{integration="splunk",state="healthy"}`: 0,
		} {
			if got, ok := m[series]; !ok || got != want {
				t.Errorf("%s = %v (present %v), want %v", series, got, ok, want)
			}
		}
	})
}

// gather returns every series of reg as name{labels} → value.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			v := m.GetGauge().GetValue()
			if m.Counter != nil {
				v = m.GetCounter().GetValue()
			}
			out[mf.GetName()+"{"+strings.Join(labels, ",")+"}"] = v
		}
	}
	return out
}

func TestDispatchHealthTransitions(t *testing.T) {
	db := storetest.OpenSQLite(t)
	bus := newTestBus(db, Route{Sink: "hook"})
	var down atomic.Bool
	down.Store(true)
	sink := newFakeSink("hook", 50)
	sink.fail = func(int, []bulwark.Event) error {
		if down.Load() {
			return HTTPFailure(502, 0, "bad gateway")
		}
		return nil
	}
	pub := &recordingPublisher{}
	o := fastOptions(db)
	o.Publisher = pub
	d := NewDispatcher(o)
	d.SetSinks([]Sink{sink})
	defer d.Stop(context.Background())
	if h := d.Health()["hook"]; h.State != Healthy {
		t.Fatalf("initial state %s", h.State)
	}
	publishAlerts(t, bus, 5)
	waitFor(t, "degraded", 5*time.Second, func() bool { return d.Health()["hook"].State == Degraded })
	waitFor(t, "failed", 5*time.Second, func() bool { return d.Health()["hook"].State == Failed })
	down.Store(false)
	waitFor(t, "recovery", 5*time.Second, func() bool { return d.Health()["hook"].State == Healthy })
	want := "[hook:degraded hook:failed hook:degraded hook:healthy]"
	if got := pub.states(t); fmt.Sprint(got) != want {
		t.Fatalf("health events %v, want %s", got, want)
	}
	h := d.Health()["hook"]
	if h.Sent != 5 || h.Failed < 5 || h.Retried != h.Failed || h.LastError == "" || h.LastSuccess.IsZero() {
		t.Fatalf("health %+v", h)
	}
}

func TestDispatchRateLimit(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		bus := newTestBus(db, Route{Sink: "slack"})
		publishAlerts(t, bus, 6)
		sink := newFakeSink("slack", 1)
		o := fastOptions(db)
		o.Limits = map[string]rate.Limit{"slack": 20}
		d := NewDispatcher(o)
		d.SetSinks([]Sink{sink})
		defer d.Stop(context.Background())
		waitFor(t, "delivery", 10*time.Second, func() bool { _, _, _, acc, _ := sink.snapshot(); return len(acc) == 6 })
		_, _, times, _, _ := sink.snapshot()
		// Six calls at 20/s span at least five intervals of 50 ms. Single
		// gaps vary with the time each claim takes after its token, so
		// the test checks the span, with room for that jitter.
		if span := times[len(times)-1].Sub(times[0]); span < 200*time.Millisecond {
			t.Fatalf("6 calls within %s, limit is 20/s", span)
		}
	})
}

func TestDispatchStopLetsDeliveryFinish(t *testing.T) {
	db := storetest.OpenSQLite(t)
	bus := newTestBus(db, Route{Sink: "slow"})
	publishAlerts(t, bus, 3)
	sink := newFakeSink("slow", 1)
	sink.delay = 300 * time.Millisecond
	d := NewDispatcher(fastOptions(db))
	d.SetSinks([]Sink{sink})
	waitFor(t, "first call", 5*time.Second, func() bool { c, _, _, _, _ := sink.snapshot(); return c == 1 })
	d.Stop(context.Background())
	calls, _, _, acc, _ := sink.snapshot()
	if calls != 1 || len(acc) != 1 || d.Health()["slow"].Sent != 1 || depth(t, db, "slow") != 2 {
		t.Fatalf("calls %d accepted %d health %+v depth %d", calls, len(acc), d.Health()["slow"], depth(t, db, "slow"))
	}
	d.SetSinks([]Sink{sink}) // no effect after Stop
	time.Sleep(50 * time.Millisecond)
	if c, _, _, _, _ := sink.snapshot(); c != 1 {
		t.Fatalf("stopped dispatcher delivered again")
	}

	// A bounded stop: a delivery that outlasts StopTimeout is cancelled and
	// its items retried later.
	sink2 := newFakeSink("slow", 1)
	sink2.delay = time.Hour
	o := fastOptions(db)
	o.StopTimeout = 100 * time.Millisecond
	d2 := NewDispatcher(o)
	d2.SetSinks([]Sink{sink2})
	waitFor(t, "hanging call", 5*time.Second, func() bool { c, _, _, _, _ := sink2.snapshot(); return c == 1 })
	start := time.Now()
	d2.Stop(context.Background())
	if el := time.Since(start); el > 2*time.Second {
		t.Fatalf("stop took %s", el)
	}
	if h := d2.Health()["slow"]; h.Retried != 1 || depth(t, db, "slow") != 2 {
		t.Fatalf("health %+v", h)
	}
}

func TestDispatchSetSinksSwaps(t *testing.T) {
	db := storetest.OpenSQLite(t)
	bus := newTestBus(db, Route{Sink: "a"}, Route{Sink: "b"})
	a, b := newFakeSink("a", 10), newFakeSink("b", 10)
	d := NewDispatcher(fastOptions(db))
	defer d.Stop(context.Background())
	d.SetSinks([]Sink{a})
	publishAlerts(t, bus, 2)
	waitFor(t, "a", 5*time.Second, func() bool { _, _, _, acc, _ := a.snapshot(); return len(acc) == 2 })
	if _, ok := d.Health()["b"]; ok || depth(t, db, "b") != 2 {
		t.Fatal("b is delivered before it was added")
	}
	d.SetSinks([]Sink{b})
	waitFor(t, "b", 5*time.Second, func() bool { _, _, _, acc, _ := b.snapshot(); return len(acc) == 2 })
	publishAlerts(t, bus, 1)
	time.Sleep(100 * time.Millisecond)
	if _, _, _, acc, _ := a.snapshot(); len(acc) != 2 || depth(t, db, "a") != 1 {
		t.Fatalf("removed sink a still delivered: %d", len(acc))
	}
	if _, ok := d.Health()["a"]; ok {
		t.Fatal("removed sink still has health")
	}
}

// closingSink records whether the dispatcher closed it.
type closingSink struct {
	*fakeSink
	closed atomic.Int32
}

func (c *closingSink) Close() error { c.closed.Add(1); return nil }

func TestDispatchClosesRetiredSinks(t *testing.T) {
	db := storetest.OpenSQLite(t)
	d := NewDispatcher(fastOptions(db))
	old, repl := &closingSink{fakeSink: newFakeSink("a", 10)}, &closingSink{fakeSink: newFakeSink("a", 10)}
	d.SetSinks([]Sink{old})
	d.SetSinks([]Sink{repl}) // same name, new configuration
	if old.closed.Load() != 1 || repl.closed.Load() != 0 {
		t.Fatalf("after replacing: old closed %d times, new %d", old.closed.Load(), repl.closed.Load())
	}
	d.Stop(context.Background())
	if repl.closed.Load() != 1 {
		t.Fatalf("after Stop: closed %d times", repl.closed.Load())
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestDispatchChaos: a receiver is down while 10,000 alerts are published,
// the dispatcher is restarted midway, and the receiver recovers: every
// alert arrives, duplicates come only from replies lost while it was
// failing, and the counters agree with what the receiver saw.
func TestDispatchChaos(t *testing.T) {
	engines(t, func(t *testing.T, db *store.DB) {
		total := 10000
		if raceEnabled && db.Engine() == "sqlite" {
			total = 1000 // the race-instrumented pure-Go SQLite is ~10× slower; .ci/run also runs 10,000 without -race, and PostgreSQL runs 10,000 under -race
		}
		bus := newTestBus(db,
			Route{Sink: "siem", Types: []bulwark.EventType{bulwark.EventAlert}},
			Route{Sink: "chat", Types: []bulwark.EventType{bulwark.EventAlert}, MinSeverity: bulwark.SeverityCritical})
		var down atomic.Bool
		down.Store(true)
		var lostReplies atomic.Int64
		siem := newFakeSink("siem", 200)
		chat := newFakeSink("chat", 50)
		var siemReceived sync.Map // id → receipts while "down" with the reply lost
		for _, s := range []*fakeSink{siem, chat} {
			s.fail = func(call int, evs []bulwark.Event) error {
				if !down.Load() {
					return nil
				}
				if s == siem && call%3 == 0 { // received, but the reply is lost
					for _, ev := range evs {
						v, _ := siemReceived.LoadOrStore(ev.ID, new(atomic.Int64))
						v.(*atomic.Int64).Add(1)
					}
					lostReplies.Add(int64(len(evs)))
					return &DeliveryError{Status: 504, Err: errors.New("gateway timeout")}
				}
				return errors.New("connection refused")
			}
		}
		o := fastOptions(db)
		o.Publisher = bus
		// Real backoffs start at 1 s; these keep the down phase from
		// saturating the single SQLite writer with retries.
		o.BaseBackoff, o.MaxBackoff = 50*time.Millisecond, time.Second
		o.Log = slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
		sinks := []Sink{siem, chat}
		d1 := NewDispatcher(o)
		d1.SetSinks(sinks)

		ids := make([]string, total)
		critical := map[string]bool{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		var published atomic.Int64
		var d2 *Dispatcher
		restarted := make(chan struct{})
		const workers = 8
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < total; i += workers {
					sev := bulwark.SeverityHigh
					if i%4 == 0 {
						sev = bulwark.SeverityCritical
					}
					ev, err := bus.Publish(context.Background(), bulwark.Event{Type: bulwark.EventAlert, Action: "policy.block",
						Severity: sev, Category: "Guardrails", Subject: fmt.Sprintf("alert %d", i)})
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					ids[i] = ev.ID
					critical[ev.ID] = sev == bulwark.SeverityCritical
					mu.Unlock()
					if published.Add(1) == int64(total/2) { // restart midway
						d1.Stop(context.Background())
						d2 = NewDispatcher(o)
						d2.SetSinks(sinks)
						close(restarted)
					}
				}
			}()
		}
		pubStart := time.Now()
		wg.Wait()
		t.Logf("published %d alerts in %s", total, time.Since(pubStart))
		if t.Failed() {
			return
		}
		<-restarted
		defer d2.Stop(context.Background())
		time.Sleep(100 * time.Millisecond)
		down.Store(false)

		wantChat := 0
		for _, c := range critical {
			if c {
				wantChat++
			}
		}
		waitFor(t, "every alert delivered", 15*time.Second, func() bool {
			_, _, _, sa, _ := siem.snapshot()
			_, _, _, ca, _ := chat.snapshot()
			return len(sa) == total && len(ca) == wantChat
		})
		t.Logf("delivered after %s", time.Since(pubStart))
		waitFor(t, "empty outbox", 5*time.Second, func() bool { return depth(t, db, "") == 0 })
		waitFor(t, "counters", 5*time.Second, func() bool {
			return d1.Health()["siem"].Sent+d2.Health()["siem"].Sent == int64(total) &&
				d1.Health()["chat"].Sent+d2.Health()["chat"].Sent == int64(wantChat)
		})

		_, _, _, siemAcc, siemFailed := siem.snapshot()
		_, _, _, chatAcc, chatFailed := chat.snapshot()
		for _, id := range ids {
			if siemAcc[id] != 1 {
				t.Fatalf("siem accepted %s %d times", id, siemAcc[id])
			}
			if critical[id] && chatAcc[id] != 1 || !critical[id] && chatAcc[id] != 0 {
				t.Fatalf("chat accepted %s (critical %v) %d times", id, critical[id], chatAcc[id])
			}
		}
		// Receipts beyond one per alert are exactly the lost replies.
		var receipts int64
		for _, id := range ids {
			receipts += int64(siemAcc[id])
			if v, ok := siemReceived.Load(id); ok {
				receipts += v.(*atomic.Int64).Load()
			}
		}
		if dup := receipts - int64(total); dup != lostReplies.Load() {
			t.Fatalf("%d duplicate receipts, lost replies explain %d", dup, lostReplies.Load())
		}
		// Counters of both dispatcher runs add up to what the receivers saw.
		for _, c := range []struct {
			name     string
			accepted int
			failed   int
		}{{"siem", total, siemFailed}, {"chat", wantChat, chatFailed}} {
			h1, h2 := d1.Health()[c.name], d2.Health()[c.name]
			if sent := h1.Sent + h2.Sent; sent != int64(c.accepted) {
				t.Errorf("%s: sent %d+%d, receiver accepted %d", c.name, h1.Sent, h2.Sent, c.accepted)
			}
			if f := h1.Failed + h2.Failed; f != int64(c.failed) || f == 0 {
				t.Errorf("%s: failed %d+%d, receiver failed %d", c.name, h1.Failed, h2.Failed, c.failed)
			}
			if h1.Retried+h2.Retried != h1.Failed+h2.Failed || h1.DeadLettered+h2.DeadLettered != 0 {
				t.Errorf("%s: retried %d+%d dead %d+%d", c.name, h1.Retried, h2.Retried, h1.DeadLettered, h2.DeadLettered)
			}
		}
		waitFor(t, "depth reported", 5*time.Second, func() bool {
			return d2.Health()["siem"].QueueDepth == 0 && d2.Health()["chat"].QueueDepth == 0
		})
	})
}

// PublishBatch stores events together, routes each to its sinks, fans
// them out, and fills what a published event must carry.
func TestPublishBatch(t *testing.T) {
	db := storetest.OpenSQLite(t)
	bus := newTestBus(db, Route{Sink: "siem"}, Route{Sink: "pager", MinSeverity: bulwark.SeverityCritical})
	sub := bus.Subscribe(8)
	defer sub.Close()
	in := []bulwark.Event{
		{Type: bulwark.EventAlert, Action: "policy.block", Severity: bulwark.SeverityHigh, Category: "Guardrails", Subject: "a"},
		{Type: bulwark.EventAlert, Action: "policy.block", Severity: bulwark.SeverityCritical, Category: "Guardrails", Subject: "b",
			Data: json.RawMessage("{\"evidence\":\"\xff\"}")},
	}
	out, err := bus.PublishBatch(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].ID == "" || out[1].Time.IsZero() || !utf8.Valid(out[1].Data) {
		t.Fatalf("published %+v", out)
	}
	if depth(t, db, "siem") != 2 || depth(t, db, "pager") != 1 {
		t.Fatalf("outbox siem %d, pager %d", depth(t, db, "siem"), depth(t, db, "pager"))
	}
	for range out {
		select {
		case ev := <-sub.C:
			if ev.ID != out[0].ID && ev.ID != out[1].ID {
				t.Fatalf("fanned out %+v", ev)
			}
		case <-time.After(time.Second):
			t.Fatal("not fanned out")
		}
	}
}
