package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/bulwarkhq/bulwark/inspect"
	"github.com/bulwarkhq/bulwark/inspect/access"
	"github.com/bulwarkhq/bulwark/inspect/budget"
	"github.com/bulwarkhq/bulwark/inspect/policy"
	"github.com/bulwarkhq/bulwark/inspect/sysprompt"
	"github.com/bulwarkhq/bulwark/proxy/llm"
	"github.com/bulwarkhq/bulwark/usage"
)

// CredentialAD is the associated data of encrypted upstream credentials:
// a ciphertext made for something else does not decrypt as one.
const CredentialAD = "bulwark/proxy-credential"

// build compiles a proxy's chain and handler from its stored config.
func (g *Gateway) build(ctx context.Context, p *bulwark.Proxy, in *instance) (http.Handler, error) {
	if p.Type == bulwark.ProtocolA2A {
		return nil, fmt.Errorf("%s proxies are not available in this version of the gateway yet", p.Type)
	}
	var e *detect.Engine
	if len(p.Policies) > 0 {
		stored, err := g.o.Store.ListPolicies(ctx)
		if err != nil {
			return nil, fmt.Errorf("read policies: %w", err)
		}
		reg, _ := detect.WithStored(g.builtin, stored)
		e, err = g.engines.Engine(reg, detect.Options{Classifier: g.o.Classifier, MaxScanBytes: 1 << 20}, p.Policies...)
		if err != nil {
			return nil, fmt.Errorf("policies %v: %w", p.Policies, err)
		}
	}
	if p.Type == bulwark.ProtocolMCP {
		return g.buildMCP(ctx, p, in, e)
	}
	var pol *policy.Stage
	if e != nil {
		pol = policy.New(e, bulwark.ProtocolLLM)
	}
	prompts, err := g.o.Store.ListSystemPrompts(ctx)
	if err != nil {
		return nil, fmt.Errorf("read system prompts: %w", err)
	}
	var mine []*bulwark.SystemPrompt
	for _, sp := range prompts {
		if sp.Enabled && appliesToProxy(sp, p.Name) {
			mine = append(mine, sp)
		}
	}
	sps, err := sysprompt.New(mine, g.o.Organization, g.o.Now)
	if err != nil {
		return nil, err
	}
	cred, err := g.credential(p)
	if err != nil {
		return nil, err
	}
	stages := []inspect.Stage{
		&access.Stage{Keys: g.keys, Now: g.o.Now},
		&budget.Stage{Ledger: g.ledger, Estimate: g.estimate},
		sps,
	}
	if pol != nil {
		stages = append(stages, pol)
	}
	timeout := g.o.DefaultTimeout
	if p.TimeoutSeconds > 0 {
		timeout = time.Duration(p.TimeoutSeconds) * time.Second
	}
	maxBody := g.o.DefaultMaxBody
	if p.MaxBodyBytes > 0 {
		maxBody = p.MaxBodyBytes
	}
	var respPolicy *policy.Stage
	if p.ScanResponses {
		respPolicy = pol
	}
	proxyName := p.Name
	return llm.NewHandler(llm.HandlerConfig{
		Proxy:      p,
		Credential: cred,
		Chain:      inspect.NewChain(stages...),
		Response:   respPolicy,
		Transport:  g.o.Transport,
		Timeout:    timeout,
		MaxBody:    maxBody,
		Prices:     g.o.Prices,
		Log:        g.log.With("proxy", p.Name),
		Done:       func(x *inspect.Exchange, rec *bulwark.RequestRecord) { g.done(proxyName, x, rec) },
		Tracer:     g.tracer(),
	})
}

// credential decrypts a proxy's upstream credential ("" when none is set).
func (g *Gateway) credential(p *bulwark.Proxy) (string, error) {
	if p.Credential == "" {
		return "", nil
	}
	if g.o.Keyring == nil {
		return "", fmt.Errorf("the upstream credential cannot be decrypted: no keyring configured")
	}
	cred, err := g.o.Keyring.DecryptString(p.Credential, CredentialAD)
	if err != nil {
		return "", fmt.Errorf("the upstream credential cannot be decrypted (was the encryption key changed?): %w", err)
	}
	return cred, nil
}

func appliesToProxy(sp *bulwark.SystemPrompt, proxy string) bool {
	if len(sp.Proxies) == 0 {
		return true
	}
	for _, p := range sp.Proxies {
		if p == proxy || p == "*" {
			return true
		}
	}
	return false
}

// estimate prices a request before it is sent, for the budget reservation:
// its input at the input price plus a modest output allowance. The actual
// cost replaces it when the answer is in.
func (g *Gateway) estimate(model string, inputTokens int64) (float64, bool) {
	const outputAllowance = 512
	return g.o.Prices.CostOf(model, usage.Tokens{Input: inputTokens, Output: outputAllowance})
}

// done runs once per request after the client has its answer: statistics,
// metrics, the request log (batched) and alerts for findings.
func (g *Gateway) done(proxy string, x *inspect.Exchange, rec *bulwark.RequestRecord) {
	if x.Group != nil {
		// Spend is kept per group and period even without a budget, so a
		// budget set in the middle of a month counts what was spent before.
		rec.BudgetPeriod = g.ledger.PeriodStart(x.Group, rec.At)
	}
	g.mu.Lock()
	in := g.instances[proxy]
	g.mu.Unlock()
	if in != nil {
		in.stats.add(rec)
	}
	m := g.metrics
	m.requests.WithLabelValues(proxy, strconv.Itoa(rec.Status), string(rec.Verdict)).Inc()
	m.total.WithLabelValues(proxy).Observe(rec.LatencyMs / 1000)
	m.upstream.WithLabelValues(proxy).Observe(rec.UpstreamMs / 1000)
	m.gateway.WithLabelValues(proxy).Observe(max(0, rec.LatencyMs-rec.UpstreamMs) / 1000)
	for _, t := range x.Timings {
		m.stage.WithLabelValues(proxy, t.Stage).Observe(t.Duration.Seconds())
	}
	if rec.InputTokens > 0 {
		m.tokens.WithLabelValues(proxy, "input").Add(float64(rec.InputTokens))
	}
	if rec.OutputTokens > 0 {
		m.tokens.WithLabelValues(proxy, "output").Add(float64(rec.OutputTokens))
	}
	if rec.CacheReadTokens > 0 {
		m.tokens.WithLabelValues(proxy, "cache_read").Add(float64(rec.CacheReadTokens))
	}
	if rec.CacheWriteTokens > 0 {
		m.tokens.WithLabelValues(proxy, "cache_write").Add(float64(rec.CacheWriteTokens))
	}
	if rec.Priced {
		m.cost.WithLabelValues(proxy).Add(rec.CostUSD)
	} else if rec.Model != "" && rec.Status < 400 {
		m.unpriced.WithLabelValues(proxy, rec.Model).Inc()
	}
	if x.Group != nil && x.Group.BudgetUSD > 0 {
		if st, err := g.ledger.Status(context.Background(), x.Group); err == nil && st.Budget > 0 {
			m.budget.WithLabelValues(x.Group.Name).Set((st.Spent) / st.Budget)
		}
	}
	g.rec.add(rec)
	g.alert(proxy, x, rec)
}

// alert raises one alert event for an exchange with findings worth a
// security team's attention: a block, any monitor finding, and redactions
// of high or critical severity (a secret in a prompt). Routine redaction of
// personal data is counted in the request log, not alerted.
func (g *Gateway) alert(proxy string, x *inspect.Exchange, rec *bulwark.RequestRecord) {
	var lead *bulwark.Finding
	if x.Blocked != nil && x.Blocked.Finding != nil {
		lead = x.Blocked.Finding
	}
	for i := range x.Findings {
		f := &x.Findings[i]
		if f.Action == bulwark.ActionRedact && f.Severity.Rank() < bulwark.SeverityHigh.Rank() {
			continue
		}
		if lead == nil || f.Severity.Rank() > lead.Severity.Rank() {
			lead = f
		}
	}
	if lead == nil {
		return
	}
	action := lead.Action
	if x.Blocked != nil {
		action = bulwark.ActionBlock
	}
	who := rec.User
	if who == "" {
		who = rec.Group
	}
	verb := map[bulwark.Action]string{bulwark.ActionBlock: "Blocked", bulwark.ActionMonitor: "Detected", bulwark.ActionRedact: "Redacted"}[action]
	rules := make([]map[string]any, 0, len(x.Findings))
	for _, f := range x.Findings {
		rules = append(rules, map[string]any{"rule_id": f.RuleID, "title": f.Title, "severity": f.Severity, "action": f.Action,
			"kind": f.Kind, "surface": f.Surface, "path": f.Path, "evidence": f.Evidence, "score": f.Score})
		if len(rules) == 20 {
			break
		}
	}
	email, policies := "", ""
	if x.Key != nil {
		email = x.Key.UserEmail
	}
	g.mu.Lock()
	if in := g.instances[proxy]; in != nil {
		in.mu.Lock()
		if in.cfg != nil {
			policies = strings.Join(in.cfg.Policies, ",")
		}
		in.mu.Unlock()
	}
	g.mu.Unlock()
	data, _ := json.Marshal(map[string]any{
		"request_id": rec.RequestID, "proxy": proxy, "group": rec.Group, "group_id": rec.GroupID, "user": rec.User,
		"user_email": email, "policy": policies,
		"key_id": rec.KeyID, "model": rec.Model, "api": rec.API, "rule_id": lead.RuleID, "title": lead.Title,
		"kind": lead.Kind, "surface": lead.Surface, "path": lead.Path, "evidence": lead.Evidence, "action": action,
		"status": rec.Status, "findings": rules,
	})
	ev := bulwark.Event{
		Type:     bulwark.EventAlert,
		Action:   "policy." + string(action),
		Severity: lead.Severity,
		Category: string(lead.Category),
		Actor:    who,
		Subject:  fmt.Sprintf("%s %s (%s) from %s on proxy %s", verb, lead.Title, lead.RuleID, orDash(who), proxy),
		Data:     data,
	}
	if g.o.Events == nil {
		return
	}
	// The client already has its answer: publishing here costs it nothing,
	// and storing the alert before returning means it is not lost on a crash
	// a moment later.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := g.o.Events.Publish(ctx, ev); err != nil {
		g.rec.publish(ev) // retried in the background
	}
}

func orDash(s string) string {
	if s == "" {
		return "an unknown client"
	}
	return s
}

// writeGatewayError answers in OpenAI's error shape, or Anthropic's for
// /v1/messages, for requests the gateway refuses before any proxy handler
// runs (unknown or stopped proxy).
func writeGatewayError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	api := llm.Classify(r.Method, r.URL.Path)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(llm.ErrorBody(api, status, "", code, msg))
}

func (g *Gateway) tracer() trace.Tracer {
	if g.o.Tracer == nil {
		return nil
	}
	return g.o.Tracer.Tracer("github.com/bulwarkhq/bulwark/proxy/llm")
}
