package gateway

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the per-proxy Prometheus collectors.
type metrics struct {
	requests     *prometheus.CounterVec
	total        *prometheus.HistogramVec
	gateway      *prometheus.HistogramVec
	upstream     *prometheus.HistogramVec
	stage        *prometheus.HistogramVec
	tokens       *prometheus.CounterVec
	cost         *prometheus.CounterVec
	unpriced     *prometheus.CounterVec
	up           *prometheus.GaugeVec
	budget       *prometheus.GaugeVec
	recordErrors prometheus.Counter
	mcpDropped   *prometheus.CounterVec
	mcpSessions  *prometheus.GaugeVec
}

var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_proxy_requests_total",
			Help: "Proxied requests by proxy, HTTP status code and verdict (allow, monitor, redact, block, error).",
		}, []string{"proxy", "code", "verdict"}),
		total: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bulwark_proxy_request_duration_seconds", Help: "Whole request time seen by the client, by proxy.",
			Buckets: latencyBuckets,
		}, []string{"proxy"}),
		gateway: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bulwark_proxy_gateway_duration_seconds", Help: "Time the gateway itself added (request and response inspection), by proxy.",
			Buckets: latencyBuckets,
		}, []string{"proxy"}),
		upstream: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bulwark_proxy_upstream_duration_seconds", Help: "Time waiting for the upstream, by proxy.",
			Buckets: latencyBuckets,
		}, []string{"proxy"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bulwark_proxy_stage_duration_seconds", Help: "Time of each inspection stage (policy evaluation and the others), by proxy and stage.",
			Buckets: latencyBuckets,
		}, []string{"proxy", "stage"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_proxy_tokens_total", Help: "Tokens by proxy and type (input, output, cache_read, cache_write).",
		}, []string{"proxy", "type"}),
		cost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_proxy_cost_usd_total", Help: "Cost in USD of priced requests, by proxy.",
		}, []string{"proxy"}),
		unpriced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_proxy_unpriced_requests_total", Help: "Requests whose model has no price (their cost is unknown, not zero), by proxy and model.",
		}, []string{"proxy", "model"}),
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_proxy_up", Help: "1 when the proxy is running, 0 when stopped or in error.",
		}, []string{"proxy"}),
		budget: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_group_budget_utilization_ratio", Help: "Spent share of each group's monthly budget (1 = used up).",
		}, []string{"group"}),
		mcpDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_mcp_notifications_dropped_total", Help: "MCP server notifications not delivered to a client (client behind, or no stream to carry them), by proxy and reason.",
		}, []string{"proxy", "reason"}),
		mcpSessions: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "bulwark_mcp_sessions", Help: "Open MCP client sessions, by proxy.",
		}, []string{"proxy"}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "bulwark_request_records_dropped_total", Help: "Request records that could not be stored after retries (each batch is logged at error level).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.total, m.gateway, m.upstream, m.stage, m.tokens, m.cost, m.unpriced, m.up, m.budget, m.recordErrors,
			m.mcpDropped, m.mcpSessions)
	}
	return m
}

func (m *metrics) setUp(proxy string, up bool) {
	v := 0.0
	if up {
		v = 1
	}
	m.up.WithLabelValues(proxy).Set(v)
}

// forget drops a deleted proxy's series.
func (m *metrics) forget(proxy string) {
	l := prometheus.Labels{"proxy": proxy}
	for _, v := range []interface{ DeletePartialMatch(prometheus.Labels) int }{
		m.requests, m.total, m.gateway, m.upstream, m.stage, m.tokens, m.cost, m.unpriced, m.up, m.mcpDropped, m.mcpSessions,
	} {
		v.DeletePartialMatch(l)
	}
}
