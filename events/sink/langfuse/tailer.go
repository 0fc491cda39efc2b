package langfuse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
)

// Store is what the tailer reads and where it keeps its cursor
// (*store.DB is one).
type Store interface {
	// ListRequestsAfter returns up to limit records with an id above
	// afterID, in id order.
	ListRequestsAfter(ctx context.Context, afterID int64, limit int) ([]bulwark.RequestRecord, error)
	// RequestPositionAt is the position just before the first record at or
	// after t; for a zero t, the highest id.
	RequestPositionAt(ctx context.Context, t time.Time) (int64, error)
	ClaimIntegrationCursor(ctx context.Context, id int64, owner string, start int64, now time.Time, lease time.Duration) (int64, bool, error)
	AdvanceIntegrationCursor(ctx context.Context, id int64, owner string, position int64, now time.Time, lease time.Duration) error
	ReleaseIntegrationCursor(ctx context.Context, id int64, owner string) error
}

// TailOptions configure a Tailer. Zero durations take the defaults named
// on each field.
type TailOptions struct {
	Store Store // required
	// IntegrationID keys the persisted cursor (a recreated integration
	// starts afresh).
	IntegrationID int64
	// Owner names this replica in the cursor's lease (default: host name
	// and a random suffix).
	Owner string
	// Publisher receives an EventIntegrationHealth event on every health
	// transition; nil publishes nothing.
	Publisher  events.Publisher
	Log        *slog.Logger          // nil discards
	Registerer prometheus.Registerer // nil: metrics are kept but not exported

	PollInterval time.Duration // how often an idle tailer looks for new records; 1 s
	// Lease is how long the cursor stays with this replica without being
	// renewed; another replica takes over after it. 1 min.
	Lease time.Duration
	// GapGrace is how long a missing id below newer records is waited for
	// (PostgreSQL hands out ids before commit, so a slow transaction fills
	// its gap late); after it the gap counts as a rolled-back or deleted
	// record. 1 min.
	GapGrace    time.Duration
	BaseBackoff time.Duration // first retry delay bound; 1 s
	MaxBackoff  time.Duration // retry delay cap; 5 min
	// FailedAfter is how long only failures turn the health from Degraded
	// into Failed. 5 min.
	FailedAfter time.Duration

	now    func() time.Time
	jitter func(n time.Duration) time.Duration
}

func (o *TailOptions) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.PollInterval, time.Second)
	def(&o.Lease, time.Minute)
	def(&o.GapGrace, time.Minute)
	def(&o.BaseBackoff, time.Second)
	def(&o.MaxBackoff, 5*time.Minute)
	def(&o.FailedAfter, 5*time.Minute)
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Owner == "" {
		host, _ := os.Hostname()
		var b [6]byte
		_, _ = rand.Read(b[:])
		o.Owner = host + "-" + hex.EncodeToString(b[:])
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.jitter == nil {
		o.jitter = func(n time.Duration) time.Duration {
			if n <= 0 {
				return 0
			}
			return mathrand.N(n + 1)
		}
	}
}

// Tailer follows the request log from a persisted cursor and sends each
// record to Langfuse. Delivery is at least once: the cursor moves only
// after Langfuse accepted the records, and trace and observation ids are
// derived from the record, so a re-send updates the same trace.
type Tailer struct {
	cfg Config
	o   TailOptions
	c   *client
	m   *events.IntegrationMetrics

	mu      sync.Mutex
	h       events.SinkHealth
	failing time.Time // first failure after the last success
	lastErr time.Time
	dead    bool // the last outcome was a permanent rejection

	startOnce, stopOnce sync.Once
	cancel              context.CancelFunc
	done                chan struct{}
}

// NewTailer validates cfg and returns a stopped tailer; Start runs it.
func NewTailer(cfg Config, o TailOptions) (*Tailer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("langfuse %q: %w", cfg.Name, err)
	}
	if o.Store == nil {
		return nil, errors.New("langfuse: a store is required")
	}
	cfg = cfg.withDefaults()
	c, err := newClient(cfg)
	if err != nil {
		return nil, err
	}
	o.defaults()
	t := &Tailer{cfg: cfg, o: o, c: c, m: events.NewIntegrationMetrics(o.Registerer), done: make(chan struct{})}
	t.h = events.SinkHealth{State: events.Healthy, Since: o.now(), HasOldestPending: true}
	return t, nil
}

// Name is the integration's name.
func (t *Tailer) Name() string { return t.cfg.Name }

// Start runs the tailer until Stop.
func (t *Tailer) Start() {
	t.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		t.cancel = cancel
		t.m.Init(t.cfg.Name)
		go func() {
			defer close(t.done)
			t.run(ctx)
		}()
	})
}

// Stop ends the tailer: an in-flight call is cancelled (its records are
// sent again by whoever tails next) and the cursor's lease is released so
// another replica can take over at once. It waits until ctx ends at most.
func (t *Tailer) Stop(ctx context.Context) {
	started := false
	t.startOnce.Do(func() { close(t.done) }) // never started
	t.stopOnce.Do(func() {
		if t.cancel != nil {
			started = true
			t.cancel()
		}
	})
	if !started {
		return
	}
	select {
	case <-t.done:
	case <-ctx.Done():
	}
}

// Forget drops the tailer's metric series (the integration was removed).
func (t *Tailer) Forget() { t.m.Forget(t.cfg.Name) }

// Health is the tailer's delivery health and counters since it started.
// Counters count request records; QueueDepth is about how many records
// wait (ids above the cursor) and OldestPendingAge the age of the oldest
// record read but not yet accepted.
func (t *Tailer) Health() events.SinkHealth {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.h
}

func (t *Tailer) run(ctx context.Context) {
	log := t.o.Log.With("integration", t.cfg.Name)
	for ctx.Err() == nil {
		pos, held, err := t.claim(ctx)
		wait := t.o.PollInterval
		if !held {
			// Another replica tails; look again well within its lease.
			wait = max(wait, t.o.Lease/6)
		}
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("langfuse cursor claim failed", "err", err)
		case held:
			err := t.tail(ctx, pos)
			rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if rerr := t.o.Store.ReleaseIntegrationCursor(rctx, t.o.IntegrationID, t.o.Owner); rerr != nil {
				log.Warn("langfuse cursor release failed", "err", rerr)
			}
			cancel()
			if err != nil && ctx.Err() == nil {
				log.Warn("langfuse tail interrupted", "err", err)
			}
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// claim takes the cursor's lease, creating the cursor at "now" (or
// BackfillHours ago) the first time.
func (t *Tailer) claim(ctx context.Context) (int64, bool, error) {
	var since time.Time
	if t.cfg.BackfillHours > 0 {
		since = t.o.now().Add(-time.Duration(t.cfg.BackfillHours) * time.Hour)
	}
	start, err := t.o.Store.RequestPositionAt(ctx, since)
	if err != nil {
		return 0, false, err
	}
	return t.o.Store.ClaimIntegrationCursor(ctx, t.o.IntegrationID, t.o.Owner, start, t.o.now(), t.o.Lease)
}

var errLeaseLost = errors.New("the cursor lease was lost")

// cursor is the tail's position: every record with an id at or below pos
// was sent (or skipped), and above maps ids above pos that were sent while
// a gap below them was still open.
type cursor struct {
	pos       int64
	above     map[int64]bool
	gaps      map[int64]time.Time // missing id → when first seen missing
	lastSaved time.Time
}

// tail sends records while this replica holds the lease; it returns when
// ctx ends or the lease is lost.
func (t *Tailer) tail(ctx context.Context, pos int64) error {
	cur := &cursor{pos: pos, above: map[int64]bool{}, gaps: map[int64]time.Time{}, lastSaved: t.o.now()}
	for ctx.Err() == nil {
		recs, err := t.o.Store.ListRequestsAfter(ctx, cur.pos, t.cfg.MaxBatch)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			t.o.Log.Warn("langfuse: reading request records failed", "integration", t.cfg.Name, "err", err)
			recs = nil
		}
		next, send, seen := t.plan(cur, recs)
		if len(send) > 0 {
			t.setOldest(send[0].At)
			if err := t.deliver(ctx, cur, send); err != nil {
				return err
			}
		}
		for _, id := range seen {
			cur.above[id] = true
		}
		for id := range cur.above {
			if id <= next {
				delete(cur.above, id)
			}
		}
		progressed := next != cur.pos
		if progressed || t.o.now().Sub(cur.lastSaved) >= t.o.Lease/3 {
			if err := t.save(ctx, cur, next); err != nil {
				return err
			}
		}
		t.setOldest(time.Time{})
		t.refreshDepth(ctx, cur.pos)
		t.update(func() {}) // failures age into Failed, old errors out of Degraded
		if progressed && len(recs) == t.cfg.MaxBatch {
			continue // more may be waiting
		}
		if !sleep(ctx, t.o.PollInterval) {
			return nil
		}
	}
	return nil
}

// plan walks a page of records in id order. It returns the new position
// (the last id before the first gap still within its grace), the records
// to send (wanted ones not sent before) and the ids above that position
// handled in this page.
func (t *Tailer) plan(cur *cursor, recs []bulwark.RequestRecord) (int64, []bulwark.RequestRecord, []int64) {
	now := t.o.now()
	next, expected, open := cur.pos, cur.pos+1, false
	var send []bulwark.RequestRecord
	var seen []int64
	for i := range recs {
		r := &recs[i]
		if !open && r.ID != expected {
			first, ok := cur.gaps[expected]
			if !ok {
				cur.gaps[expected] = now
				first = now
			}
			if now.Sub(first) >= t.o.GapGrace {
				delete(cur.gaps, expected)
			} else {
				open = true
			}
		}
		if !open {
			next, expected = r.ID, r.ID+1
		} else {
			seen = append(seen, r.ID)
		}
		if cur.above[r.ID] || !t.wanted(r) {
			continue
		}
		send = append(send, *r)
	}
	for id := range cur.gaps {
		if id <= next {
			delete(cur.gaps, id)
		}
	}
	return next, send, seen
}

// wanted applies the proxy filter, the MCP switch and sampling.
func (t *Tailer) wanted(r *bulwark.RequestRecord) bool {
	if len(t.cfg.Proxies) > 0 && !slices.Contains(t.cfg.Proxies, r.Proxy) {
		return false
	}
	if isMCP(r) && !t.cfg.IncludeMCP {
		return false
	}
	return sampled(r, t.cfg.SamplePercent)
}

func (t *Tailer) save(ctx context.Context, cur *cursor, next int64) error {
	err := t.o.Store.AdvanceIntegrationCursor(ctx, t.o.IntegrationID, t.o.Owner, next, t.o.now(), t.o.Lease)
	switch code := bulwark.ErrorCodeOf(err); {
	case err == nil:
		cur.pos, cur.lastSaved = next, t.o.now()
		return nil
	case code == bulwark.CodeConflict || code == bulwark.CodeNotFound:
		return fmt.Errorf("%w: %w", errLeaseLost, err)
	case ctx.Err() != nil:
		return ctx.Err()
	default:
		// The records are sent; a failed save only means they may be sent
		// again. Keep the position in memory and try again next round.
		t.o.Log.Warn("langfuse cursor save failed", "integration", t.cfg.Name, "err", err)
		cur.pos = next
		return nil
	}
}

// deliver sends recs until Langfuse has accepted or permanently rejected
// every one, backing off between attempts and renewing the lease while it
// waits. It returns an error only when ctx ends or the lease is lost.
func (t *Tailer) deliver(ctx context.Context, cur *cursor, recs []bulwark.RequestRecord) error {
	for chunk := range slices.Chunk(recs, t.cfg.MaxBatch) {
		if err := t.deliverBatch(ctx, cur, chunk); err != nil {
			return err
		}
	}
	return nil
}

func (t *Tailer) deliverBatch(ctx context.Context, cur *cursor, recs []bulwark.RequestRecord) error {
	byEvent := map[string]int{} // event id → index in recs
	var pending []Event
	for i := range recs {
		for _, ev := range Map(&recs[i], t.cfg.Environment, t.cfg.Release) {
			byEvent[ev.ID] = i
			pending = append(pending, ev)
		}
	}
	rejected := map[int]bool{}
	for attempt := 0; ; attempt++ {
		failedN := len(recs) // records in this failed attempt
		itemErrs, err := t.c.send(ctx, pending)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var retryAfter time.Duration
		if err != nil {
			var de *events.DeliveryError
			if errors.As(err, &de) {
				retryAfter = de.RetryAfter
				// A body Langfuse cannot take as a whole: halve the batch
				// to find the record it refuses; a single one is dropped.
				if de.Permanent && (de.Status == 400 || de.Status == 413 || de.Status == 422) {
					if len(recs) > 1 {
						half := len(recs) / 2
						if err := t.deliverBatch(ctx, cur, recs[:half]); err != nil {
							return err
						}
						return t.deliverBatch(ctx, cur, recs[half:])
					}
					t.rejected(1, err.Error())
					return nil
				}
			}
			// Anything else (network, 5xx, 429, and 401/403/404, which
			// need the operator) is retried: dropping the records would
			// lose them.
			t.failed(len(recs), err.Error())
		} else {
			var retry []Event
			failedRecs := map[int]bool{}
			var msgs []string
			for _, ie := range itemErrs {
				i, ok := byEvent[ie.ID]
				if !ok {
					continue
				}
				msgs = append(msgs, ie.String())
				if ie.Retryable() {
					failedRecs[i] = true
					for _, ev := range pending {
						if ev.ID == ie.ID {
							retry = append(retry, ev)
						}
					}
				} else {
					rejected[i] = true
				}
			}
			if len(retry) == 0 {
				ok := len(recs) - len(rejected)
				t.succeeded(ok)
				if len(rejected) > 0 {
					t.rejected(len(rejected), strings.Join(msgs, "; "))
				}
				return nil
			}
			pending, failedN = retry, len(failedRecs)
			t.failed(failedN, strings.Join(msgs, "; "))
		}
		t.retried(failedN)
		delay := t.backoff(attempt, retryAfter)
		if err := t.wait(ctx, cur, delay); err != nil {
			return err
		}
	}
}

// wait sleeps for d, renewing the cursor's lease meanwhile so a long
// outage does not hand the cursor to another replica that would fail too.
func (t *Tailer) wait(ctx context.Context, cur *cursor, d time.Duration) error {
	deadline := t.o.now().Add(d)
	for {
		left := deadline.Sub(t.o.now())
		if left <= 0 {
			return nil
		}
		step := min(left, t.o.Lease/3)
		if !sleep(ctx, step) {
			return ctx.Err()
		}
		if err := t.save(ctx, cur, cur.pos); err != nil {
			return err
		}
		t.update(func() {})
	}
}

// backoff is full jitter over a capped exponential, or retryAfter when
// Langfuse asked for longer.
func (t *Tailer) backoff(attempt int, retryAfter time.Duration) time.Duration {
	ceil := t.o.MaxBackoff
	if attempt < 40 {
		if b := t.o.BaseBackoff << attempt; b > 0 && b < ceil {
			ceil = b
		}
	}
	return max(t.o.jitter(ceil), retryAfter)
}

func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// SendTest sends one synthetic trace (proxy "bulwark-test") and reports
// Langfuse's answer, including a refused event, as an error.
func (t *Tailer) SendTest(ctx context.Context) error {
	var b [8]byte
	_, _ = rand.Read(b[:])
	rec := TestRecord("test-"+hex.EncodeToString(b[:]), t.o.now())
	itemErrs, err := t.c.send(ctx, Map(&rec, t.cfg.Environment, t.cfg.Release))
	if err != nil {
		return err
	}
	if len(itemErrs) > 0 {
		msgs := make([]string, len(itemErrs))
		for i, e := range itemErrs {
			msgs[i] = e.String()
		}
		return &events.DeliveryError{Permanent: !itemErrs[0].Retryable(), Status: itemErrs[0].Status, Err: errors.New(strings.Join(msgs, "; "))}
	}
	return nil
}

// TestRecord is the synthetic request SendTest traces.
func TestRecord(requestID string, at time.Time) bulwark.RequestRecord {
	return bulwark.RequestRecord{
		RequestID: requestID, At: at.UTC(), Proxy: "bulwark-test", User: "bulwark", Model: "bulwark-test",
		API: "chat", Path: "/v1/chat/completions", Status: 200, Verdict: bulwark.VerdictAllow, LatencyMs: 1,
	}
}
