// Package inspect owns the inspection chain of the request path: the
// Exchange that protocol adapters fill in, the Stage interface, the ordered
// chain that runs the request phase with per-stage timing, and the Block
// verdict that stages return to refuse a request. Stages live in
// sub-packages (access, budget, sysprompt, policy). Nothing here does HTTP
// or storage I/O: adapters hand in decoded content, stages reach state
// through small interfaces they declare.
package inspect

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect"
)

// Doc is the decoded content of a request or response: the texts a model
// or tool will read, each with its JSON path and surface. Stages read and
// replace texts through it; the adapter re-encodes the body afterwards.
type Doc interface {
	Len() int
	Part(i int) (path string, surface bulwark.Surface, text string)
	SetText(i int, text string)
}

// Exchange is one proxied request and its answer as the chain sees it.
type Exchange struct {
	RequestID string
	Start     time.Time
	Proxy     string
	Protocol  bulwark.Protocol
	API       string
	Model     string
	Stream    bool

	// Credential is the client's gateway key as presented. The access stage
	// resolves it into Key and Group and clears it.
	Credential string
	Key        *bulwark.GatewayKey
	Group      *bulwark.Group

	// Request is the decoded request; nil for pass-through paths, which are
	// authenticated and limited but have no content to scan.
	Request Doc
	// SystemPrompt is the rendered governance prompt to inject first, set by
	// the sysprompt stage.
	SystemPrompt string
	// EstimatedInputTokens is the adapter's estimate of the prompt size, for
	// token rate limits and budget reservations before the answer is known.
	EstimatedInputTokens int64

	// Masker holds the placeholders of redacted request data, to un-mask the answer.
	Masker   *detect.Masker
	Findings []bulwark.Finding
	Redacted int
	Verdict  bulwark.Verdict
	// Blocked is the block verdict, when a stage refused the exchange.
	Blocked *Block
	Timings []Timing

	// Headers are response headers stages want the client to see
	// (X-Budget-*, rate limit headers).
	Headers map[string]string

	finish []func(Outcome)
}

// Timing is the time one stage took.
type Timing struct {
	Stage    string
	Duration time.Duration
}

// Outcome is what is known once an exchange ends: the tokens used and the
// cost, for stages that reserved something in the request phase.
type Outcome struct {
	InputTokens, OutputTokens int64
	CostUSD                   float64
	Priced                    bool
	Failed                    bool // the upstream or gateway failed: no answer was delivered
}

// OnFinish registers f to run once when the exchange ends, whatever the
// verdict (a budget reservation is settled or released there).
func (x *Exchange) OnFinish(f func(Outcome)) { x.finish = append(x.finish, f) }

// Finish runs the registered finish functions once, last registered first.
func (x *Exchange) Finish(o Outcome) {
	fs := x.finish
	x.finish = nil
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i](o)
	}
}

// SetHeader records a response header for the client.
func (x *Exchange) SetHeader(k, v string) {
	if x.Headers == nil {
		x.Headers = make(map[string]string, 4)
	}
	x.Headers[k] = v
}

// AddFindings records findings and raises the verdict to monitor or redact.
func (x *Exchange) AddFindings(fs []bulwark.Finding) {
	x.Findings = append(x.Findings, fs...)
	for _, f := range fs {
		switch {
		case f.Action == bulwark.ActionRedact && x.Verdict != bulwark.VerdictBlock:
			x.Verdict = bulwark.VerdictRedact
		case x.Verdict == "" || x.Verdict == bulwark.VerdictAllow:
			x.Verdict = bulwark.VerdictMonitor
		}
	}
}

// Block is a stage's refusal. Adapters turn it into an error in the
// client's protocol with the status, type and code given here.
type Block struct {
	Status int    // HTTP status: 400 policy, 401 authn, 402 budget, 403 access, 429 rate
	Type   string // provider-style error type, e.g. invalid_request_error
	Code   string // stable machine code, e.g. policy_violation, budget_exceeded
	RuleID string // the deciding rule for policy blocks
	// Message is safe to show the client: no secrets, no evidence.
	Message           string
	RetryAfterSeconds int
	// Finding is the deciding finding of a policy block, for the alert.
	Finding *bulwark.Finding
}

func (b *Block) Error() string {
	if b.RuleID != "" {
		return fmt.Sprintf("blocked by %s: %s", b.RuleID, b.Message)
	}
	return b.Message
}

// Error types of blocks, named as OpenAI and Anthropic name them so SDKs
// map them to their own exception classes.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeAuthentication = "authentication_error"
	TypePermission     = "permission_error"
	TypeRateLimit      = "rate_limit_error"
	TypeBudget         = "insufficient_quota"
)

// Stage is one step of the request phase. It returns a *Block to refuse the
// exchange, another error when it could not decide (the chain then fails
// closed), or nil.
type Stage interface {
	Name() string
	Request(ctx context.Context, x *Exchange) error
}

// Chain runs stages in order.
type Chain struct {
	stages []Stage
}

// NewChain returns a chain of the given stages, run in that order.
func NewChain(stages ...Stage) *Chain { return &Chain{stages: stages} }

// Stages returns the chain's stage names in order.
func (c *Chain) Stages() []string {
	out := make([]string, len(c.stages))
	for i, s := range c.stages {
		out[i] = s.Name()
	}
	return out
}

// ErrStage wraps a stage failure that is not a verdict.
var ErrStage = errors.New("inspection stage failed")

// Request runs the request phase. It stops at the first stage that blocks
// or fails; a failure is returned wrapped in ErrStage and the exchange is
// refused (fail closed), never forwarded uninspected.
func (c *Chain) Request(ctx context.Context, x *Exchange) error {
	if x.Verdict == "" {
		x.Verdict = bulwark.VerdictAllow
	}
	for _, s := range c.stages {
		t0 := time.Now()
		err := s.Request(ctx, x)
		x.Timings = append(x.Timings, Timing{Stage: s.Name(), Duration: time.Since(t0)})
		if err == nil {
			continue
		}
		var b *Block
		if errors.As(err, &b) {
			x.Blocked = b
			x.Verdict = bulwark.VerdictDeny
			if b.RuleID != "" {
				x.Verdict = bulwark.VerdictBlock
			}
			return b
		}
		x.Verdict = bulwark.VerdictError
		return fmt.Errorf("%w: %s: %w", ErrStage, s.Name(), err)
	}
	return nil
}
