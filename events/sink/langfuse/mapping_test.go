package langfuse

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var at = time.Date(2026, 5, 6, 7, 8, 9, 123456000, time.UTC)

func TestMapGolden(t *testing.T) {
	cases := []struct {
		name     string
		rec      bulwark.RequestRecord
		env, rel string
	}{
		{"allow", bulwark.RequestRecord{ID: 17, RequestID: "01JREQ0001", At: at, Proxy: "openai-prod", GroupID: 3, Group: "research",
			KeyID: 9, User: "alice", Model: "gpt-4o-mini", API: "chat", Path: "/v1/chat/completions", Stream: true, Status: 200,
			Verdict: bulwark.VerdictAllow, InputTokens: 1200, OutputTokens: 340, CacheReadTokens: 800, CacheWriteTokens: 64,
			CostUSD: 0.00123, Priced: true, LatencyMs: 1530.5, UpstreamMs: 1490}, "production", "v1.4.0"},
		{"block", bulwark.RequestRecord{ID: 18, RequestID: "01JREQ0002", At: at, Proxy: "openai-prod", Group: "research", User: "bob",
			Model: "gpt-4o", API: "chat", Path: "/v1/chat/completions", Status: 403, Verdict: bulwark.VerdictBlock,
			RuleID: "SEC-001", Findings: 2, InputTokens: 50, TokensEstimated: true, LatencyMs: 3.25}, "", ""},
		{"deny", bulwark.RequestRecord{ID: 19, RequestID: "01JREQ0003", At: at, Proxy: "claude", API: "messages",
			Path: "/v1/messages", Status: 429, Verdict: bulwark.VerdictDeny, Error: "rate limit of group research", LatencyMs: 0.4}, "", ""},
		{"error-unpriced", bulwark.RequestRecord{ID: 20, RequestID: "01JREQ0004", At: at, Proxy: "local", User: "svc-batch",
			Model: "llama-3-70b", API: "chat", Path: "/v1/chat/completions", Status: 502, Verdict: bulwark.VerdictError,
			Error: "upstream: connection refused", InputTokens: 10, LatencyMs: 12}, "staging", ""},
		{"mcp-tool", bulwark.RequestRecord{ID: 21, RequestID: "session-1", At: at, Proxy: "github-mcp", User: "carol",
			Model: "create_issue", API: "mcp.tools/call", Path: "tools/call/create_issue", Status: 200,
			Verdict: bulwark.VerdictMonitor, RuleID: "PII-EMAIL", Findings: 1, LatencyMs: 88}, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := json.MarshalIndent(Map(&c.rec, c.env, c.rel), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			path := filepath.Join("testdata", c.name+".json")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s differs (go test -update rewrites it):\n got %s\nwant %s", path, got, want)
			}
		})
	}
}

func TestIDsAreStableAndDistinct(t *testing.T) {
	a := bulwark.RequestRecord{ID: 1, RequestID: "sess", At: at}
	b := a
	b.ID = 2 // same MCP session, another call
	c := a
	c.At = at.Add(time.Nanosecond) // another database's row 1
	copyA := a
	if TraceID(&a) != TraceID(&copyA) || ObservationID(&a) != ObservationID(&copyA) {
		t.Fatal("ids are not deterministic")
	}
	ids := map[string]bool{}
	for _, r := range []*bulwark.RequestRecord{&a, &b, &c} {
		for _, id := range []string{TraceID(r), ObservationID(r)} {
			if ids[id] {
				t.Fatalf("id %s repeats", id)
			}
			ids[id] = true
		}
	}
	if len(TraceID(&a)) != 32 || len(ObservationID(&a)) != 16 || strings.Trim(TraceID(&a), "0123456789abcdef") != "" {
		t.Fatalf("ids are not W3C-shaped: %s %s", TraceID(&a), ObservationID(&a))
	}
}

func TestSampling(t *testing.T) {
	n := 0
	for i := range 10000 {
		r := bulwark.RequestRecord{ID: int64(i), RequestID: "r", At: at}
		if sampled(&r, 25) {
			n++
		}
		again := r
		if sampled(&r, 25) != sampled(&again, 25) {
			t.Fatal("sampling is not stable")
		}
		if !sampled(&r, 100) {
			t.Fatal("100% dropped a record")
		}
	}
	if n < 2200 || n > 2800 {
		t.Fatalf("25%% sampled %d of 10000", n)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := func() Config { return Config{Name: "lf", PublicKey: "pk-lf-1", SecretKey: "sk-lf-1"} }
	cases := []struct {
		name  string
		edit  func(*Config)
		field string // "" when valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"everything", func(c *Config) {
			c.Host, c.Environment, c.Release, c.Proxies, c.SamplePercent, c.IncludeMCP, c.BackfillHours, c.MaxBatch =
				"https://us.cloud.langfuse.com", "prod_eu-1", "v2", []string{"openai"}, 10, true, 24, 50
		}, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name"},
		{"bad host", func(c *Config) { c.Host = "cloud.langfuse.com" }, "host"},
		{"no public key", func(c *Config) { c.PublicKey = "" }, "public_key"},
		{"colon in public key", func(c *Config) { c.PublicKey = "pk:x" }, "public_key"},
		{"no secret key", func(c *Config) { c.SecretKey = " " }, "secret_key"},
		{"environment case", func(c *Config) { c.Environment = "Prod" }, "environment"},
		{"reserved environment", func(c *Config) { c.Environment = "langfuse-x" }, "environment"},
		{"release control", func(c *Config) { c.Release = "v1\n" }, "release"},
		{"bad proxy", func(c *Config) { c.Proxies = []string{"ok", "Not OK"} }, "proxies[1]"},
		{"sample", func(c *Config) { c.SamplePercent = 101 }, "sample_percent"},
		{"backfill", func(c *Config) { c.BackfillHours = -1 }, "backfill_hours"},
		{"batch", func(c *Config) { c.MaxBatch = MaxBatchSize + 1 }, "max_batch"},
		{"timeout", func(c *Config) { c.Timeout = -1 }, "timeout"},
		{"tls", func(c *Config) { c.TLS.CAPEM = "not pem" }, "tls.ca_pem"},
	}
	for _, tc := range cases {
		c := ok()
		tc.edit(&c)
		err := c.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%s: unexpected error %v", tc.name, err)
		case tc.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.field+" ") && !strings.HasPrefix(err.Error(), tc.field+":")):
			t.Errorf("%s: error %v does not start with %q", tc.name, err, tc.field)
		}
	}
}

func FuzzDetail(f *testing.F) {
	f.Add([]byte(`{"message":"Invalid credentials"}`))
	f.Add([]byte(`{"error":{"issues":[1,2]}}`))
	f.Add([]byte(`{"successes":[],"errors":[{"id":"x","status":500}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = detail(b)
		var r response
		if json.Unmarshal(b, &r) == nil {
			for _, e := range r.Errors {
				_ = e.String()
				_ = e.Retryable()
			}
		}
	})
}
