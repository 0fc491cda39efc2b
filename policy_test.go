package bulwark

import (
	"errors"
	"strings"
	"testing"
)

func validRule() Rule {
	return Rule{
		ID: "PI-001", Title: "Ignore previous instructions", Description: "Classic override.",
		Category: CategoryGuardrails, Kind: KindPromptInjection, Severity: SeverityHigh, Action: ActionBlock,
		Patterns: []string{`(?i)\bignore\s+previous\s+instructions\b`},
		Examples: Examples{Match: []string{"ignore previous instructions"}, NoMatch: []string{"hello"}},
	}
}

func TestPolicyValidate(t *testing.T) {
	ok := Policy{Name: "my-policy", Version: "1.0.0", Description: "d", Rules: []Rule{validRule()}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid policy rejected: %v", err)
	}
	cases := []struct {
		name  string
		mut   func(p *Policy)
		field string
	}{
		{"name", func(p *Policy) { p.Name = "My Policy" }, "name"},
		{"version", func(p *Policy) { p.Version = "one" }, "version"},
		{"self extend", func(p *Policy) { p.Extends = []string{"my-policy"} }, "extends[0]"},
		{"ml threshold", func(p *Policy) { p.ML = &MLConfig{Enabled: true, Threshold: 1.5} }, "ml.threshold"},
		{"override action", func(p *Policy) { p.Overrides = map[string]Override{"PI-001": {Action: "drop"}} }, "overrides.PI-001.action"},
		{"rule id", func(p *Policy) { p.Rules[0].ID = "pi-1" }, "rules[0](pi-1).id"},
		{"dup id", func(p *Policy) { p.Rules = append(p.Rules, validRule()) }, "rules[1](PI-001).id"},
		{"category", func(p *Policy) { p.Rules[0].Category = "Bad" }, "rules[0](PI-001).category"},
		{"kind", func(p *Policy) { p.Rules[0].Kind = "bad" }, "rules[0](PI-001).kind"},
		{"severity", func(p *Policy) { p.Rules[0].Severity = "info" }, "rules[0](PI-001).severity"},
		{"action", func(p *Policy) { p.Rules[0].Action = "allow" }, "rules[0](PI-001).action"},
		{"surface", func(p *Policy) { p.Rules[0].Surfaces = []Surface{"body"} }, "rules[0](PI-001).surfaces[0]"},
		{"protocol", func(p *Policy) { p.Rules[0].Protocols = []Protocol{"http"} }, "rules[0](PI-001).protocols[0]"},
		{"pattern syntax", func(p *Policy) { p.Rules[0].Patterns = []string{"a", "(unclosed"} }, "rules[0](PI-001).patterns[1]"},
		{"pattern empty match", func(p *Policy) { p.Rules[0].Patterns = []string{"x*"} }, "rules[0](PI-001).patterns[0]"},
		{"no patterns", func(p *Policy) { p.Rules[0].Patterns = nil }, "rules[0](PI-001).patterns"},
		{"score", func(p *Policy) { p.Rules[0].Score = 2 }, "rules[0](PI-001).score"},
		{"redact label", func(p *Policy) { p.Rules[0].Action = ActionRedact }, "rules[0](PI-001).redact_label"},
		{"examples", func(p *Policy) { p.Rules[0].Examples.NoMatch = nil }, "rules[0](PI-001).examples.no_match"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := ok
			p.Rules = []Rule{validRule()}
			c.mut(&p)
			err := p.Validate()
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("want validation error, got %v", err)
			}
			found := false
			for _, f := range e.Fields {
				if f.Field == c.field {
					found = true
				}
			}
			if !found {
				t.Fatalf("want field %q in %+v", c.field, e.Fields)
			}
			if !strings.Contains(err.Error(), c.field) {
				t.Fatalf("message %q does not name %q", err.Error(), c.field)
			}
		})
	}
}

func TestRuleAppliesTo(t *testing.T) {
	r := validRule()
	r.Surfaces = []Surface{SurfacePrompt}
	r.Protocols = []Protocol{ProtocolMCP}
	if !r.AppliesTo(ProtocolMCP, SurfacePrompt) || r.AppliesTo(ProtocolLLM, SurfacePrompt) || r.AppliesTo(ProtocolMCP, SurfaceToolResult) {
		t.Fatal("AppliesTo ignores protocols or surfaces")
	}
	if !r.AppliesTo("", "") {
		t.Fatal("empty protocol and surface should match")
	}
}
