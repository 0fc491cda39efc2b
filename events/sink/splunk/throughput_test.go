package splunk_test

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/splunk"
	"github.com/bulwarkhq/bulwark/fake/siem"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

// BenchmarkPublishAndDeliverHEC is issue #7's "sustained ≥ 5,000 alerts/s
// into the outbox on SQLite, with delivery keeping up to a fast HEC fake":
// alerts are stored as the gateway's recorder stores them (events, alerts
// and outbox rows of what is queued, in one transaction) while a
// dispatcher delivers them in batches through the
// real Splunk sink to the strict HEC fake. It reports the publish rate and
// the rate at which the last alert reached the fake, and fails when an
// alert is missing.
func BenchmarkPublishAndDeliverHEC(b *testing.B) {
	db := storetest.OpenSQLite(b)
	hec := siem.NewHEC("hec-token")
	srv := httptest.NewServer(hec)
	defer srv.Close()
	sink, err := splunk.New(splunk.Config{Name: "siem", URL: srv.URL, Token: "hec-token"})
	if err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.DiscardHandler)
	bus := events.New(db, log)
	bus.SetRoutes([]events.Route{{Sink: "siem"}})
	d := events.NewDispatcher(events.DispatchOptions{Store: db, Log: log, PollInterval: 10 * time.Millisecond})
	d.SetSinks([]events.Sink{sink})
	defer d.Stop(context.Background())

	// Alerts arrive from the gateway's recorder, which drains its queue
	// and stores what is queued together; here it is kept full.
	ctx := context.Background()
	var published atomic.Int64
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
		published.Add(int64(len(batch)))
	}
	pubElapsed := time.Since(start)
	n := int(published.Load())
	deadline := time.Now().Add(time.Minute)
	for len(hec.Events()) < n {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d alerts delivered after a minute", len(hec.Events()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	delElapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(n)/pubElapsed.Seconds(), "published/s")
	b.ReportMetric(float64(n)/delElapsed.Seconds(), "delivered/s")
	b.ReportMetric(float64(delElapsed-pubElapsed)/float64(time.Millisecond), "drain-ms")
}
