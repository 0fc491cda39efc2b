package bulwark

import (
	"fmt"
	"regexp"
	"strings"
)

// Category is the coarse class of a detection rule, as shown in alerts and
// used by event routing.
type Category string

// Rule categories.
const (
	CategoryGuardrails       Category = "Guardrails"
	CategoryPolicyViolations Category = "Policy Violations"
	CategoryCanaryTokens     Category = "Canary Tokens"
	CategoryMCPToolChanges   Category = "MCP Tool Changes"
	CategoryToolSecurity     Category = "Tool Security"
	CategoryTrafficAnalysis  Category = "Traffic Analysis"
	CategoryContentSecurity  Category = "Content Security"
	CategoryOther            Category = "Other"
)

// Categories lists every category in display order.
var Categories = []Category{
	CategoryGuardrails, CategoryPolicyViolations, CategoryCanaryTokens, CategoryMCPToolChanges,
	CategoryToolSecurity, CategoryTrafficAnalysis, CategoryContentSecurity, CategoryOther,
}

// Valid reports whether c is a known category.
func (c Category) Valid() bool { return contains(Categories, c) }

// Kind is the finer class of what a rule detects.
type Kind string

// Rule kinds.
const (
	KindPromptInjection  Kind = "prompt_injection"
	KindJailbreak        Kind = "jailbreak"
	KindPromptExtraction Kind = "prompt_extraction"
	KindSQLInjection     Kind = "sql_injection"
	KindCommandInjection Kind = "command_injection"
	KindPathTraversal    Kind = "path_traversal"
	KindSecret           Kind = "secret"
	KindPII              Kind = "pii"
	KindToolPoisoning    Kind = "tool_poisoning"
	KindEncodingEvasion  Kind = "encoding_evasion"
	KindDataExfiltration Kind = "data_exfiltration"
	KindHarmfulContent   Kind = "harmful_content"
	KindOther            Kind = "other"
)

// Kinds lists every rule kind.
var Kinds = []Kind{
	KindPromptInjection, KindJailbreak, KindPromptExtraction, KindSQLInjection, KindCommandInjection,
	KindPathTraversal, KindSecret, KindPII, KindToolPoisoning, KindEncodingEvasion,
	KindDataExfiltration, KindHarmfulContent, KindOther,
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool { return contains(Kinds, k) }

// Action is what the gateway does when a rule matches.
type Action string

// Rule actions.
const (
	ActionBlock   Action = "block"   // refuse the request or response
	ActionMonitor Action = "monitor" // let it through, raise an alert
	ActionRedact  Action = "redact"  // replace the match with a reversible placeholder
)

// Actions lists every action.
var Actions = []Action{ActionBlock, ActionMonitor, ActionRedact}

// Valid reports whether a is a known action.
func (a Action) Valid() bool { return contains(Actions, a) }

// Surface is where in an exchange a piece of text sits.
type Surface string

// Surfaces.
const (
	SurfacePrompt          Surface = "prompt"
	SurfaceSystemPrompt    Surface = "system_prompt"
	SurfaceToolDescription Surface = "tool_description"
	SurfaceToolArguments   Surface = "tool_arguments"
	SurfaceToolResult      Surface = "tool_result"
	SurfaceModelOutput     Surface = "model_output"
)

// Surfaces lists every surface.
var Surfaces = []Surface{
	SurfacePrompt, SurfaceSystemPrompt, SurfaceToolDescription, SurfaceToolArguments,
	SurfaceToolResult, SurfaceModelOutput,
}

// Valid reports whether s is a known surface.
func (s Surface) Valid() bool { return contains(Surfaces, s) }

// Protocol is the wire protocol a proxy speaks.
type Protocol string

// Protocols.
const (
	ProtocolLLM Protocol = "llm"
	ProtocolMCP Protocol = "mcp"
	ProtocolA2A Protocol = "a2a"
)

// Protocols lists every protocol.
var Protocols = []Protocol{ProtocolLLM, ProtocolMCP, ProtocolA2A}

// Valid reports whether p is a known protocol.
func (p Protocol) Valid() bool { return contains(Protocols, p) }

func contains[T comparable](list []T, v T) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Policy is a named, versioned set of detection rules. Policies can extend
// other policies and override the action, severity or enablement of the
// rules they inherit.
type Policy struct {
	Name        string              `json:"name"`
	Version     string              `json:"version"`
	Description string              `json:"description"`
	Extends     []string            `json:"extends,omitempty"`
	ML          *MLConfig           `json:"ml,omitempty"`
	Overrides   map[string]Override `json:"overrides,omitempty"`
	Rules       []Rule              `json:"rules"`
}

// MLConfig enables the learned prompt-injection detector (rule ML-PI-001)
// and sets the score at or above which it reports.
type MLConfig struct {
	Enabled   bool    `json:"enabled"`
	Threshold float64 `json:"threshold,omitempty"`
}

// Override changes an inherited rule. Zero fields leave the rule unchanged.
type Override struct {
	Action   Action   `json:"action,omitempty"`
	Severity Severity `json:"severity,omitempty"`
	Disabled bool     `json:"disabled,omitempty"`
}

// Rule is one detection: patterns and keywords, what they mean, and what to
// do when they match.
type Rule struct {
	ID          string     `json:"id"`
	Title       string     `json:"title"`
	Description string     `json:"description"`
	Category    Category   `json:"category"`
	Kind        Kind       `json:"kind"`
	Severity    Severity   `json:"severity"`
	Action      Action     `json:"action"`
	Protocols   []Protocol `json:"protocols,omitempty"`
	Surfaces    []Surface  `json:"surfaces,omitempty"`
	Patterns    []string   `json:"patterns,omitempty"`
	Keywords    []string   `json:"keywords,omitempty"`
	Score       float64    `json:"score,omitempty"`
	// MinEntropy, when set, drops matches whose value (the capture group
	// named "secret", else the whole match) has a lower Shannon entropy in
	// bits per byte: documentation placeholders like xxxx or 1111 are not
	// secrets.
	MinEntropy float64 `json:"min_entropy,omitempty"`
	// Allowlist patterns drop a match when one of them matches the line
	// that contains it (placeholders, examples, public tokens).
	Allowlist   []string `json:"allowlist,omitempty"`
	RedactLabel string   `json:"redact_label,omitempty"`
	Examples    Examples `json:"examples"`
	// Disabled rules are kept in the policy but never run.
	Disabled bool `json:"disabled,omitempty"`
}

// Examples are texts a rule must and must not match; they are run as tests.
type Examples struct {
	Match   []string `json:"match"`
	NoMatch []string `json:"no_match"`
}

// AppliesTo reports whether the rule runs on the given protocol and surface.
// An empty protocol or surface matches any rule.
func (r *Rule) AppliesTo(p Protocol, s Surface) bool {
	return (p == "" || len(r.Protocols) == 0 || contains(r.Protocols, p)) &&
		(s == "" || len(r.Surfaces) == 0 || contains(r.Surfaces, s))
}

// Limits on policies.
const (
	MaxRulePatterns   = 64
	MaxPatternLen     = 4096
	MaxKeywordLen     = 256
	MaxRulesPerPolicy = 2000
)

var (
	policyNameRe  = regexp.MustCompile(`^[a-z0-9-]{2,64}$`)
	ruleIDRe      = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*-[0-9]{3}$`)
	redactLabelRe = regexp.MustCompile(`^[A-Z][A-Z0-9_]{0,31}$`)
	versionRe     = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$`)
)

// ValidPolicyName reports whether s is a well-formed policy name.
func ValidPolicyName(s string) bool { return policyNameRe.MatchString(s) }

// ValidRuleID reports whether s is a well-formed rule id such as PI-001.
func ValidRuleID(s string) bool { return ruleIDRe.MatchString(s) }

// Validate checks every field of the policy and of each of its rules. Every
// error names the policy field, or the rule by index and id and its field.
// Patterns are checked for RE2 syntax with the standard library; the
// detection engine compiles them again and enforces size limits.
func (p *Policy) Validate() error {
	var fe []FieldError
	add := func(field, format string, args ...any) {
		fe = append(fe, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if !policyNameRe.MatchString(p.Name) {
		add("name", "must be 2 to 64 lower-case letters, digits or hyphens, got %q", p.Name)
	}
	if !versionRe.MatchString(p.Version) {
		add("version", "must be a semantic version like 1.0.0, got %q", p.Version)
	}
	if strings.TrimSpace(p.Description) == "" {
		add("description", "must not be empty")
	}
	seenExt := map[string]bool{}
	for i, e := range p.Extends {
		switch {
		case !policyNameRe.MatchString(e):
			add(fmt.Sprintf("extends[%d]", i), "must be a policy name, got %q", e)
		case e == p.Name:
			add(fmt.Sprintf("extends[%d]", i), "a policy cannot extend itself")
		case seenExt[e]:
			add(fmt.Sprintf("extends[%d]", i), "policy %q is listed twice", e)
		}
		seenExt[e] = true
	}
	if p.ML != nil && (p.ML.Threshold < 0 || p.ML.Threshold > 1 || p.ML.Enabled && p.ML.Threshold == 0) {
		add("ml.threshold", "must be greater than 0 and at most 1 when ml is enabled, got %v", p.ML.Threshold)
	}
	for id, o := range p.Overrides {
		field := "overrides." + id
		if !ruleIDRe.MatchString(id) {
			add(field, "key must be a rule id like PI-001")
		}
		if o.Action != "" && !o.Action.Valid() {
			add(field+".action", "must be one of block, monitor, redact, got %q", o.Action)
		}
		if o.Severity != "" && (!o.Severity.Valid() || o.Severity == SeverityInfo) {
			add(field+".severity", "must be one of critical, high, medium, low, got %q", o.Severity)
		}
	}
	if len(p.Rules) == 0 && len(p.Extends) == 0 {
		add("rules", "a policy needs rules or must extend another policy")
	}
	if len(p.Rules) > MaxRulesPerPolicy {
		add("rules", "at most %d rules per policy, got %d", MaxRulesPerPolicy, len(p.Rules))
	}
	ids := map[string]int{}
	for i := range p.Rules {
		r := &p.Rules[i]
		prefix := fmt.Sprintf("rules[%d]", i)
		if r.ID != "" {
			prefix = fmt.Sprintf("rules[%d](%s)", i, r.ID)
			if j, dup := ids[r.ID]; dup {
				add(prefix+".id", "duplicate rule id, also used by rules[%d]", j)
			}
			ids[r.ID] = i
		}
		for _, e := range r.problems() {
			fe = append(fe, FieldError{prefix + "." + e.Field, e.Message})
		}
	}
	return ValidationError(fe)
}

// Validate checks every field of one rule.
func (r *Rule) Validate() error {
	fe := r.problems()
	for i := range fe {
		fe[i].Field = fmt.Sprintf("rule %s: %s", r.ID, fe[i].Field)
	}
	return ValidationError(fe)
}

func (r *Rule) problems() []FieldError {
	var fe []FieldError
	add := func(field, format string, args ...any) {
		fe = append(fe, FieldError{field, fmt.Sprintf(format, args...)})
	}
	if !ruleIDRe.MatchString(r.ID) {
		add("id", "must look like PI-001 (upper-case prefix, hyphen, three digits), got %q", r.ID)
	}
	if strings.TrimSpace(r.Title) == "" || len(r.Title) > 200 || hasControl(r.Title) {
		add("title", "must be 1 to 200 characters on one line")
	}
	if strings.TrimSpace(r.Description) == "" {
		add("description", "must not be empty")
	}
	if !r.Category.Valid() {
		add("category", "must be one of %s, got %q", joinValues(Categories), r.Category)
	}
	if !r.Kind.Valid() {
		add("kind", "must be one of %s, got %q", joinValues(Kinds), r.Kind)
	}
	if !r.Severity.Valid() || r.Severity == SeverityInfo {
		add("severity", "must be one of critical, high, medium, low, got %q", r.Severity)
	}
	if !r.Action.Valid() {
		add("action", "must be one of block, monitor, redact, got %q", r.Action)
	}
	for i, p := range r.Protocols {
		if !p.Valid() {
			add(fmt.Sprintf("protocols[%d]", i), "must be one of llm, mcp, a2a, got %q", p)
		}
	}
	for i, s := range r.Surfaces {
		if !s.Valid() {
			add(fmt.Sprintf("surfaces[%d]", i), "must be one of %s, got %q", joinValues(Surfaces), s)
		}
	}
	if len(r.Patterns) == 0 && len(r.Keywords) == 0 {
		add("patterns", "a rule needs at least one pattern or keyword")
	}
	if len(r.Patterns) > MaxRulePatterns {
		add("patterns", "at most %d patterns per rule, got %d", MaxRulePatterns, len(r.Patterns))
	}
	for i, p := range r.Patterns {
		field := fmt.Sprintf("patterns[%d]", i)
		switch {
		case p == "":
			add(field, "must not be empty")
		case len(p) > MaxPatternLen:
			add(field, "must be at most %d bytes, got %d", MaxPatternLen, len(p))
		default:
			re, err := regexp.Compile(p)
			if err != nil {
				add(field, "does not compile: %v", err)
			} else if re.MatchString("") {
				add(field, "matches the empty string, so it would match every text")
			}
		}
	}
	for i, k := range r.Keywords {
		field := fmt.Sprintf("keywords[%d]", i)
		if strings.TrimSpace(k) == "" || len(k) > MaxKeywordLen || hasControl(k) {
			add(field, "must be 1 to %d characters of text on one line", MaxKeywordLen)
		}
	}
	if r.Score < 0 || r.Score > 1 {
		add("score", "must be between 0 and 1, got %v", r.Score)
	}
	if r.MinEntropy < 0 || r.MinEntropy > 8 {
		add("min_entropy", "must be between 0 and 8 bits per byte, got %v", r.MinEntropy)
	}
	if len(r.Allowlist) > MaxRulePatterns {
		add("allowlist", "at most %d patterns per rule, got %d", MaxRulePatterns, len(r.Allowlist))
	}
	for i, p := range r.Allowlist {
		field := fmt.Sprintf("allowlist[%d]", i)
		if p == "" || len(p) > MaxPatternLen {
			add(field, "must be 1 to %d bytes", MaxPatternLen)
		} else if _, err := regexp.Compile(p); err != nil {
			add(field, "does not compile: %v", err)
		}
	}
	if r.Action == ActionRedact && r.RedactLabel == "" {
		add("redact_label", "is required for action redact")
	}
	if r.RedactLabel != "" && !redactLabelRe.MatchString(r.RedactLabel) {
		add("redact_label", "must be upper-case letters, digits and _ (like EMAIL or AWS_KEY), got %q", r.RedactLabel)
	}
	if len(r.Examples.Match) == 0 {
		add("examples.match", "needs at least one text the rule must match")
	}
	if len(r.Examples.NoMatch) == 0 {
		add("examples.no_match", "needs at least one text the rule must not match")
	}
	for i, e := range r.Examples.Match {
		if e == "" {
			add(fmt.Sprintf("examples.match[%d]", i), "must not be empty")
		}
	}
	return fe
}

func joinValues[T ~string](list []T) string {
	s := make([]string, len(list))
	for i, v := range list {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}

// Finding is one rule match in one piece of text.
type Finding struct {
	RuleID   string   `json:"rule_id"`
	Title    string   `json:"title"`
	Category Category `json:"category"`
	Kind     Kind     `json:"kind"`
	Severity Severity `json:"severity"`
	Action   Action   `json:"action"`
	Score    float64  `json:"score"`
	Surface  Surface  `json:"surface"`
	// Path is the JSON path of the text the finding is in, like
	// messages[1].content or arguments.query; empty for plain text. Text
	// found inside a decoded segment carries a [decoded:base64] marker.
	Path string `json:"path,omitempty"`
	// Start and End are byte offsets of the match in the original text of
	// the field (for decoded text: of the encoded segment).
	Start int `json:"start"`
	End   int `json:"end"`
	// Evidence is a short excerpt of the match; secrets and personal data are masked.
	Evidence string `json:"evidence"`
}
