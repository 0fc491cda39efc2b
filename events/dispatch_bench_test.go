package events

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

// BenchmarkPublishWithSink publishes alerts while a dispatcher delivers
// them to a sink that answers at once or after a second: the publish p99
// is the same, because publishing only writes the outbox.
func BenchmarkPublishWithSink(b *testing.B) {
	for _, tc := range []struct {
		name  string
		delay time.Duration
	}{{"instant-sink", 0}, {"1s-sink", time.Second}} {
		b.Run(tc.name, func(b *testing.B) {
			db := storetest.OpenSQLite(b)
			bus := newTestBus(db, Route{Sink: "siem"})
			sink := newFakeSink("siem", 100)
			sink.delay = tc.delay
			o := fastOptions(db)
			o.StopTimeout = 10 * time.Millisecond
			d := NewDispatcher(o)
			d.SetSinks([]Sink{sink})
			defer d.Stop(context.Background())
			lat := make([]time.Duration, 0, b.N)
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				if _, err := bus.Publish(ctx, bulwark.Event{Type: bulwark.EventAlert, Action: "policy.block",
					Severity: bulwark.SeverityHigh, Category: "Guardrails", Subject: fmt.Sprintf("alert %d", i)}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		})
	}
}

// BenchmarkPublishRate is the sustained rate of alerts stored with their
// outbox rows on SQLite, from concurrent publishers.
func BenchmarkPublishRate(b *testing.B) {
	db := storetest.OpenSQLite(b)
	bus := newTestBus(db, Route{Sink: "siem"}, Route{Sink: "slack", MinSeverity: bulwark.SeverityCritical})
	ctx := context.Background()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := bus.Publish(ctx, bulwark.Event{Type: bulwark.EventAlert, Action: "policy.block",
				Severity: bulwark.SeverityHigh, Category: "Guardrails", Subject: "alert"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "alerts/s")
}

// BenchmarkPublishRateBatched is the sustained rate of alerts stored the
// way the gateway's recorder stores them: one goroutine draining a queue
// and storing what is queued together (batches of up to 100 here).
func BenchmarkPublishRateBatched(b *testing.B) {
	db := storetest.OpenSQLite(b)
	bus := newTestBus(db, Route{Sink: "siem"}, Route{Sink: "slack", MinSeverity: bulwark.SeverityCritical})
	ctx := context.Background()
	batch := make([]bulwark.Event, 0, 100)
	start := time.Now()
	b.ResetTimer()
	for i := 0; i < b.N; {
		batch = batch[:0]
		for ; i < b.N && len(batch) < cap(batch); i++ {
			batch = append(batch, bulwark.Event{Type: bulwark.EventAlert, Action: "policy.block",
				Severity: bulwark.SeverityHigh, Category: "Guardrails", Subject: "alert"})
		}
		if _, err := bus.PublishBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "alerts/s")
}
