package events

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"regexp"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
)

type fakeRecorder struct {
	mu     sync.Mutex
	events []bulwark.Event
	audits []*bulwark.AuditEntry
	sinks  [][]string
	fail   error
	ctxErr error
}

func (f *fakeRecorder) RecordEvent(ctx context.Context, ev *bulwark.Event, a *bulwark.AuditEntry, sinks []string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctxErr = ctx.Err()
	if f.fail != nil {
		return f.fail
	}
	f.events = append(f.events, *ev)
	f.audits = append(f.audits, a)
	f.sinks = append(f.sinks, sinks)
	return nil
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestPublishFillsAndStoresBeforeFanout(t *testing.T) {
	rec := &fakeRecorder{}
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	var hooked int
	b := New(rec, slog.New(slog.DiscardHandler), WithClock(func() time.Time { return now }), WithPublishHook(func(*bulwark.Event) { hooked++ }))
	b.SetSinks([]string{"splunk", "slack"})
	sub := b.Subscribe(4)
	defer sub.Close()

	ev, err := b.Publish(context.Background(), bulwark.Event{Type: bulwark.EventSystem, Action: "system.start"})
	if err != nil {
		t.Fatal(err)
	}
	if !uuidRE.MatchString(ev.ID) || !ev.Time.Equal(now) || ev.Severity != bulwark.SeverityInfo || string(ev.Data) != "{}" {
		t.Fatalf("defaults not filled: %+v", ev)
	}
	if len(rec.events) != 1 || len(rec.sinks[0]) != 2 || rec.audits[0] != nil || hooked != 1 {
		t.Fatalf("stored %+v sinks %v", rec.events, rec.sinks)
	}
	select {
	case got := <-sub.C:
		if got.ID != ev.ID {
			t.Fatal("subscriber got another event")
		}
	default:
		t.Fatal("subscriber got nothing")
	}
}

func TestAuditStoresEntryWithEvent(t *testing.T) {
	rec := &fakeRecorder{}
	b := New(rec, slog.New(slog.DiscardHandler))
	entry := &bulwark.AuditEntry{Actor: "alice", Action: "user.create", Result: bulwark.ResultSuccess}
	ev, err := b.Audit(context.Background(), entry, bulwark.Event{Type: bulwark.EventConfig, Action: "user.create"})
	if err != nil {
		t.Fatal(err)
	}
	if rec.audits[0] != entry || !entry.Time.Equal(ev.Time) {
		t.Fatalf("audit entry not stored with the event time: %+v", entry)
	}
}

// A failed store write is reported and never reaches subscribers: the
// live feed must not show what the record does not have.
func TestFailedStoreIsNotFannedOut(t *testing.T) {
	rec := &fakeRecorder{fail: errors.New("disk full")}
	b := New(rec, slog.New(slog.DiscardHandler))
	sub := b.Subscribe(1)
	defer sub.Close()
	if _, err := b.Publish(context.Background(), bulwark.Event{Action: "x"}); err == nil {
		t.Fatal("error swallowed")
	}
	select {
	case <-sub.C:
		t.Fatal("unstored event fanned out")
	default:
	}
}

// A request cancelled at the wrong moment must not lose the audit record
// of what it already did.
func TestCancelledCallerStillStores(t *testing.T) {
	rec := &fakeRecorder{}
	b := New(rec, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Publish(ctx, bulwark.Event{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if rec.ctxErr != nil || len(rec.events) != 1 {
		t.Fatalf("store saw a cancelled context: %v", rec.ctxErr)
	}
}

func TestSlowSubscriberDropsInsteadOfBlocking(t *testing.T) {
	b := New(&fakeRecorder{}, slog.New(slog.DiscardHandler))
	slow := b.Subscribe(2)
	defer slow.Close()
	for range 5 {
		if _, err := b.Publish(context.Background(), bulwark.Event{Action: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	if slow.Dropped() != 3 || len(slow.C) != 2 {
		t.Fatalf("dropped %d, buffered %d", slow.Dropped(), len(slow.C))
	}
}

func TestCloseIsIdempotentAndConcurrentSafe(t *testing.T) {
	b := New(&fakeRecorder{}, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(2)
		s := b.Subscribe(1)
		go func() { defer wg.Done(); _, _ = b.Publish(context.Background(), bulwark.Event{Action: "x"}) }()
		go func() { defer wg.Done(); s.Close(); s.Close() }()
	}
	wg.Wait()
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.subs) != 0 {
		t.Fatalf("%d subscriptions left after Close", len(b.subs))
	}
}

func BenchmarkPublish(b *testing.B) {
	bus := New(&fakeRecorder{}, slog.New(slog.DiscardHandler))
	sub := bus.Subscribe(1)
	defer sub.Close()
	b.ReportAllocs()
	for b.Loop() {
		_, _ = bus.Publish(context.Background(), bulwark.Event{Type: bulwark.EventAuth, Action: "auth.login"})
	}
}

// Data from traffic may hold invalid UTF-8 or not be JSON: what is stored
// and delivered is always valid UTF-8 JSON.
func TestPublishCleansData(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want string
	}{
		{"empty", ``, `{}`},
		{"valid kept as is", `{"b":1,"a":"x"}`, `{"b":1,"a":"x"}`},
		{"invalid UTF-8 in a string", "{\"evidence\":\"ab\xff\xfe\",\"n\":12345678901234567890}", "{\"evidence\":\"ab\ufffd\ufffd\",\"n\":12345678901234567890}"},
		{"not JSON", "plain \xff text", `"plain \ufffd text"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := string(CleanData(json.RawMessage(tc.in)))
			if got != tc.want {
				t.Fatalf("CleanData(%q) = %s, want %s", tc.in, got, tc.want)
			}
			if !json.Valid([]byte(got)) || !utf8.ValidString(got) {
				t.Fatalf("not valid UTF-8 JSON: %q", got)
			}
		})
	}
}
