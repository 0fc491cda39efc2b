package detect

import (
	"context"
	"io/fs"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect/rules"
)

// RunExamples scans every example of every enabled rule of the engine's
// rule set (except the learned detector, which needs a classifier) and
// returns one message per failure.
func runExamples(t *testing.T, e *Engine) {
	t.Helper()
	for _, r := range e.RuleSet().Rules {
		if r.Disabled || r.ID == RuleML {
			continue
		}
		failures := CheckRuleExamples(context.Background(), e, &r)
		for _, f := range failures {
			t.Errorf("%s (policy %s): %s", r.ID, e.RuleSet().Source[r.ID], f)
		}
	}
}

// TestBuiltinPolicies loads every embedded policy, compiles it, and runs
// each rule's examples: match examples must produce a finding of that rule
// on a surface the rule applies to, no_match examples must not.
func TestBuiltinPolicies(t *testing.T) {
	names, _ := fs.Glob(rules.FS, "*.json")
	if len(names) == 0 {
		t.Skip("no built-in policies embedded yet")
	}
	reg, err := BuiltinRegistry()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range reg.Names() {
		t.Run(name, func(t *testing.T) {
			rs, err := reg.Resolve(name)
			if err != nil {
				t.Fatal(err)
			}
			e, err := Compile(rs, Options{})
			if err != nil {
				t.Fatal(err)
			}
			runExamples(t, e)
		})
	}
}

func TestTestPolicyExamples(t *testing.T) {
	runExamples(t, testEngine(t, Options{}))
}

// TestMonitoringOnlyNeverEnforces guards llm-monitoring-only against rules
// added to its bases without a monitor override.
func TestMonitoringOnlyNeverEnforces(t *testing.T) {
	reg, err := BuiltinRegistry()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := reg.Resolve("llm-monitoring-only")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs.Rules {
		if !r.Disabled && r.Action != bulwark.ActionMonitor {
			t.Errorf("%s has action %s in llm-monitoring-only; add a monitor override", r.ID, r.Action)
		}
	}
}
