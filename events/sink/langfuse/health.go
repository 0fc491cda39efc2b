package langfuse

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark"
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
	t.m.sent.WithLabelValues(t.cfg.Name).Add(float64(n))
	t.m.lastSuccess.WithLabelValues(t.cfg.Name).Set(float64(now.Unix()))
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
	t.m.failed.WithLabelValues(t.cfg.Name).Add(float64(n))
}

func (t *Tailer) retried(n int) {
	t.update(func() { t.h.Retried += int64(n) })
	t.m.retried.WithLabelValues(t.cfg.Name).Add(float64(n))
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
	t.m.deadLettered.WithLabelValues(t.cfg.Name).Add(float64(n))
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
	t.m.oldest.WithLabelValues(t.cfg.Name).Set(age.Seconds())
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
	t.m.depth.WithLabelValues(t.cfg.Name).Set(float64(depth))
}

// update changes the health under the lock, then re-evaluates its state.
func (t *Tailer) update(f func()) {
	t.mu.Lock()
	f()
	now := t.o.now()
	next := events.Healthy
	switch {
	case t.dead, !t.failing.IsZero() && now.Sub(t.failing) >= t.o.FailedAfter:
		next = events.Failed
	case !t.failing.IsZero(), !t.lastErr.IsZero() && now.Sub(t.lastErr) < t.o.FailedAfter:
		next = events.Degraded
	}
	prev := t.h.State
	if next == prev {
		t.mu.Unlock()
		return
	}
	t.h.State, t.h.Since = next, now
	h := t.h
	t.mu.Unlock()
	t.m.setState(t.cfg.Name, next)
	t.o.Log.Info("integration health changed", "integration", t.cfg.Name, "from", prev, "to", next, "last_error", h.LastError)
	t.announce(prev, h)
}

func (t *Tailer) announce(prev events.HealthState, h events.SinkHealth) {
	if t.o.Publisher == nil {
		return
	}
	sev := bulwark.SeverityInfo
	subject := fmt.Sprintf("integration %s is %s", t.cfg.Name, h.State)
	switch h.State {
	case events.Failed:
		sev = bulwark.SeverityHigh
	case events.Degraded:
		sev = bulwark.SeverityMedium
	}
	if h.State != events.Healthy && h.LastError != "" {
		subject += ": " + h.LastError
	}
	data := map[string]any{
		"integration": t.cfg.Name, "state": h.State, "previous": prev,
		"sent": h.Sent, "failed": h.Failed, "retried": h.Retried, "dead_lettered": h.DeadLettered,
		"queue_depth": h.QueueDepth, "last_error": h.LastError,
	}
	if !h.LastSuccess.IsZero() {
		data["last_success"] = h.LastSuccess.UTC()
	}
	raw, _ := json.Marshal(data)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := t.o.Publisher.Publish(ctx, bulwark.Event{Type: bulwark.EventIntegrationHealth,
		Action: "integration.health", Severity: sev, Actor: "system", Subject: subject, Data: raw}); err != nil {
		t.o.Log.Warn("integration health event not published", "integration", t.cfg.Name, "err", err)
	}
}

// metrics are the outbox dispatcher's bulwark_integration_* series (same
// names, help and labels, so registering them again returns the
// dispatcher's collectors), fed with records instead of events.
type metrics struct {
	sent, failed, retried, deadLettered *prometheus.CounterVec
	depth, oldest, lastSuccess, state   *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return register(reg, log, prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"integration"}))
	}
	gauge := func(name, help string, labels ...string) *prometheus.GaugeVec {
		return register(reg, log, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, append([]string{"integration"}, labels...)))
	}
	return &metrics{
		sent:         counter("bulwark_integration_sent_total", "Events delivered to the integration."),
		failed:       counter("bulwark_integration_failed_total", "Failed delivery attempts of events to the integration."),
		retried:      counter("bulwark_integration_retried_total", "Event deliveries rescheduled with backoff."),
		deadLettered: counter("bulwark_integration_dead_lettered_total", "Events parked in the dead-letter list after a permanent failure."),
		depth:        gauge("bulwark_integration_queue_depth", "Outbox items pending for the integration."),
		oldest:       gauge("bulwark_integration_oldest_pending_seconds", "Age of the integration's oldest pending outbox item."),
		lastSuccess:  gauge("bulwark_integration_last_success_timestamp_seconds", "Unix time of the integration's last successful delivery."),
		state:        gauge("bulwark_integration_health", "1 for the integration's current health state (healthy, degraded, failed), else 0.", "state"),
	}
}

// register registers c or returns the collector already registered under
// its name. A clash (the dispatcher's definition changed) is logged and the
// series are kept unexported rather than failing the integration.
func register[C prometheus.Collector](reg prometheus.Registerer, log *slog.Logger, c C) C {
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
		log.Error("langfuse metrics not exported", "err", err)
	}
	return c
}

var healthStates = []events.HealthState{events.Healthy, events.Degraded, events.Failed}

func (m *metrics) setState(name string, s events.HealthState) {
	for _, x := range healthStates {
		v := 0.0
		if x == s {
			v = 1
		}
		m.state.WithLabelValues(name, string(x)).Set(v)
	}
}

func (m *metrics) init(name string) {
	for _, v := range []*prometheus.CounterVec{m.sent, m.failed, m.retried, m.deadLettered} {
		v.WithLabelValues(name)
	}
	m.depth.WithLabelValues(name)
	m.setState(name, events.Healthy)
}

func (m *metrics) forget(name string) {
	for _, v := range []*prometheus.CounterVec{m.sent, m.failed, m.retried, m.deadLettered} {
		v.DeleteLabelValues(name)
	}
	for _, v := range []*prometheus.GaugeVec{m.depth, m.oldest, m.lastSuccess} {
		v.DeleteLabelValues(name)
	}
	m.state.DeletePartialMatch(prometheus.Labels{"integration": name})
}
