package langfuse

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// Event is one item of an ingestion batch: the envelope with its body.
// Envelope ids deduplicate within Langfuse; body ids name the trace or
// observation, so sending the same body id again updates it in place.
type Event struct {
	ID        string `json:"id"`
	Timestamp string `json:"timestamp"`
	Type      string `json:"type"`
	Body      any    `json:"body"`
}

// Ingestion event types used here.
const (
	TypeTrace      = "trace-create"
	TypeGeneration = "generation-create"
	TypeSpan       = "span-create"
)

// Observation levels.
const (
	LevelDefault = "DEFAULT"
	LevelWarning = "WARNING"
	LevelError   = "ERROR"
)

// TraceBody is the body of a trace-create event.
type TraceBody struct {
	ID          string         `json:"id"`
	Timestamp   string         `json:"timestamp"`
	Name        string         `json:"name"`
	UserID      string         `json:"userId,omitempty"`
	Environment string         `json:"environment,omitempty"`
	Release     string         `json:"release,omitempty"`
	Tags        []string       `json:"tags"`
	Metadata    map[string]any `json:"metadata"`
}

// ObservationBody is the body of a generation-create or span-create event
// (a span carries no model, usage or cost).
type ObservationBody struct {
	ID            string             `json:"id"`
	TraceID       string             `json:"traceId"`
	Name          string             `json:"name"`
	StartTime     string             `json:"startTime"`
	EndTime       string             `json:"endTime"`
	Environment   string             `json:"environment,omitempty"`
	Model         string             `json:"model,omitempty"`
	UsageDetails  map[string]int64   `json:"usageDetails,omitempty"`
	CostDetails   map[string]float64 `json:"costDetails,omitempty"`
	Level         string             `json:"level"`
	StatusMessage string             `json:"statusMessage,omitempty"`
	Metadata      map[string]any     `json:"metadata"`
}

// timeLayout is ISO 8601 UTC with milliseconds, as Langfuse's SDKs send.
const timeLayout = "2006-01-02T15:04:05.000Z"

func stamp(t time.Time) string { return t.UTC().Format(timeLayout) }

// digest identifies a record across re-sends and across Bulwark instances
// sharing one Langfuse project: its row id alone repeats between
// databases, its request id repeats within an MCP session.
func digest(kind string, r *bulwark.RequestRecord) string {
	h := sha256.New()
	h.Write([]byte("bulwark/langfuse/" + kind + "\x00" + r.RequestID + "\x00"))
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(r.ID))
	binary.BigEndian.PutUint64(b[8:], uint64(r.At.UnixNano()))
	h.Write(b[:])
	return hex.EncodeToString(h.Sum(nil))
}

// TraceID is the Langfuse trace id of r: 32 hex digits (a W3C trace id, so
// the same request could be joined with OpenTelemetry data later).
func TraceID(r *bulwark.RequestRecord) string { return digest("trace", r)[:32] }

// ObservationID is the id of r's generation or span: 16 hex digits.
func ObservationID(r *bulwark.RequestRecord) string { return digest("observation", r)[:16] }

// sampled reports whether r is in the percent share: a stable function of
// the record, so a restart makes the same choice.
func sampled(r *bulwark.RequestRecord, percent int) bool {
	if percent >= 100 {
		return true
	}
	sum := sha256.Sum256([]byte(digest("sample", r)))
	return binary.BigEndian.Uint64(sum[:8])%100 < uint64(percent)
}

// isMCP reports whether r is an MCP tool call rather than an LLM call.
func isMCP(r *bulwark.RequestRecord) bool { return strings.HasPrefix(r.API, "mcp.") }

// level is how Langfuse should highlight r: refusals are warnings,
// failures errors.
func level(r *bulwark.RequestRecord) (string, string) {
	switch {
	case r.Verdict == bulwark.VerdictError || r.Status >= 500:
		msg := r.Error
		if msg == "" {
			msg = "HTTP " + strconv.Itoa(r.Status)
		}
		return LevelError, msg
	case r.Verdict == bulwark.VerdictBlock:
		if r.RuleID != "" {
			return LevelWarning, "blocked by rule " + r.RuleID
		}
		return LevelWarning, "blocked"
	case r.Verdict == bulwark.VerdictDeny:
		msg := "denied"
		if r.Error != "" {
			msg += ": " + r.Error
		}
		return LevelWarning, msg
	}
	return LevelDefault, ""
}

// Map converts one request record into its trace and generation (an LLM
// call) or span (an MCP tool call). Prompts and answers are not stored by
// Bulwark and so never sent; the trace carries who, where, what model,
// usage, cost and the gateway's verdict.
func Map(r *bulwark.RequestRecord, environment, release string) []Event {
	traceID, obsID := TraceID(r), ObservationID(r)
	start := r.At.UTC()
	end := start.Add(time.Duration(r.LatencyMs * float64(time.Millisecond)))
	api := r.API
	if api == "" {
		api = "other"
	}
	meta := map[string]any{
		"proxy": r.Proxy, "verdict": string(r.Verdict), "status": r.Status, "api": api, "path": r.Path,
		"request_id": r.RequestID, "latency_ms": r.LatencyMs, "source": "bulwark",
	}
	if r.Group != "" {
		meta["group"] = r.Group
	}
	if r.RuleID != "" {
		meta["rule_id"] = r.RuleID
	}
	if r.Findings > 0 {
		meta["findings"] = r.Findings
	}
	if r.UpstreamMs > 0 {
		meta["upstream_ms"] = r.UpstreamMs
	}
	if r.Stream {
		meta["stream"] = true
	}
	if r.Error != "" {
		meta["error"] = r.Error
	}
	tags := []string{"bulwark", "proxy:" + r.Proxy}
	if r.Verdict != "" {
		tags = append(tags, "verdict:"+string(r.Verdict))
	}
	trace := TraceBody{
		ID: traceID, Timestamp: stamp(start), Name: r.Proxy + "/" + api, UserID: r.User,
		Environment: environment, Release: release, Tags: tags, Metadata: meta,
	}
	lvl, msg := level(r)
	obs := ObservationBody{
		ID: obsID, TraceID: traceID, Name: api, StartTime: stamp(start), EndTime: stamp(end),
		Environment: environment, Level: lvl, StatusMessage: msg,
		Metadata: map[string]any{"verdict": string(r.Verdict), "status": r.Status},
	}
	typ := TypeGeneration
	if isMCP(r) {
		typ = TypeSpan
		obs.Name = r.Path // tools/call/<tool>
		obs.Metadata["tool"] = r.Model
	} else {
		obs.Model = r.Model
		usage := map[string]int64{"input": r.InputTokens, "output": r.OutputTokens}
		if r.CacheReadTokens > 0 {
			usage["input_cache_read"] = r.CacheReadTokens
		}
		if r.CacheWriteTokens > 0 {
			usage["input_cache_creation"] = r.CacheWriteTokens
		}
		obs.UsageDetails = usage
		// An unpriced model's cost is unknown, not zero: leave it to
		// Langfuse's own price table.
		if r.Priced {
			obs.CostDetails = map[string]float64{"total": r.CostUSD}
		}
		if r.TokensEstimated {
			obs.Metadata["tokens_estimated"] = true
		}
	}
	return []Event{
		{ID: traceID + "-trace", Timestamp: stamp(end), Type: TypeTrace, Body: trace},
		{ID: obsID + "-" + typ, Timestamp: stamp(end), Type: typ, Body: obs},
	}
}
