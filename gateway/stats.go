package gateway

import (
	"slices"
	"sync"

	"github.com/bulwarkhq/bulwark"
)

// stats are a proxy's counters since the process started, and a ring of
// its latest requests for the console.
type stats struct {
	mu        sync.Mutex
	s         bulwark.ProxyStats
	latencies []float64 // ring of the latest latencies (ms), for p50/p99
	li        int
	ring      []bulwark.RequestRecord
	ri        int
}

const (
	latencyWindow = 2048
	recentWindow  = 100
)

func newStats() *stats {
	return &stats{latencies: make([]float64, 0, latencyWindow), ring: make([]bulwark.RequestRecord, 0, recentWindow)}
}

func (st *stats) add(r *bulwark.RequestRecord) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.s.Requests++
	switch r.Verdict {
	case bulwark.VerdictBlock:
		st.s.Blocked++
	case bulwark.VerdictError:
		st.s.Errors++
	}
	st.s.InputTokens += r.InputTokens + r.CacheReadTokens + r.CacheWriteTokens
	st.s.OutputTokens += r.OutputTokens
	st.s.CostUSD += r.CostUSD
	if len(st.latencies) < latencyWindow {
		st.latencies = append(st.latencies, r.LatencyMs)
	} else {
		st.latencies[st.li] = r.LatencyMs
		st.li = (st.li + 1) % latencyWindow
	}
	if len(st.ring) < recentWindow {
		st.ring = append(st.ring, *r)
	} else {
		st.ring[st.ri] = *r
		st.ri = (st.ri + 1) % recentWindow
	}
}

func (st *stats) snapshot() bulwark.ProxyStats {
	st.mu.Lock()
	s := st.s
	lat := slices.Clone(st.latencies)
	st.mu.Unlock()
	if len(lat) > 0 {
		slices.Sort(lat)
		s.P50Ms = lat[(len(lat)-1)*50/100]
		s.P99Ms = lat[(len(lat)-1)*99/100]
	}
	return s
}

// recent returns up to n of the latest records, newest first.
func (st *stats) recent(n int) []bulwark.RequestRecord {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := make([]bulwark.RequestRecord, 0, min(n, len(st.ring)))
	for i := 0; i < len(st.ring) && len(out) < n; i++ {
		// The newest is just before ri once the ring is full, else at the end.
		j := len(st.ring) - 1 - i
		if len(st.ring) == recentWindow {
			j = (st.ri - 1 - i + recentWindow) % recentWindow
		}
		out = append(out, st.ring[j])
	}
	return out
}
