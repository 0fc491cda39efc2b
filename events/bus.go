// Package events owns the event path: Publish stores each event durably
// (with its audit record and one outbox row per enabled sink, in one
// transaction) and then fans it out to live subscribers such as the UI feed.
// Delivery to sinks (SIEM, Slack, e-mail…) reads the outbox; it never runs on
// the publisher's goroutine, so a slow sink cannot slow a request.
package events

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/google/uuid"
)

// Recorder is the part of the store the bus needs.
type Recorder interface {
	RecordEvent(ctx context.Context, ev *bulwark.Event, audit *bulwark.AuditEntry, sinks []string) error
}

// batchRecorder stores several events in one transaction (the store
// does); PublishBatch falls back to one RecordEvent each without it.
type batchRecorder interface {
	RecordEvents(ctx context.Context, recs []bulwark.EventRecord) error
}

// Bus publishes events. It is safe for concurrent use.
type Bus struct {
	rec    Recorder
	log    *slog.Logger
	now    func() time.Time
	onPub  func(ev *bulwark.Event) // metrics hook; may be nil
	mu     sync.RWMutex
	subs   map[*Subscription]struct{}
	sinkMu sync.RWMutex
	routes []Route
}

// Option configures a Bus.
type Option func(*Bus)

// WithClock replaces time.Now (tests).
func WithClock(now func() time.Time) Option { return func(b *Bus) { b.now = now } }

// WithPublishHook calls f after every stored event (metrics).
func WithPublishHook(f func(ev *bulwark.Event)) Option { return func(b *Bus) { b.onPub = f } }

// New returns a bus writing to rec.
func New(rec Recorder, log *slog.Logger, opts ...Option) *Bus {
	b := &Bus{rec: rec, log: log, now: time.Now, subs: map[*Subscription]struct{}{}}
	for _, o := range opts {
		o(b)
	}
	return b
}

// SetSinks sets the names of the enabled sinks; each published event gets an
// outbox row per sink.
func (b *Bus) SetSinks(names []string) {
	routes := make([]Route, len(names))
	for i, n := range names {
		routes[i] = Route{Sink: n}
	}
	b.SetRoutes(routes)
}

// SetRoutes sets the enabled integrations with their filters; each
// published event gets an outbox row for every route that wants it.
func (b *Bus) SetRoutes(routes []Route) {
	b.sinkMu.Lock()
	b.routes = append([]Route(nil), routes...)
	b.sinkMu.Unlock()
}

// sinksFor returns the sinks whose routes want ev.
func (b *Bus) sinksFor(ev *bulwark.Event) []string {
	b.sinkMu.RLock()
	defer b.sinkMu.RUnlock()
	var out []string
	for _, r := range b.routes {
		if r.Wants(ev) {
			out = append(out, r.Sink)
		}
	}
	return out
}

// Publish stores ev durably and then notifies subscribers. Missing ID, Time
// and Severity are filled in. An error means the event was not stored.
func (b *Bus) Publish(ctx context.Context, ev bulwark.Event) (bulwark.Event, error) {
	return b.record(ctx, ev, nil)
}

// Audit stores an audit entry together with the event that announces it.
func (b *Bus) Audit(ctx context.Context, entry *bulwark.AuditEntry, ev bulwark.Event) (bulwark.Event, error) {
	return b.record(ctx, ev, entry)
}

// PublishBatch publishes several events, stored together in one
// transaction when the store can (all or none): a publisher draining a
// queue, such as the gateway's recorder, stores a burst of alerts many
// times faster than one by one. It returns the events as stored.
func (b *Bus) PublishBatch(ctx context.Context, evs []bulwark.Event) ([]bulwark.Event, error) {
	br, ok := b.rec.(batchRecorder)
	if !ok || len(evs) == 1 {
		out := make([]bulwark.Event, 0, len(evs))
		for _, ev := range evs {
			stored, err := b.record(ctx, ev, nil)
			if err != nil {
				return out, err
			}
			out = append(out, stored)
		}
		return out, nil
	}
	out := make([]bulwark.Event, len(evs))
	recs := make([]bulwark.EventRecord, len(evs))
	for i := range evs {
		out[i] = b.fill(evs[i])
		recs[i] = bulwark.EventRecord{Event: &out[i], Sinks: b.sinksFor(&out[i])}
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := br.RecordEvents(sctx, recs); err != nil {
		b.log.Error("events not stored", "count", len(evs), "err", err)
		return nil, fmt.Errorf("store %d events: %w", len(evs), err)
	}
	for i := range out {
		if b.onPub != nil {
			b.onPub(&out[i])
		}
		b.fanout(out[i])
	}
	return out, nil
}

// fill sets what a published event must have: id, time, severity, clean data.
func (b *Bus) fill(ev bulwark.Event) bulwark.Event {
	if ev.ID == "" {
		ev.ID = NewID()
	}
	if ev.Time.IsZero() {
		ev.Time = b.now().UTC()
	}
	if ev.Severity == "" {
		ev.Severity = bulwark.SeverityInfo
	}
	ev.Data = CleanData(ev.Data)
	return ev
}

func (b *Bus) record(ctx context.Context, ev bulwark.Event, entry *bulwark.AuditEntry) (bulwark.Event, error) {
	ev = b.fill(ev)
	if entry != nil && entry.Time.IsZero() {
		entry.Time = ev.Time
	}
	// The store must see the write even if the caller's request is cancelled
	// right now: an audit record of a completed action must not be lost.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := b.rec.RecordEvent(sctx, &ev, entry, b.sinksFor(&ev)); err != nil {
		b.log.Error("event not stored", "action", ev.Action, "type", ev.Type, "err", err)
		return ev, fmt.Errorf("store event %s: %w", ev.Action, err)
	}
	if b.onPub != nil {
		b.onPub(&ev)
	}
	b.fanout(ev)
	return ev, nil
}

// CleanData makes an event's data what every consumer may rely on: a JSON
// document in valid UTF-8. Data copied from traffic can hold invalid UTF-8
// (encoding/json lets such bytes through inside strings), which a SIEM
// reading UTF-8 rejects with the whole batch: decoding turns them into
// U+FFFD. Data that is not JSON at all is kept as a JSON string. The bus
// applies it on publish; sinks apply it again to rows stored before.
func CleanData(d json.RawMessage) json.RawMessage {
	if len(d) == 0 {
		return json.RawMessage("{}")
	}
	if json.Valid(d) && utf8.Valid(d) {
		return d
	}
	if json.Valid(d) {
		dec := json.NewDecoder(bytes.NewReader(d))
		dec.UseNumber() // keep numbers exactly as they were
		var v any
		if err := dec.Decode(&v); err == nil {
			if b, err := json.Marshal(v); err == nil {
				return b
			}
		}
	}
	b, _ := json.Marshal(string(d)) // invalid UTF-8 becomes U+FFFD
	return b
}

// Subscription receives events published after it was created. A subscriber
// that does not keep up loses events (counted in Dropped): the live feed is
// best-effort, the store is the record.
type Subscription struct {
	C       <-chan bulwark.Event
	c       chan bulwark.Event
	bus     *Bus
	mu      sync.Mutex
	dropped int
	closed  bool
}

// Subscribe returns a subscription with the given buffer size.
func (b *Bus) Subscribe(buffer int) *Subscription {
	if buffer < 1 {
		buffer = 64
	}
	c := make(chan bulwark.Event, buffer)
	s := &Subscription{C: c, c: c, bus: b}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Dropped is how many events this subscriber missed because it was slow.
func (s *Subscription) Dropped() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Close ends the subscription and closes C.
func (s *Subscription) Close() {
	s.bus.mu.Lock()
	delete(s.bus.subs, s)
	s.bus.mu.Unlock()
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.c)
	}
	s.mu.Unlock()
}

func (b *Bus) fanout(ev bulwark.Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		s.mu.Lock()
		if !s.closed {
			select {
			case s.c <- ev:
			default:
				s.dropped++
			}
		}
		s.mu.Unlock()
	}
}

// NewID returns a random UUIDv4 string.
func NewID() string { return uuid.NewString() }
