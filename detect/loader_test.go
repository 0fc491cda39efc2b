package detect

import (
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
)

const rulePI = `{"id":"PI-001","title":"t","description":"d","category":"Guardrails","kind":"prompt_injection",
 "severity":"high","action":"block","patterns":[PATTERN],"examples":{"match":["ignore"],"no_match":["ok"]}}`

func policyDoc(name, extends, rules string) string {
	ext := ""
	if extends != "" {
		ext = `"extends":[` + extends + `],`
	}
	return `{"name":"` + name + `","version":"1.0.0","description":"d",` + ext + `"rules":[` + rules + `]}`
}

func TestParsePolicyErrors(t *testing.T) {
	good := policyDoc("pp", "", strings.Replace(rulePI, "PATTERN", `"ignore"`, 1))
	if _, err := ParsePolicy([]byte(good)); err != nil {
		t.Fatalf("good policy: %v", err)
	}
	cases := []struct {
		name, doc, want string
	}{
		{"unknown field", strings.Replace(good, `"version"`, `"colour":"red","version"`, 1), `unknown field "colour"`},
		{"unknown rule field", strings.Replace(good, `"title"`, `"tittle":"x","title"`, 1), `unknown field "tittle"`},
		{"syntax", good[:len(good)-3], "ends early"},
		{"bad json position", `{"name": ,}`, "line 1, column"},
		{"trailing", good + `{}`, "unexpected data after"},
		{"wrong type", strings.Replace(good, `"severity":"high"`, `"severity":3`, 1), "field rules.severity"},
		{"depth", strings.Repeat("[", 40) + strings.Repeat("]", 40), "nested deeper than 16"},
		{"size", `{"name":"` + strings.Repeat("a", MaxPolicyBytes) + `"}`, "the limit is"},
		{"validation names rule", strings.Replace(good, `"kind":"prompt_injection"`, `"kind":"bad"`, 1), "rules[0](PI-001).kind"},
		{"bad pattern names rule and index", policyDoc("pp", "", strings.Replace(rulePI, "PATTERN", `"ok", "(bad"`, 1)), "rules[0](PI-001).patterns[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := ParsePolicy([]byte(c.doc))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want error containing %q, got %v", c.want, err)
			}
		})
	}
}

func addDoc(t *testing.T, r *Registry, doc string) {
	t.Helper()
	p, err := ParsePolicy([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Add(p); err != nil {
		t.Fatal(err)
	}
}

func ruleDoc(id string) string {
	return strings.Replace(strings.Replace(rulePI, "PI-001", id, 1), "PATTERN", `"(?i)ignore"`, 1)
}

func TestResolve(t *testing.T) {
	r := NewRegistry()
	addDoc(t, r, policyDoc("base", "", ruleDoc("A-001")))
	addDoc(t, r, policyDoc("left", `"base"`, ruleDoc("L-001")))
	addDoc(t, r, policyDoc("right", `"base"`, ruleDoc("R-001")))
	top := `{"name":"top","version":"1.0.0","description":"d","extends":["left","right"],
	  "overrides":{"A-001":{"action":"monitor","severity":"low"},"L-001":{"disabled":true},"ENC-003":{"disabled":true}},
	  "rules":[` + ruleDoc("T-001") + `]}`
	addDoc(t, r, top)
	rs, err := r.Resolve("top")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, rule := range rs.Rules {
		if rs.Source[rule.ID] != "engine" {
			ids = append(ids, rule.ID)
		}
	}
	if got := strings.Join(ids, ","); got != "A-001,L-001,R-001,T-001" {
		t.Fatalf("diamond resolves to %s", got)
	}
	a, _ := rs.Rule("A-001")
	if a.Action != bulwark.ActionMonitor || a.Severity != bulwark.SeverityLow {
		t.Fatalf("override not applied: %+v", a)
	}
	if l, _ := rs.Rule("L-001"); !l.Disabled {
		t.Fatal("disable override not applied")
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := e.byID["L-001"]; ok {
		t.Fatal("disabled rule compiled")
	}
	if _, ok := e.byID["ENC-003"]; ok {
		t.Fatal("disabled engine rule compiled")
	}

	errCases := []struct{ name, doc, resolve, want string }{
		{"cycle", policyDoc("c1", `"c2"`, ruleDoc("C-001")), "c1", "cycle: c1 → c2 → c1"},
		{"unknown extends", policyDoc("uu", `"nope"`, ruleDoc("U-001")), "uu", `extends unknown policy "nope"`},
		{"duplicate rule", policyDoc("dd", `"base"`, ruleDoc("A-001")), "dd", `rule A-001 is defined by both policy "base" and policy "dd"`},
		{"engine id clash", policyDoc("ee", "", ruleDoc("ENC-001")), "ee", `rule ENC-001 is defined by both policy "engine"`},
		{"unknown override", `{"name":"oo","version":"1.0.0","description":"d","extends":["base"],"overrides":{"Z-001":{"disabled":true}},"rules":[]}`, "oo", "overrides rule Z-001"},
		{"redact without label", `{"name":"rd","version":"1.0.0","description":"d","extends":["base"],"overrides":{"A-001":{"action":"redact"}},"rules":[]}`, "rd", "no redact_label"},
	}
	addDoc(t, r, policyDoc("c2", `"c1"`, ruleDoc("C-002")))
	for _, c := range errCases {
		t.Run(c.name, func(t *testing.T) {
			addDoc(t, r, c.doc)
			_, err := r.Resolve(c.resolve)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want %q, got %v", c.want, err)
			}
		})
	}
	if _, err := r.Resolve("missing"); err == nil || !strings.Contains(err.Error(), `unknown policy "missing"`) {
		t.Fatalf("unknown policy: %v", err)
	}
}

func TestCompileRejectsBadPatterns(t *testing.T) {
	cases := []struct{ name, pattern, want string }{
		// Valid Go syntax but an enormous program: counted repetition nests.
		{"too large", `((a{100}){100}){100}`, "rule X-001 (policy pp) patterns[0]"},
		{"too costly for RE2", `(?i)[\p{L}]{2,40}\d`, "too expensive for the matcher"},
		// Go accepts \C? No: but RE2 and Go differ on some escapes; this one both reject.
		{"syntax", `a(?P<n>b`, "rule X-001"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rule := bulwark.Rule{ID: "X-001", Title: "t", Description: "d", Category: bulwark.CategoryOther,
				Kind: bulwark.KindOther, Severity: bulwark.SeverityLow, Action: bulwark.ActionMonitor,
				Patterns: []string{c.pattern}, Examples: bulwark.Examples{Match: []string{"a"}, NoMatch: []string{"b"}}}
			r := NewRegistry()
			r.Put(&bulwark.Policy{Name: "pp", Version: "1.0.0", Description: "d", Rules: []bulwark.Rule{rule}})
			rs, err := r.Resolve("pp")
			if err != nil {
				t.Fatal(err)
			}
			_, err = Compile(rs, Options{})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want %q, got %v", c.want, err)
			}
		})
	}
}

func TestEngineRulesValid(t *testing.T) {
	for _, r := range EngineRules() {
		probs := r.Validate()
		// Engine rules have no patterns by design; everything else must hold.
		if probs != nil && !strings.Contains(probs.Error(), "patterns") {
			t.Errorf("%s: %v", r.ID, probs)
		}
	}
}
