package api

import (
	"context"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/danielgtaylor/huma/v2"
)

// RequestRecord is one proxied request: its outcome, tokens and cost.
type RequestRecord struct {
	ID               int64     `json:"id"`
	RequestID        string    `json:"request_id"`
	At               time.Time `json:"at"`
	Proxy            string    `json:"proxy"`
	GroupID          int64     `json:"group_id,omitempty"`
	Group            string    `json:"group,omitempty"`
	KeyID            int64     `json:"key_id,omitempty"`
	User             string    `json:"user,omitempty"`
	Model            string    `json:"model,omitempty"`
	API              string    `json:"api,omitempty" doc:"chat, responses, messages, models or other"`
	Path             string    `json:"path,omitempty"`
	Stream           bool      `json:"stream"`
	Status           int       `json:"status" doc:"HTTP status returned to the client"`
	Verdict          string    `json:"verdict" enum:"allow,monitor,redact,block,deny,error"`
	RuleID           string    `json:"rule_id,omitempty" doc:"The deciding rule of a block, or the first finding"`
	Findings         int       `json:"findings"`
	InputTokens      int64     `json:"input_tokens" doc:"Excluding cached tokens"`
	OutputTokens     int64     `json:"output_tokens"`
	CacheReadTokens  int64     `json:"cache_read_tokens"`
	CacheWriteTokens int64     `json:"cache_write_tokens"`
	TokensEstimated  bool      `json:"tokens_estimated" doc:"Counted by the embedded tokenizer rather than reported by the provider"`
	CostUSD          float64   `json:"cost_usd"`
	Priced           bool      `json:"priced" doc:"false when the model has no price: the cost is unknown, not zero"`
	LatencyMs        float64   `json:"latency_ms"`
	UpstreamMs       float64   `json:"upstream_ms"`
	Error            string    `json:"error,omitempty"`
}

func toRequestRecord(r *bulwark.RequestRecord) RequestRecord {
	return RequestRecord{
		ID: r.ID, RequestID: r.RequestID, At: r.At, Proxy: r.Proxy, GroupID: r.GroupID, Group: r.Group, KeyID: r.KeyID, User: r.User,
		Model: r.Model, API: r.API, Path: r.Path, Stream: r.Stream, Status: r.Status, Verdict: string(r.Verdict), RuleID: r.RuleID,
		Findings: r.Findings, InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, CacheReadTokens: r.CacheReadTokens,
		CacheWriteTokens: r.CacheWriteTokens, TokensEstimated: r.TokensEstimated, CostUSD: r.CostUSD, Priced: r.Priced,
		LatencyMs: r.LatencyMs, UpstreamMs: r.UpstreamMs, Error: r.Error,
	}
}

// UsageBucket is the usage of one group and model on one UTC day.
type UsageBucket struct {
	Day          string  `json:"day" doc:"YYYY-MM-DD (UTC)"`
	Group        string  `json:"group"`
	Model        string  `json:"model"`
	Requests     int64   `json:"requests"`
	Blocked      int64   `json:"blocked"`
	InputTokens  int64   `json:"input_tokens"`
	OutputTokens int64   `json:"output_tokens"`
	CachedTokens int64   `json:"cached_tokens"`
	CostUSD      float64 `json:"cost_usd"`
	Unpriced     int64   `json:"unpriced" doc:"Requests whose cost is unknown (model without a price)"`
}

// UsageTotals sum the buckets.
type UsageTotals struct {
	Requests         int64   `json:"requests"`
	Blocked          int64   `json:"blocked"`
	InputTokens      int64   `json:"input_tokens"`
	OutputTokens     int64   `json:"output_tokens"`
	CachedTokens     int64   `json:"cached_tokens"`
	Tokens           int64   `json:"tokens" doc:"Input, output and cached tokens"`
	CostUSD          float64 `json:"cost_usd"`
	UnpricedRequests int64   `json:"unpriced_requests" doc:"Requests whose cost is unknown; cost_usd does not include them"`
}

type usageInput struct {
	Since time.Time `query:"since" doc:"Start (RFC 3339, inclusive); default 30 days before until"`
	Until time.Time `query:"until" doc:"End (RFC 3339, exclusive); default now"`
}

type usageOutput struct {
	Body struct {
		Since   time.Time     `json:"since"`
		Until   time.Time     `json:"until"`
		Buckets []UsageBucket `json:"buckets" doc:"Per UTC day, group and model"`
		Totals  UsageTotals   `json:"totals"`
	}
}

type requestListInput struct {
	Proxy   string    `query:"proxy" maxLength:"63" doc:"Only requests through this proxy"`
	GroupID int64     `query:"group_id" minimum:"0" doc:"Only requests of this group"`
	Verdict string    `query:"verdict" enum:"allow,monitor,redact,block,deny,error," doc:"Only requests with this verdict"`
	Since   time.Time `query:"since" doc:"Only requests at or after this time (RFC 3339)"`
	Until   time.Time `query:"until" doc:"Only requests before this time (RFC 3339)"`
	Limit   int       `query:"limit" minimum:"1" maximum:"500" default:"50"`
	Offset  int       `query:"offset" minimum:"0" maximum:"1000000" default:"0"`
}

type requestListOutput struct {
	Body struct {
		Items  []RequestRecord `json:"items"`
		Total  int             `json:"total" doc:"Requests matching the filters"`
		Limit  int             `json:"limit"`
		Offset int             `json:"offset"`
	}
}

// defaultUsageWindow is the period GET /usage covers by default.
const defaultUsageWindow = 30 * 24 * time.Hour

func (s *Server) usageRoutes() {
	tags := []string{"Usage"}

	register(s, huma.Operation{
		OperationID: "usage.get", Method: http.MethodGet, Path: "/usage", Tags: tags, Summary: "Usage and cost",
		Description: "Requests, tokens and cost per UTC day, group and model in [since, until) (default: the last 30 days), with totals.",
		Errors:      []int{http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *usageInput) (*usageOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		until := in.Until
		if until.IsZero() {
			until = s.now()
		}
		since := in.Since
		if since.IsZero() {
			since = until.Add(-defaultUsageWindow)
		}
		if !until.After(since) {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "until", Message: "must be after since"}})
		}
		buckets, err := st.UsageSummary(ctx, since, until)
		if err != nil {
			return nil, err
		}
		out := &usageOutput{}
		out.Body.Since, out.Body.Until = since.UTC(), until.UTC()
		out.Body.Buckets = make([]UsageBucket, 0, len(buckets))
		t := &out.Body.Totals
		for _, b := range buckets {
			out.Body.Buckets = append(out.Body.Buckets, UsageBucket{Day: b.Day, Group: b.Group, Model: b.Model, Requests: b.Requests,
				Blocked: b.Blocked, InputTokens: b.InputTokens, OutputTokens: b.OutputTokens, CachedTokens: b.CachedTokens,
				CostUSD: b.CostUSD, Unpriced: b.Unpriced})
			t.Requests += b.Requests
			t.Blocked += b.Blocked
			t.InputTokens += b.InputTokens
			t.OutputTokens += b.OutputTokens
			t.CachedTokens += b.CachedTokens
			t.CostUSD += b.CostUSD
			t.UnpricedRequests += b.Unpriced
		}
		t.Tokens = t.InputTokens + t.OutputTokens + t.CachedTokens
		return out, nil
	})

	register(s, huma.Operation{
		OperationID: "requests.list", Method: http.MethodGet, Path: "/requests", Tags: tags, Summary: "List proxied requests",
		Description: "The request log, newest first, filtered and paginated.",
		Errors:      []int{http.StatusUnprocessableEntity, http.StatusServiceUnavailable},
	}, viewer, func(ctx context.Context, _ *auth.Principal, in *requestListInput) (*requestListOutput, error) {
		st, err := s.gatewayStore()
		if err != nil {
			return nil, err
		}
		if in.Proxy != "" && !bulwark.ValidName(in.Proxy) {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "proxy", Message: "must be a proxy name"}})
		}
		if !in.Since.IsZero() && !in.Until.IsZero() && !in.Until.After(in.Since) {
			return nil, bulwark.ValidationError([]bulwark.FieldError{{Field: "until", Message: "must be after since"}})
		}
		page, err := st.ListRequests(ctx, bulwark.RequestFilter{Proxy: in.Proxy, GroupID: in.GroupID, Verdict: bulwark.Verdict(in.Verdict),
			Since: in.Since, Until: in.Until, Limit: in.Limit, Offset: in.Offset})
		if err != nil {
			return nil, err
		}
		out := &requestListOutput{}
		out.Body.Items = make([]RequestRecord, 0, len(page.Items))
		for i := range page.Items {
			out.Body.Items = append(out.Body.Items, toRequestRecord(&page.Items[i]))
		}
		out.Body.Total, out.Body.Limit, out.Body.Offset = page.Total, in.Limit, in.Offset
		return out, nil
	})
}
