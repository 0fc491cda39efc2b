package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/bulwarkhq/bulwark"
)

// OutboxStore is the part of the store the dispatcher needs.
type OutboxStore interface {
	ClaimOutbox(ctx context.Context, sink string, limit int, now time.Time, lease time.Duration) ([]bulwark.OutboxItem, error)
	CompleteOutbox(ctx context.Context, ids []int64) error
	RetryOutbox(ctx context.Context, id int64, next time.Time, lastErr string) error
	DeadLetterOutbox(ctx context.Context, id int64, lastErr string) error
	OutboxDepth(ctx context.Context, sink string) (int, error)
}

// OutboxAger is offered by stores that can tell when the oldest pending
// item of a sink was queued (ok false when none is pending). The
// dispatcher reports the oldest pending age only for such stores.
type OutboxAger interface {
	OldestPendingOutbox(ctx context.Context, sink string) (queued time.Time, ok bool, err error)
}

// Publisher announces integration health changes; *Bus is one.
type Publisher interface {
	Publish(ctx context.Context, ev bulwark.Event) (bulwark.Event, error)
}

// RateLimited is implemented by sinks whose target limits how often it may
// be called (Slack: about one message a second). A limit given in
// DispatchOptions.Limits wins.
type RateLimited interface {
	RateLimit() rate.Limit
}

// HealthState is an integration's delivery health.
type HealthState string

// Health states.
const (
	// Healthy: deliveries succeed.
	Healthy HealthState = "healthy"
	// Degraded: failures, but also recent successes, or retries pending.
	Degraded HealthState = "degraded"
	// Failed: only failures for DispatchOptions.FailedAfter, or the last
	// outcome was a dead letter.
	Failed HealthState = "failed"
)

var healthStates = []HealthState{Healthy, Degraded, Failed}

// SinkHealth is one integration's delivery health and counters since the
// dispatcher started. Counters count outbox items (events), not calls.
type SinkHealth struct {
	State        HealthState
	Since        time.Time // when State was entered
	Sent         int64     // delivered
	Failed       int64     // failed delivery attempts
	Retried      int64     // attempts rescheduled with backoff
	DeadLettered int64     // parked after a permanent failure
	QueueDepth   int       // pending items (not dead-lettered), as last read
	// OldestPendingAge is the age of the oldest pending item, when the
	// store offers it (HasOldestPending).
	OldestPendingAge time.Duration
	HasOldestPending bool
	LastSuccess      time.Time
	LastError        string
	LastErrorAt      time.Time
}

// DispatchOptions configures a Dispatcher. Zero durations take the
// defaults named on each field.
type DispatchOptions struct {
	Store OutboxStore // required
	// Publisher receives an EventIntegrationHealth event on every health
	// transition; nil publishes nothing.
	Publisher  Publisher
	Log        *slog.Logger          // nil discards
	Registerer prometheus.Registerer // nil: metrics are kept but not exported

	BaseBackoff time.Duration // first retry delay bound; 1 s
	MaxBackoff  time.Duration // retry delay cap; 10 min
	// Lease is how long claimed items stay invisible to other workers; it
	// must exceed DeliverTimeout. 2 min.
	Lease          time.Duration
	DeliverTimeout time.Duration // bound of one Deliver call; 30 s
	PollInterval   time.Duration // how often an idle worker looks for due items; 1 s
	// FailedAfter is how long only failures turn a sink from Degraded into
	// Failed, and how long a failure keeps a sink Degraded. 5 min.
	FailedAfter time.Duration
	// StopTimeout bounds how long Stop (and SetSinks removing a sink) lets
	// an in-flight Deliver finish before cancelling it. 10 s.
	StopTimeout time.Duration
	// Limits caps Deliver calls per second per sink name (rate.Inf or
	// absent: no limit unless the sink is RateLimited).
	Limits map[string]rate.Limit

	now    func() time.Time
	jitter func(n time.Duration) time.Duration // uniform in [0, n]
}

func (o *DispatchOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.BaseBackoff, time.Second)
	def(&o.MaxBackoff, 10*time.Minute)
	def(&o.DeliverTimeout, 30*time.Second)
	def(&o.Lease, 2*time.Minute)
	if o.Lease <= o.DeliverTimeout {
		o.Lease = o.DeliverTimeout + 10*time.Second
	}
	def(&o.PollInterval, time.Second)
	def(&o.FailedAfter, 5*time.Minute)
	def(&o.StopTimeout, 10*time.Second)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.jitter == nil {
		o.jitter = func(n time.Duration) time.Duration {
			if n <= 0 {
				return 0
			}
			return rand.N(n + 1)
		}
	}
}

// Dispatcher delivers the outbox: one worker per sink claims due items in
// batches, delivers them and completes, retries or dead-letters them.
// Delivery is at least once: an item is removed only after its sink
// accepted it, and a worker that dies leaves its claimed items to be
// claimed again when their lease runs out.
type Dispatcher struct {
	o       DispatchOptions
	m       *IntegrationMetrics
	mu      sync.Mutex
	workers map[string]*worker
	health  map[string]*sinkState
	stopped bool
}

type sinkState struct {
	h            SinkHealth
	failingSince time.Time // first failure after the last success; zero when the last outcome succeeded
	lastFailure  time.Time
	deadLetter   bool // the last outcome was a dead letter
}

// NewDispatcher returns a dispatcher with no sinks; SetSinks starts workers.
func NewDispatcher(o DispatchOptions) *Dispatcher {
	o.defaults()
	return &Dispatcher{o: o, m: NewIntegrationMetrics(o.Registerer), workers: map[string]*worker{},
		health: map[string]*sinkState{}}
}

// SetSinks makes sinks the delivered set: workers of sinks no longer
// listed (or replaced by another value with the same name) are stopped
// gracefully, new ones started. Their undelivered items stay in the outbox.
// Names must be unique; later duplicates are ignored.
func (d *Dispatcher) SetSinks(sinks []Sink) {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return
	}
	want := map[string]Sink{}
	for _, s := range sinks {
		if s == nil {
			continue
		}
		if _, dup := want[s.Name()]; dup {
			d.o.Log.Error("duplicate integration name; only the first is delivered", "integration", s.Name())
			continue
		}
		want[s.Name()] = s
	}
	var retire []*worker
	for name, w := range d.workers {
		if s, ok := want[name]; !ok || s != w.sink {
			retire = append(retire, w)
			delete(d.workers, name)
			if !ok {
				delete(d.health, name)
				d.m.Forget(name)
			}
		}
	}
	var start []*worker
	for name, s := range want {
		if _, ok := d.workers[name]; ok {
			continue
		}
		if _, ok := d.health[name]; !ok {
			d.health[name] = &sinkState{h: SinkHealth{State: Healthy, Since: d.o.now()}}
			d.m.Init(name)
		}
		w := d.newWorker(s)
		d.workers[name] = w
		start = append(start, w)
	}
	d.mu.Unlock()
	d.stopWorkers(context.Background(), retire)
	for _, w := range start {
		go w.run()
	}
}

// Stop stops every worker: each finishes its in-flight Deliver (for at most
// StopTimeout, or until ctx ends) and records its outcome; items not
// delivered stay in the outbox for the next start. SetSinks does nothing
// after Stop.
func (d *Dispatcher) Stop(ctx context.Context) {
	d.mu.Lock()
	d.stopped = true
	ws := make([]*worker, 0, len(d.workers))
	for _, w := range d.workers {
		ws = append(ws, w)
	}
	d.workers = map[string]*worker{}
	d.mu.Unlock()
	d.stopWorkers(ctx, ws)
}

func (d *Dispatcher) stopWorkers(ctx context.Context, ws []*worker) {
	if len(ws) == 0 {
		return
	}
	for _, w := range ws {
		w.stopLoop()
	}
	grace, cancel := context.WithTimeout(ctx, d.o.StopTimeout)
	defer cancel()
	for _, w := range ws {
		select {
		case <-w.done:
		case <-grace.Done():
			w.cancelDeliver() // the outcome is still recorded (as a retry)
			<-w.done
		}
		// A sink that holds connections (syslog over TCP) releases them
		// once its worker is gone.
		if c, ok := w.sink.(io.Closer); ok {
			if err := c.Close(); err != nil {
				d.o.Log.Warn("closing a retired integration", "integration", w.name, "err", err)
			}
		}
	}
}

// Health returns every sink's health, by name.
func (d *Dispatcher) Health() map[string]SinkHealth {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]SinkHealth, len(d.health))
	for name, st := range d.health {
		out[name] = st.h
	}
	return out
}

type worker struct {
	d             *Dispatcher
	sink          Sink
	name          string
	lim           *rate.Limiter
	loopCtx       context.Context
	stopLoop      context.CancelFunc
	deliverCtx    context.Context
	cancelDeliver context.CancelFunc
	done          chan struct{}
	lastDepth     time.Time
}

func (d *Dispatcher) newWorker(s Sink) *worker {
	limit := rate.Inf
	if rl, ok := s.(RateLimited); ok && rl.RateLimit() > 0 {
		limit = rl.RateLimit()
	}
	if l, ok := d.o.Limits[s.Name()]; ok && l > 0 {
		limit = l
	}
	w := &worker{d: d, sink: s, name: s.Name(), lim: rate.NewLimiter(limit, 1), done: make(chan struct{})}
	w.loopCtx, w.stopLoop = context.WithCancel(context.Background())
	w.deliverCtx, w.cancelDeliver = context.WithCancel(context.Background())
	return w
}

func (w *worker) run() {
	defer close(w.done)
	defer w.cancelDeliver()
	o := &w.d.o
	batch := max(w.sink.MaxBatch(), 1)
	for w.loopCtx.Err() == nil {
		// Wait for a token before claiming, so that a stop during the wait
		// leaves nothing leased.
		if err := w.lim.Wait(w.loopCtx); err != nil {
			return
		}
		items, err := o.Store.ClaimOutbox(w.loopCtx, w.name, batch, o.now(), o.Lease)
		if err != nil {
			if w.loopCtx.Err() == nil {
				o.Log.Warn("outbox claim failed", "integration", w.name, "err", err)
			}
		} else if len(items) > 0 {
			w.deliver(items)
		}
		w.d.evaluate(w.name)
		w.refreshDepth(len(items) == 0)
		if err == nil && len(items) == batch {
			continue // more may be due
		}
		select {
		case <-w.loopCtx.Done():
			return
		case <-time.After(o.PollInterval):
		}
	}
}

// deliver sends one claimed batch and records the outcome. The outcome is
// written even while stopping, so a finished delivery is not repeated.
func (w *worker) deliver(items []bulwark.OutboxItem) {
	o := &w.d.o
	evs := make([]bulwark.Event, len(items))
	for i, it := range items {
		evs[i] = it.Event
	}
	dctx, cancel := context.WithTimeout(w.deliverCtx, o.DeliverTimeout)
	err := safeDeliver(dctx, w.sink, evs)
	cancel()
	// Each outcome write gets its own deadline: a batch is written item by
	// item, and a busy database must not turn late writes into lost ones.
	write := func(f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return f(ctx)
	}
	now := o.now()
	if err == nil {
		ids := make([]int64, len(items))
		for i, it := range items {
			ids[i] = it.ID
		}
		if cerr := write(func(ctx context.Context) error { return o.Store.CompleteOutbox(ctx, ids) }); cerr != nil {
			// The lease runs out and the items are delivered again: at
			// least once.
			o.Log.Error("outbox completion failed; items will be delivered again", "integration", w.name, "err", cerr)
		}
		w.d.record(w.name, func(st *sinkState) {
			st.h.Sent += int64(len(items))
			st.h.LastSuccess = now
			st.failingSince, st.deadLetter = time.Time{}, false
		})
		w.d.m.Sent.WithLabelValues(w.name).Add(float64(len(items)))
		w.d.m.LastSuccess.WithLabelValues(w.name).Set(float64(now.Unix()))
		return
	}
	var de *DeliveryError
	permanent := errors.As(err, &de) && de.Permanent
	var retryAfter time.Duration
	if de != nil {
		retryAfter = de.RetryAfter
	}
	msg := err.Error()
	o.Log.Warn("delivery failed", "integration", w.name, "events", len(items), "permanent", permanent, "err", msg)
	var retried, dead int64
	for _, it := range items {
		if permanent {
			if derr := write(func(ctx context.Context) error { return o.Store.DeadLetterOutbox(ctx, it.ID, msg) }); derr != nil {
				o.Log.Error("outbox dead-letter failed", "integration", w.name, "id", it.ID, "err", derr)
				continue
			}
			dead++
			continue
		}
		next := now.Add(w.d.backoff(it.Attempts, retryAfter))
		if rerr := write(func(ctx context.Context) error { return o.Store.RetryOutbox(ctx, it.ID, next, msg) }); rerr != nil {
			o.Log.Error("outbox retry failed", "integration", w.name, "id", it.ID, "err", rerr)
			continue
		}
		retried++
	}
	w.d.record(w.name, func(st *sinkState) {
		st.h.Failed += int64(len(items))
		st.h.Retried += retried
		st.h.DeadLettered += dead
		st.h.LastError, st.h.LastErrorAt = msg, now
		st.lastFailure = now
		if st.failingSince.IsZero() {
			st.failingSince = now
		}
		st.deadLetter = permanent
	})
	w.d.m.Failed.WithLabelValues(w.name).Add(float64(len(items)))
	w.d.m.Retried.WithLabelValues(w.name).Add(float64(retried))
	w.d.m.DeadLettered.WithLabelValues(w.name).Add(float64(dead))
}

// safeDeliver turns a sink's panic into a retryable failure.
func safeDeliver(ctx context.Context, s Sink, evs []bulwark.Event) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("sink %s panicked: %v", s.Name(), r)
		}
	}()
	return s.Deliver(ctx, evs)
}

// backoff is the delay before the next attempt of an item that has failed
// attempts times before this failure: full jitter over a capped
// exponential, or retryAfter when the receiver asked for longer.
func (d *Dispatcher) backoff(attempts int, retryAfter time.Duration) time.Duration {
	ceil := d.o.MaxBackoff
	if attempts < 40 {
		if b := d.o.BaseBackoff << attempts; b > 0 && b < ceil {
			ceil = b
		}
	}
	delay := d.o.jitter(ceil)
	if retryAfter > delay {
		delay = retryAfter
	}
	return delay
}

func (w *worker) refreshDepth(idle bool) {
	o := &w.d.o
	now := o.now()
	// While busy, counting the backlog once a second is enough: the count
	// reads every pending row and competes with deliveries for the store.
	if !idle && now.Sub(w.lastDepth) < max(o.PollInterval, time.Second) {
		return
	}
	w.lastDepth = now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	depth, err := o.Store.OutboxDepth(ctx, w.name)
	if err != nil {
		o.Log.Warn("outbox depth failed", "integration", w.name, "err", err)
		return
	}
	var age time.Duration
	hasAge := false
	if a, ok := o.Store.(OutboxAger); ok {
		if queued, pending, err := a.OldestPendingOutbox(ctx, w.name); err == nil {
			hasAge = true
			if pending {
				age = max(now.Sub(queued), 0)
			}
		}
	}
	w.d.record(w.name, func(st *sinkState) {
		st.h.QueueDepth = depth
		st.h.OldestPendingAge, st.h.HasOldestPending = age, hasAge
	})
	w.d.m.Depth.WithLabelValues(w.name).Set(float64(depth))
	if hasAge {
		w.d.m.Oldest.WithLabelValues(w.name).Set(age.Seconds())
	}
}

// record updates a sink's state under the lock, unless the sink was removed.
func (d *Dispatcher) record(name string, f func(*sinkState)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if st, ok := d.health[name]; ok {
		f(st)
	}
}

// evaluate recomputes a sink's health state and announces a change.
func (d *Dispatcher) evaluate(name string) {
	now := d.o.now()
	d.mu.Lock()
	st, ok := d.health[name]
	if !ok {
		d.mu.Unlock()
		return
	}
	next := HealthStateAt(now, st.deadLetter, st.failingSince, st.lastFailure, d.o.FailedAfter)
	prev := st.h.State
	if next == prev {
		d.mu.Unlock()
		return
	}
	st.h.State, st.h.Since = next, now
	h := st.h
	d.mu.Unlock()
	d.m.SetState(name, next)
	d.o.Log.Info("integration health changed", "integration", name, "from", prev, "to", next, "last_error", h.LastError)
	AnnounceHealth(d.o.Publisher, d.o.Log, name, prev, h)
}

// HealthStateAt is the health rule every integration runtime follows:
// failed after a dead letter or failures only for failedAfter; degraded
// while failing, or for failedAfter after the last failure; else healthy.
func HealthStateAt(now time.Time, deadLetter bool, failingSince, lastFailure time.Time, failedAfter time.Duration) HealthState {
	switch {
	case deadLetter, !failingSince.IsZero() && now.Sub(failingSince) >= failedAfter:
		return Failed
	case !failingSince.IsZero(), !lastFailure.IsZero() && now.Sub(lastFailure) < failedAfter:
		return Degraded
	}
	return Healthy
}

// AnnounceHealth publishes an integration_health event for a change from
// prev to h (severity high for failed, medium for degraded, info for
// healthy). It waits at most 10 s for the store.
func AnnounceHealth(pub Publisher, log *slog.Logger, name string, prev HealthState, h SinkHealth) {
	if pub == nil {
		return
	}
	sev := bulwark.SeverityInfo
	subject := fmt.Sprintf("integration %s is %s", name, h.State)
	switch h.State {
	case Failed:
		sev = bulwark.SeverityHigh
	case Degraded:
		sev = bulwark.SeverityMedium
	}
	if h.State != Healthy && h.LastError != "" {
		subject += ": " + h.LastError
	}
	data := map[string]any{
		"integration": name, "state": h.State, "previous": prev,
		"sent": h.Sent, "failed": h.Failed, "retried": h.Retried, "dead_lettered": h.DeadLettered,
		"queue_depth": h.QueueDepth, "last_error": h.LastError,
	}
	if !h.LastSuccess.IsZero() {
		data["last_success"] = h.LastSuccess.UTC()
	}
	raw, _ := json.Marshal(data)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := pub.Publish(ctx, bulwark.Event{Type: bulwark.EventIntegrationHealth,
		Action: "integration.health", Severity: sev, Actor: "system", Subject: subject, Data: raw}); err != nil {
		log.Warn("integration health event not published", "integration", name, "err", err)
	}
}

// IntegrationMetrics are the bulwark_integration_* series, labelled by
// integration, shared by the outbox dispatcher and by integrations that
// run on their own (the Langfuse tailer): one definition, registered once.
type IntegrationMetrics struct {
	Sent, Failed, Retried, DeadLettered *prometheus.CounterVec
	Depth, Oldest, LastSuccess, state   *prometheus.GaugeVec
}

// NewIntegrationMetrics registers the series with reg (nil: unregistered),
// or returns those already registered there.
func NewIntegrationMetrics(reg prometheus.Registerer) *IntegrationMetrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"integration"}))
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append([]string{"integration"}, labels...)))
	}
	return &IntegrationMetrics{
		Sent:         counter("bulwark_integration_sent_total", "Events delivered to the integration."),
		Failed:       counter("bulwark_integration_failed_total", "Failed delivery attempts of events to the integration."),
		Retried:      counter("bulwark_integration_retried_total", "Event deliveries rescheduled with backoff."),
		DeadLettered: counter("bulwark_integration_dead_lettered_total", "Events parked in the dead-letter list after a permanent failure."),
		Depth:        gauge("bulwark_integration_queue_depth", "Outbox items pending for the integration."),
		Oldest:       gauge("bulwark_integration_oldest_pending_seconds", "Age of the integration's oldest pending outbox item."),
		LastSuccess:  gauge("bulwark_integration_last_success_timestamp_seconds", "Unix time of the integration's last successful delivery."),
		state:        gauge("bulwark_integration_health", "1 for the integration's current health state (healthy, degraded, failed), else 0.", "state"),
	}
}

// register registers c, or returns the collector already registered under
// its name (a dispatcher started again in the same process).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err)
	}
	return c
}

// SetState sets the health gauge of name to s.
func (m *IntegrationMetrics) SetState(name string, s HealthState) {
	for _, x := range healthStates {
		v := 0.0
		if x == s {
			v = 1
		}
		m.state.WithLabelValues(name, string(x)).Set(v)
	}
}

// Init creates a new integration's series, so they read 0 rather than
// missing.
func (m *IntegrationMetrics) Init(name string) {
	for _, v := range []*prometheus.CounterVec{m.Sent, m.Failed, m.Retried, m.DeadLettered} {
		v.WithLabelValues(name)
	}
	m.Depth.WithLabelValues(name)
	m.SetState(name, Healthy)
}

// Forget deletes a removed integration's series.
func (m *IntegrationMetrics) Forget(name string) {
	for _, v := range []*prometheus.CounterVec{m.Sent, m.Failed, m.Retried, m.DeadLettered} {
		v.DeleteLabelValues(name)
	}
	for _, v := range []*prometheus.GaugeVec{m.Depth, m.Oldest, m.LastSuccess} {
		v.DeleteLabelValues(name)
	}
	m.state.DeletePartialMatch(prometheus.Labels{"integration": name})
}
