package langfuse

import (
	"context"
	"time"

	"github.com/bulwarkhq/bulwark/events"
)

// The outcome recorders below keep events.SinkHealth the way the outbox
// dispatcher does, so /integrations/health and the alerts on health
// transitions read the same for every integration.

func (t *Tailer) succeeded(n int) {
	now := t.o.now()
	t.update(func() {
		t.h.Sent += int64(n)
		t.h.LastSuccess = now
		t.failing, t.dead = time.Time{}, false
	})
	t.m.Sent.WithLabelValues(t.cfg.Name).Add(float64(n))
	t.m.LastSuccess.WithLabelValues(t.cfg.Name).Set(float64(now.Unix()))
}

func (t *Tailer) failed(n int, msg string) {
	now := t.o.now()
	t.o.Log.Warn("langfuse delivery failed", "integration", t.cfg.Name, "records", n, "err", msg)
	t.update(func() {
		t.h.Failed += int64(n)
		t.h.LastError, t.h.LastErrorAt = msg, now
		t.lastErr = now
		if t.failing.IsZero() {
			t.failing = now
		}
		t.dead = false
	})
	t.m.Failed.WithLabelValues(t.cfg.Name).Add(float64(n))
}

func (t *Tailer) retried(n int) {
	t.update(func() { t.h.Retried += int64(n) })
	t.m.Retried.WithLabelValues(t.cfg.Name).Add(float64(n))
}

// rejected counts records Langfuse refused for good; they are skipped.
func (t *Tailer) rejected(n int, msg string) {
	now := t.o.now()
	t.o.Log.Error("langfuse refused records; they are skipped", "integration", t.cfg.Name, "records", n, "err", msg)
	t.update(func() {
		t.h.DeadLettered += int64(n)
		t.h.LastError, t.h.LastErrorAt = msg, now
		t.lastErr = now
		t.dead = true
	})
	t.m.DeadLettered.WithLabelValues(t.cfg.Name).Add(float64(n))
}

// setOldest records the time of the oldest record read but not accepted
// yet (zero: none).
func (t *Tailer) setOldest(at time.Time) {
	var age time.Duration
	if !at.IsZero() {
		age = max(t.o.now().Sub(at), 0)
	}
	t.mu.Lock()
	t.h.OldestPendingAge = age
	t.mu.Unlock()
	t.m.Oldest.WithLabelValues(t.cfg.Name).Set(age.Seconds())
}

// refreshDepth estimates the records waiting as the highest id minus the
// position (ids are nearly dense).
func (t *Tailer) refreshDepth(ctx context.Context, pos int64) {
	top, err := t.o.Store.RequestPositionAt(ctx, time.Time{})
	if err != nil {
		return
	}
	depth := int(max(top-pos, 0))
	t.mu.Lock()
	t.h.QueueDepth = depth
	t.mu.Unlock()
	t.m.Depth.WithLabelValues(t.cfg.Name).Set(float64(depth))
}

// update changes the health under the lock, then re-evaluates its state.
func (t *Tailer) update(f func()) {
	t.mu.Lock()
	f()
	now := t.o.now()
	next := events.HealthStateAt(now, t.dead, t.failing, t.lastErr, t.o.FailedAfter)
	prev := t.h.State
	if next == prev {
		t.mu.Unlock()
		return
	}
	t.h.State, t.h.Since = next, now
	h := t.h
	t.mu.Unlock()
	t.m.SetState(t.cfg.Name, next)
	t.o.Log.Info("integration health changed", "integration", t.cfg.Name, "from", prev, "to", next, "last_error", h.LastError)
	events.AnnounceHealth(t.o.Publisher, t.o.Log, t.cfg.Name, prev, h)
}
