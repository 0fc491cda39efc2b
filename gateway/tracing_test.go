package gateway_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/gateway"
	"github.com/bulwarkhq/bulwark/telemetry"
)

// TestTracing: a span per request with a child per inspection stage and
// one for the upstream, and the caller's trace continued upstream.
func TestTracing(t *testing.T) {
	if _, err := telemetry.NewTracing(context.Background(), "", "bulwark", "test", 1); err != nil {
		t.Fatal(err) // installs the W3C propagator
	}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	f := newFixture(t)
	gw, err := gateway.New(gateway.Options{Store: f.db, Keyring: f.ring, Tracer: tp, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	f.addProxy(&bulwark.Proxy{Name: "openai", Policies: []string{"gw-test"}})
	if err := gw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = gw.Shutdown(context.Background()) }()
	front := httptest.NewServer(gw)
	defer front.Close()
	f.front = front

	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	resp := f.post("/p/openai/v1/chat/completions", chat("hello", false), map[string]string{"Authorization": "Bearer " + f.key, "traceparent": parent})
	readAll(t, resp)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	// Spans end after the answer is written: wait for them.
	deadline := time.Now().Add(5 * time.Second)
	for len(rec.Ended()) < 6 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	names := map[string]bool{}
	for _, s := range rec.Ended() {
		names[s.Name()] = true
		if s.SpanContext().TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
			t.Errorf("span %s is not in the caller's trace", s.Name())
		}
	}
	for _, want := range []string{"proxy openai", "inspect access", "inspect budget", "inspect sysprompt", "inspect policy", "upstream"} {
		if !names[want] {
			t.Errorf("no span %q in %v", want, names)
		}
	}
	reqs := f.upstream.Requests()
	tp2 := reqs[len(reqs)-1].Header.Get("Traceparent")
	if !strings.HasPrefix(tp2, "00-4bf92f3577b34da6a3ce929d0e0e4736-") || strings.Contains(tp2, "00f067aa0ba902b7") {
		t.Errorf("upstream traceparent %q: want the caller's trace with the gateway's span as parent", tp2)
	}
}
