package detect

import (
	"context"
	"fmt"

	"github.com/bulwarkhq/bulwark"
)

// exampleTarget picks a protocol and surface the rule applies to.
func exampleTarget(r *bulwark.Rule) (bulwark.Protocol, bulwark.Surface) {
	p, s := bulwark.ProtocolLLM, bulwark.SurfacePrompt
	if len(r.Protocols) > 0 {
		p = r.Protocols[0]
	}
	if len(r.Surfaces) > 0 {
		s = r.Surfaces[0]
	}
	return p, s
}

// CheckRuleExamples scans a rule's examples with the engine, on the first
// protocol and surface the rule applies to, and returns a message for each
// match example that does not produce the rule and each no_match example
// that does.
func CheckRuleExamples(ctx context.Context, e *Engine, r *bulwark.Rule) []string {
	proto, surface := exampleTarget(r)
	var failures []string
	check := func(text string, want bool) {
		res, err := e.ScanText(ctx, text, proto, surface)
		if err != nil {
			failures = append(failures, fmt.Sprintf("example %q: %v", text, err))
			return
		}
		got := false
		for _, f := range res.Findings {
			if f.RuleID == r.ID {
				got = true
				break
			}
		}
		switch {
		case want && !got:
			failures = append(failures, fmt.Sprintf("match example not matched on %s/%s: %q", proto, surface, text))
		case !want && got:
			failures = append(failures, fmt.Sprintf("no_match example matched on %s/%s: %q", proto, surface, text))
		}
	}
	for _, text := range r.Examples.Match {
		check(text, true)
	}
	for _, text := range r.Examples.NoMatch {
		check(text, false)
	}
	return failures
}
