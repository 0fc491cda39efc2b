// Package langfuse sends LLM calls to Langfuse as traces: one trace with a
// generation per proxied request, built from the stored request records
// (bulwark.RequestRecord: user, group, model, tokens, cost, verdict),
// posted in batches to Langfuse's ingestion API. It owns the Config, the
// mapping of a record to ingestion events, the HTTP client and the Tailer
// that follows the request log from a persisted cursor. Request records
// are not events, so this is not an events.Sink: nothing is added to the
// request path, and the outbox is not involved.
package langfuse

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// Defaults and bounds.
const (
	DefaultHost  = "https://cloud.langfuse.com"
	DefaultBatch = 100
	// MaxBatchSize keeps a batch (two events per record, about 1–2 KiB
	// each) well under Langfuse's 3.5 MB request limit.
	MaxBatchSize = 500
	// MaxBackfillHours bounds how far back a new integration starts.
	MaxBackfillHours = 24 * 31
	endpoint         = "/api/public/ingestion"
)

// Config is one Langfuse integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// Host is the Langfuse base URL.
	Host string `json:"host,omitempty" help:"Langfuse base URL: https://cloud.langfuse.com (EU, the default), https://us.cloud.langfuse.com or your own server."`
	// PublicKey and SecretKey are the project's API keys, sent as HTTP
	// basic auth (public key as user name).
	PublicKey string `json:"public_key" help:"The project's public key (pk-lf-…)."`
	SecretKey string `json:"secret_key" help:"The project's secret key (sk-lf-…)."`
	// Environment and Release tag every trace (Langfuse environments:
	// lower-case letters, digits, - and _, not starting with "langfuse").
	Environment string `json:"environment,omitempty" help:"Langfuse environment of the traces (for example production)."`
	Release     string `json:"release,omitempty" help:"Release tag of the traces."`
	// Proxies limits the traces to these proxies; empty means all.
	Proxies []string `json:"proxies,omitempty" help:"Only requests through these proxies (empty: all)."`
	// SamplePercent sends this share of the requests (1–100; 0 means 100).
	// The choice is a hash of the record, so it is stable across restarts.
	SamplePercent int `json:"sample_percent,omitempty" help:"Percentage of requests sent (1-100, default 100)."`
	// IncludeMCP also sends MCP tool calls, as traces with a span.
	IncludeMCP bool `json:"include_mcp,omitempty" help:"Also send MCP tool calls (as spans)."`
	// BackfillHours makes a new integration start with the requests of the
	// last N hours instead of with the next request.
	BackfillHours int `json:"backfill_hours,omitempty" help:"When first started, also send the requests of the last N hours (default 0: from now on)."`
	// MaxBatch is how many requests one ingestion call carries (default 100).
	MaxBatch int `json:"max_batch,omitempty"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `json:"timeout,omitempty"`
	TLS     wire.TLS      `json:"tls"`
}

var environmentRe = regexp.MustCompile(`^[a-z0-9_-]{1,40}$`)

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if c.Host != "" {
		if err := wire.ValidateURL("host", c.Host); err != nil {
			return err
		}
	}
	if strings.TrimSpace(c.PublicKey) == "" {
		return errors.New("public_key is required (the project's pk-lf-… key)")
	}
	if strings.ContainsAny(c.PublicKey, ": \t\r\n") {
		return errors.New("public_key must not contain a colon or whitespace")
	}
	if strings.TrimSpace(c.SecretKey) == "" {
		return errors.New("secret_key is required (the project's sk-lf-… key)")
	}
	if strings.ContainsAny(c.SecretKey, " \t\r\n") {
		return errors.New("secret_key must not contain whitespace")
	}
	if c.Environment != "" && (!environmentRe.MatchString(c.Environment) || strings.HasPrefix(c.Environment, "langfuse")) {
		return errors.New("environment must be 1-40 lower-case letters, digits, - or _, not starting with \"langfuse\"")
	}
	if len(c.Release) > 200 || bulwark.ContainsControl(c.Release) {
		return errors.New("release must be at most 200 characters without control characters")
	}
	for i, p := range c.Proxies {
		if !bulwark.ValidName(p) {
			return fmt.Errorf("proxies[%d] must be a proxy name, got %q", i, p)
		}
	}
	if c.SamplePercent < 0 || c.SamplePercent > 100 {
		return errors.New("sample_percent must be between 1 and 100 (0 for all requests)")
	}
	if c.BackfillHours < 0 || c.BackfillHours > MaxBackfillHours {
		return fmt.Errorf("backfill_hours must be between 0 and %d", MaxBackfillHours)
	}
	if c.MaxBatch < 0 || c.MaxBatch > MaxBatchSize {
		return fmt.Errorf("max_batch must be between 1 and %d (0 for the default %d)", MaxBatchSize, DefaultBatch)
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return c.TLS.Validate()
}

// withDefaults returns c with the defaults filled in.
func (c Config) withDefaults() Config {
	if c.Host == "" {
		c.Host = DefaultHost
	}
	if c.MaxBatch == 0 {
		c.MaxBatch = DefaultBatch
	}
	if c.SamplePercent == 0 {
		c.SamplePercent = 100
	}
	return c
}
