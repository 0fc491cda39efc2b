package bulwark

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Provider is the API family a proxy's upstream speaks.
type Provider string

// Providers. Any OpenAI-compatible server (vLLM, Ollama, OpenRouter, Groq,
// Mistral…) is ProviderOpenAI with its base URL.
const (
	ProviderOpenAI    Provider = "openai"
	ProviderAnthropic Provider = "anthropic"
	ProviderAzure     Provider = "azure" // Azure OpenAI: api-key header, deployments in the path
)

// ProviderList lists every provider.
var ProviderList = []Provider{ProviderOpenAI, ProviderAnthropic, ProviderAzure}

// Valid reports whether p is a known provider.
func (p Provider) Valid() bool { return contains(ProviderList, p) }

// Proxy is a stored gateway instance: where it listens, where it forwards
// and which policies it applies.
type Proxy struct {
	ID          int64
	Name        string // unique slug; also the mount path /p/{name}/
	Description string
	Type        Protocol
	Provider    Provider // llm proxies only
	UpstreamURL string
	// ListenAddr is host:port of the proxy's own listener; empty mounts it at
	// /p/{name}/ on the main port.
	ListenAddr string
	Policies   []string // detection policy names, applied in order
	// Credential is the upstream provider credential, encrypted with the
	// instance keyring (never plaintext at rest). Empty when none is set.
	Credential string
	Tags       []string
	// Enabled is the desired state: the gateway runs the proxy when true.
	// Start/stop set it; it survives restarts.
	Enabled bool
	// AutoStart starts the proxy when the gateway starts even if the last
	// state was stopped by a crash rather than by an operator.
	AutoStart bool
	// TimeoutSeconds bounds one upstream exchange (0: the default).
	TimeoutSeconds int
	// MaxBodyBytes bounds a request body (0: the default).
	MaxBodyBytes int64
	// ScanResponses inspects upstream answers as well as requests.
	ScanResponses bool
	// MCP holds the settings of an mcp proxy (nil for other types).
	MCP       *MCPConfig
	CreatedAt time.Time
	UpdatedAt time.Time
	UpdatedBy string
}

// Limits on gateway fields.
const (
	MaxNameLen        = 63
	MaxDescriptionLen = 1024
	MaxTags           = 32
	MaxTagLen         = 64
	MaxTimeoutSeconds = 3600
	MaxTemplateLen    = 32 << 10
)

var nameRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// ValidName reports whether s is a valid proxy or group name: lower-case
// letters, digits and inner hyphens, at most 63 characters (a DNS label, so
// it is safe in a URL path, a metric label and a header).
func ValidName(s string) bool { return nameRe.MatchString(s) }

const nameRule = "must be 1-63 lower-case letters, digits or hyphens, starting and ending with a letter or digit"

// Validate checks every client-settable field.
func (p *Proxy) Validate() error {
	var fe []FieldError
	add := func(field, format string, args ...any) {
		fe = append(fe, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if !ValidName(p.Name) {
		add("name", "%s, got %q", nameRule, p.Name)
	}
	if len(p.Description) > MaxDescriptionLen || ContainsControl(p.Description) {
		add("description", "must be at most %d characters without control characters", MaxDescriptionLen)
	}
	if !p.Type.Valid() {
		add("type", "must be one of %s, got %q", joinValues(Protocols), p.Type)
	}
	if p.Type == ProtocolLLM && !p.Provider.Valid() {
		add("provider", "must be one of %s for an llm proxy, got %q", joinValues(ProviderList), p.Provider)
	}
	stdio := p.Type == ProtocolMCP && p.MCP != nil && p.MCP.Transport == MCPStdio
	switch {
	case stdio && p.UpstreamURL != "":
		add("upstream_url", "must be empty for a stdio MCP server (set mcp.command instead)")
	case !stdio:
		if msg := upstreamProblem(p.UpstreamURL); msg != "" {
			add("upstream_url", "%s", msg)
		}
	}
	switch {
	case p.Type == ProtocolMCP && p.MCP == nil:
		add("mcp", "is required for an mcp proxy (at least the transport)")
	case p.Type == ProtocolMCP:
		fe = append(fe, p.MCP.Validate(p.UpstreamURL)...)
	case p.MCP != nil:
		add("mcp", "applies to mcp proxies only")
	}
	if p.ListenAddr != "" {
		if _, port, err := net.SplitHostPort(p.ListenAddr); err != nil || port == "" || port == "0" {
			add("listen_addr", "must be host:port (for example 127.0.0.1:8081 or :8081) or empty to mount at /p/%s/ on the main port, got %q", p.Name, p.ListenAddr)
		}
	}
	seen := map[string]bool{}
	for i, name := range p.Policies {
		if !ValidPolicyName(name) {
			add(fmt.Sprintf("policies[%d]", i), "%q is not a valid policy name", name)
		} else if seen[name] {
			add(fmt.Sprintf("policies[%d]", i), "policy %q is listed twice", name)
		}
		seen[name] = true
	}
	if len(p.Tags) > MaxTags {
		add("tags", "at most %d tags", MaxTags)
	}
	for i, t := range p.Tags {
		if t == "" || len(t) > MaxTagLen || ContainsControl(t) || strings.TrimSpace(t) != t {
			add(fmt.Sprintf("tags[%d]", i), "must be 1-%d characters without control characters or surrounding spaces", MaxTagLen)
		}
	}
	if p.TimeoutSeconds < 0 || p.TimeoutSeconds > MaxTimeoutSeconds {
		add("timeout_seconds", "must be between 0 (default) and %d", MaxTimeoutSeconds)
	}
	if p.MaxBodyBytes < 0 {
		add("max_body_bytes", "must be 0 (default) or positive")
	}
	return ValidationError(fe)
}

func upstreamProblem(raw string) string {
	if raw == "" {
		return "is required (for example https://api.openai.com)"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("must be an absolute http or https URL, got %q", raw)
	}
	if u.User != nil {
		return "must not contain credentials; set the upstream credential instead"
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "must not have a query or fragment"
	}
	return ""
}

// Group is a team of gateway clients: its API keys, the proxies it may use,
// its rate limits and its monthly budget.
type Group struct {
	ID          int64
	Name        string // unique slug
	Description string
	// Proxies lists the proxy names the group may use; "*" allows all.
	Proxies []string
	// Rate limits per minute for the whole group (0: unlimited).
	RequestsPerMinute int
	TokensPerMinute   int
	// BudgetUSD is the monthly budget; 0 means no budget.
	BudgetUSD float64
	// BudgetWarnPercent raises a warning event once spend crosses it.
	BudgetWarnPercent int
	// BudgetAction is what happens when the budget is spent.
	BudgetAction BudgetAction
	// BudgetResetAt, when set and inside the current month, starts the budget
	// period at that instant instead of at the start of the month (manual reset).
	BudgetResetAt *time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
	UpdatedBy     string
}

// BudgetAction is what a spent budget does.
type BudgetAction string

// Budget actions.
const (
	BudgetBlock BudgetAction = "block" // refuse further requests with HTTP 402
	BudgetWarn  BudgetAction = "warn"  // let requests through, raise events
)

// AllowsProxy reports whether the group may use the proxy named name.
func (g *Group) AllowsProxy(name string) bool {
	for _, p := range g.Proxies {
		if p == "*" || p == name {
			return true
		}
	}
	return false
}

// Validate checks every client-settable field.
func (g *Group) Validate() error {
	var fe []FieldError
	add := func(field, format string, args ...any) {
		fe = append(fe, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if !ValidName(g.Name) {
		add("name", "%s, got %q", nameRule, g.Name)
	}
	if len(g.Description) > MaxDescriptionLen || ContainsControl(g.Description) {
		add("description", "must be at most %d characters without control characters", MaxDescriptionLen)
	}
	for i, p := range g.Proxies {
		if p != "*" && !ValidName(p) {
			add(fmt.Sprintf("proxies[%d]", i), "must be a proxy name or \"*\" for all proxies, got %q", p)
		}
	}
	if g.RequestsPerMinute < 0 {
		add("requests_per_minute", "must be 0 (unlimited) or positive")
	}
	if g.TokensPerMinute < 0 {
		add("tokens_per_minute", "must be 0 (unlimited) or positive")
	}
	if g.BudgetUSD < 0 || g.BudgetUSD > 1e9 || g.BudgetUSD != g.BudgetUSD {
		add("budget_usd", "must be 0 (no budget) or a positive amount up to 1e9")
	}
	if g.BudgetWarnPercent < 0 || g.BudgetWarnPercent > 100 {
		add("budget_warn_percent", "must be between 0 (no warning) and 100")
	}
	if g.BudgetAction != BudgetBlock && g.BudgetAction != BudgetWarn {
		add("budget_action", "must be %q or %q, got %q", BudgetBlock, BudgetWarn, g.BudgetAction)
	}
	return ValidationError(fe)
}

// GatewayKey is a client's credential for the proxies of its group. Only
// the SHA-256 of the secret is kept; the secret is shown once at creation.
type GatewayKey struct {
	ID      int64
	GroupID int64
	Name    string
	Prefix  string // first characters of the secret, to recognise it in lists
	Hash    string
	// User and UserEmail identify the person or service behind the key, for
	// usage records and system-prompt variables.
	User              string
	UserEmail         string
	RequestsPerMinute int // 0: unlimited (the group's limit still applies)
	TokensPerMinute   int
	ExpiresAt         *time.Time
	RevokedAt         *time.Time
	LastUsedAt        *time.Time
	CreatedAt         time.Time
	CreatedBy         string
}

// Active reports whether the key may be used at now.
func (k *GatewayKey) Active(now time.Time) bool {
	return k.RevokedAt == nil && (k.ExpiresAt == nil || now.Before(*k.ExpiresAt))
}

// Validate checks every client-settable field.
func (k *GatewayKey) Validate(now time.Time) error {
	var fe []FieldError
	if k.Name == "" || len(k.Name) > MaxTokenNameLen || ContainsControl(k.Name) {
		fe = append(fe, FieldError{"name", fmt.Sprintf("must be 1-%d characters without control characters", MaxTokenNameLen)})
	}
	if len(k.User) > MaxDisplayNameLen || ContainsControl(k.User) {
		fe = append(fe, FieldError{"user", fmt.Sprintf("must be at most %d characters without control characters", MaxDisplayNameLen)})
	}
	if k.UserEmail != "" && (len(k.UserEmail) > MaxEmailLen || !strings.Contains(k.UserEmail, "@") || ContainsControl(k.UserEmail)) {
		fe = append(fe, FieldError{"user_email", "must be an e-mail address"})
	}
	if k.RequestsPerMinute < 0 {
		fe = append(fe, FieldError{"requests_per_minute", "must be 0 (unlimited) or positive"})
	}
	if k.TokensPerMinute < 0 {
		fe = append(fe, FieldError{"tokens_per_minute", "must be 0 (unlimited) or positive"})
	}
	if k.ExpiresAt != nil && !k.ExpiresAt.After(now) {
		fe = append(fe, FieldError{"expires_at", "must be in the future"})
	}
	return ValidationError(fe)
}

// SystemPrompt is a governance prompt injected as the first system message
// of requests through the proxies and groups it is assigned to.
type SystemPrompt struct {
	ID          int64
	Name        string
	Description string
	// Template is a Go text/template; the variables are SystemPromptVars.
	Template string
	// Priority orders applicable prompts; the highest one is injected.
	Priority int
	// Proxies and Groups it applies to; empty means all of that kind. A prompt
	// applies when both lists match.
	Proxies   []string
	Groups    []string
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
	UpdatedBy string
}

// SystemPromptVars are the variables a system prompt template may use.
var SystemPromptVars = []string{"User", "UserEmail", "Group", "Proxy", "Date", "Time", "Organization"}

// Applies reports whether the prompt applies to a request through proxy by group.
func (s *SystemPrompt) Applies(proxy, group string) bool {
	in := func(list []string, v string) bool {
		if len(list) == 0 {
			return true
		}
		for _, x := range list {
			if x == v || x == "*" {
				return true
			}
		}
		return false
	}
	return s.Enabled && in(s.Proxies, proxy) && in(s.Groups, group)
}

// Validate checks the fields; the template itself is parsed by the caller
// that owns template execution (inspect/sysprompt).
func (s *SystemPrompt) Validate() error {
	var fe []FieldError
	if !ValidName(s.Name) {
		fe = append(fe, FieldError{"name", fmt.Sprintf("%s, got %q", nameRule, s.Name)})
	}
	if len(s.Description) > MaxDescriptionLen || ContainsControl(s.Description) {
		fe = append(fe, FieldError{"description", fmt.Sprintf("must be at most %d characters without control characters", MaxDescriptionLen)})
	}
	if strings.TrimSpace(s.Template) == "" || len(s.Template) > MaxTemplateLen || !utf8.ValidString(s.Template) {
		fe = append(fe, FieldError{"template", fmt.Sprintf("must be non-empty UTF-8 text of at most %d bytes", MaxTemplateLen)})
	}
	for i, p := range s.Proxies {
		if p != "*" && !ValidName(p) {
			fe = append(fe, FieldError{fmt.Sprintf("proxies[%d]", i), fmt.Sprintf("must be a proxy name, got %q", p)})
		}
	}
	for i, g := range s.Groups {
		if g != "*" && !ValidName(g) {
			fe = append(fe, FieldError{fmt.Sprintf("groups[%d]", i), fmt.Sprintf("must be a group name, got %q", g)})
		}
	}
	return ValidationError(fe)
}

// Verdict is what the gateway did with a request.
type Verdict string

// Verdicts.
const (
	VerdictAllow   Verdict = "allow"
	VerdictMonitor Verdict = "monitor" // findings recorded, request passed
	VerdictRedact  Verdict = "redact"  // sensitive data replaced before forwarding
	VerdictBlock   Verdict = "block"   // a policy rule refused the request or the answer
	VerdictDeny    Verdict = "deny"    // refused before inspection: key, access, rate limit or budget
	VerdictError   Verdict = "error"   // the gateway or the upstream failed
)

// RequestRecord is the usage and outcome of one proxied request.
type RequestRecord struct {
	ID        int64
	RequestID string
	At        time.Time
	Proxy     string
	GroupID   int64
	Group     string
	KeyID     int64
	User      string
	Model     string
	API       string // chat, responses, messages, models, other
	Path      string
	Stream    bool
	Status    int
	Verdict   Verdict
	RuleID    string // the deciding rule of a block, or the first finding
	Findings  int
	// Token counts: Input excludes cached tokens.
	InputTokens      int64
	OutputTokens     int64
	CacheReadTokens  int64
	CacheWriteTokens int64
	TokensEstimated  bool // counted by the embedded tokenizer, not reported by the provider
	CostUSD          float64
	Priced           bool // false when the model has no price: cost unknown, not zero
	LatencyMs        float64
	UpstreamMs       float64
	Error            string
	// BudgetPeriod is the start of the group's budget period the cost counts
	// against (also kept for groups without a budget); zero without a group.
	BudgetPeriod time.Time
}

// RequestFilter selects request records. Zero fields do not filter.
type RequestFilter struct {
	Proxy   string
	GroupID int64
	Verdict Verdict
	Since   time.Time
	Until   time.Time
	Limit   int
	Offset  int
}

// UsageBucket is one row of a usage summary.
type UsageBucket struct {
	Day          string // YYYY-MM-DD (UTC)
	Group        string
	Model        string
	Requests     int64
	Blocked      int64
	InputTokens  int64
	OutputTokens int64
	CachedTokens int64
	CostUSD      float64
	Unpriced     int64 // requests whose cost is unknown
}

// ProxyStats are the counters of one proxy since a point in time.
type ProxyStats struct {
	Requests     int64
	Blocked      int64
	Errors       int64
	InputTokens  int64
	OutputTokens int64
	CostUSD      float64
	P50Ms        float64
	P99Ms        float64
}

// GatewayStore keeps the gateway's configuration and its request log.
// Names are unique per kind (Create/Update return a CodeConflict error);
// lookups return ErrNotFound. Updates are optimistic like UpdatePolicy:
// when the stored UpdatedAt is no longer ifUpdatedAt they return a
// CodeConflict error and change nothing.
type GatewayStore interface {
	CreateProxy(ctx context.Context, p *Proxy) error // sets ID, CreatedAt, UpdatedAt
	GetProxy(ctx context.Context, name string) (*Proxy, error)
	ListProxies(ctx context.Context) ([]*Proxy, error) // ordered by name
	UpdateProxy(ctx context.Context, p *Proxy, ifUpdatedAt time.Time) error
	// DeleteProxy removes the proxy and its MCP tools.
	DeleteProxy(ctx context.Context, name string) error

	CreateGroup(ctx context.Context, g *Group) error
	GetGroup(ctx context.Context, id int64) (*Group, error)
	GetGroupByName(ctx context.Context, name string) (*Group, error)
	ListGroups(ctx context.Context) ([]*Group, error) // ordered by name
	UpdateGroup(ctx context.Context, g *Group, ifUpdatedAt time.Time) error
	// DeleteGroup removes the group and its keys; its request records stay.
	DeleteGroup(ctx context.Context, id int64) error

	CreateGatewayKey(ctx context.Context, k *GatewayKey) error // sets ID, CreatedAt
	GetGatewayKeyByHash(ctx context.Context, hash string) (*GatewayKey, error)
	// ListGatewayKeys lists a group's keys, or all keys when groupID is 0, newest first.
	ListGatewayKeys(ctx context.Context, groupID int64) ([]*GatewayKey, error)
	RevokeGatewayKey(ctx context.Context, id int64, at time.Time) error
	// TouchGatewayKeys sets LastUsedAt of several keys at once (batched off the request path).
	TouchGatewayKeys(ctx context.Context, lastUsed map[int64]time.Time) error

	CreateSystemPrompt(ctx context.Context, s *SystemPrompt) error
	GetSystemPrompt(ctx context.Context, id int64) (*SystemPrompt, error)
	ListSystemPrompts(ctx context.Context) ([]*SystemPrompt, error) // highest priority first, then name
	UpdateSystemPrompt(ctx context.Context, s *SystemPrompt, ifUpdatedAt time.Time) error
	DeleteSystemPrompt(ctx context.Context, id int64) error

	// RecordRequests stores request records in one transaction and adds the
	// cost of each record with a GroupID and a non-zero BudgetPeriod to that
	// group's spend for that period.
	RecordRequests(ctx context.Context, recs []*RequestRecord) error
	ListRequests(ctx context.Context, f RequestFilter) (Page[RequestRecord], error) // newest first
	// GroupSpend is the group's recorded spend in USD for the budget period
	// starting at period.
	GroupSpend(ctx context.Context, groupID int64, period time.Time) (float64, error)
	// UsageSummary aggregates request records in [since, until) per UTC day,
	// group and model.
	UsageSummary(ctx context.Context, since, until time.Time) ([]UsageBucket, error)
	DeleteRequestsBefore(ctx context.Context, t time.Time) (int64, error)
}
