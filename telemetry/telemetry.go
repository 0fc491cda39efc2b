// Package telemetry owns Bulwark's logs and metrics: the slog logger (text
// for a terminal, JSON for collectors), the Prometheus registry with the Go
// runtime, process, HTTP server and database pool collectors, and the HTTP
// middleware that measures every request by route.
package telemetry

import (
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger builds the process logger. format is "text" or "json"; level is
// debug, info, warn or error.
func NewLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: %w", level, err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text", "":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: must be text or json", format)
}

// Metrics is the Prometheus registry and the collectors shared by packages.
type Metrics struct {
	Registry *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec
	httpInFlight prometheus.Gauge
	Events       *prometheus.CounterVec
	Logins       *prometheus.CounterVec
	AuditErrors  prometheus.Counter
}

// NewMetrics creates a registry with runtime and process collectors.
func NewMetrics(version string) *Metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	)
	m := &Metrics{
		Registry: reg,
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_http_requests_total",
			Help: "Admin HTTP requests by route pattern, method and status code.",
		}, []string{"route", "method", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "bulwark_http_request_duration_seconds",
			Help:    "Admin HTTP request latency by route pattern and method.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}, []string{"route", "method"}),
		httpInFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bulwark_http_requests_in_flight",
			Help: "Admin HTTP requests being served.",
		}),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_events_published_total",
			Help: "Events stored on the event path, by type and severity.",
		}, []string{"type", "severity"}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_logins_total",
			Help: "Console login attempts by result (success, failure, throttled).",
		}, []string{"result"}),
		AuditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_audit_write_errors_total",
			Help: "Audit records that could not be stored (each is also logged at error level).",
		}),
	}
	info := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "bulwark_info",
		Help:        "Bulwark version running.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	info.Set(1)
	reg.MustRegister(m.httpRequests, m.httpDuration, m.httpInFlight, m.Events, m.Logins, m.AuditErrors, info)
	return m
}

// RegisterDB adds connection-pool statistics for each named *sql.DB.
func (m *Metrics) RegisterDB(dbs map[string]*sql.DB) {
	for name, db := range dbs {
		m.Registry.MustRegister(collectors.NewDBStatsCollector(db, name))
	}
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// Instrument measures every request through next. The route label is the
// ServeMux pattern that matched (bounded cardinality), or "unmatched".
func (m *Metrics) Instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.httpInFlight.Inc()
		defer m.httpInFlight.Dec()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		m.httpRequests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Inc()
		m.httpDuration.WithLabelValues(route, r.Method).Observe(time.Since(start).Seconds())
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wroteHeader {
		s.status = code
		s.wroteHeader = true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	s.wroteHeader = true
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and deadlines.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
