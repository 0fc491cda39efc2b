package main

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
)

func TestWilson(t *testing.T) {
	cases := []struct {
		k, n   int
		lo, hi float64
	}{
		{0, 0, 0, 1},
		{0, 10, 0, 0.2775},
		{10, 10, 0.7225, 1},
		{5, 10, 0.2366, 0.7634},
		{81, 263, 0.2553, 0.3662},
	}
	for _, c := range cases {
		lo, hi := wilson(c.k, c.n)
		if math.Abs(lo-c.lo) > 5e-4 || math.Abs(hi-c.hi) > 5e-4 {
			t.Errorf("wilson(%d,%d) = [%.4f, %.4f], want [%.4f, %.4f]", c.k, c.n, lo, hi, c.lo, c.hi)
		}
	}
}

func runEvalCmd(t *testing.T, args ...string) string {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	cmd.SetArgs(append([]string{"eval"}, args...))
	if err := cmd.Execute(); err != nil {
		t.Fatalf("eval %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

func TestEvalReportSmallCorpus(t *testing.T) {
	out := runEvalCmd(t, "--corpus", "testdata/eval_small.jsonl", "--format", "json")
	var rep evalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if rep.Records != 7 || rep.P50Micros <= 0 || rep.P99Micros < rep.P50Micros {
		t.Fatalf("report header: %+v", rep)
	}
	got := map[string]evalGroup{}
	for _, g := range rep.Categories {
		got[g.Category] = g
	}
	for _, cat := range []string{"prompt_injection", "sql_injection", "path_traversal", "command_injection"} {
		if g := got[cat]; g.Count != 1 || g.Detected != 1 || g.Rate != 1 || g.Label != "attack" {
			t.Errorf("%s: %+v", cat, g)
		}
	}
	// The e-mail address is personal data, not an attack: it is not a false positive.
	if g := got["benign_general"]; g.Count != 2 || g.Detected != 0 {
		t.Errorf("benign_general: %+v", g)
	}
	if g := got["benign_code"]; g.Count != 1 || g.Detected != 0 {
		t.Errorf("benign_code: %+v", g)
	}
	text := runEvalCmd(t, "--corpus", "testdata/eval_small.jsonl")
	for _, want := range []string{"By category:", "TPR", "FPR", "95% CI", "p50", "p99", "sql_injection"} {
		if !strings.Contains(text, want) {
			t.Errorf("text report lacks %q:\n%s", want, text)
		}
	}
}

func TestEvalRejectsBadInput(t *testing.T) {
	dir := t.TempDir()
	bad := dir + "/bad.jsonl"
	if err := os.WriteFile(bad, []byte("{\"id\":\"x\",\"label\":\"maybe\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{}, {"--corpus", bad}, {"--corpus", "testdata/eval_small.jsonl", "--format", "xml"}} {
		cmd := newRootCmd()
		cmd.SetOut(&bytes.Buffer{})
		cmd.SetErr(&bytes.Buffer{})
		cmd.SetArgs(append([]string{"eval"}, args...))
		if err := cmd.Execute(); err == nil {
			t.Errorf("eval %v: no error", args)
		}
	}
}

// evalTargets are the rates reached on the tuning corpus (see
// docs/detection.md); a regression below them fails. Minimum TPR for
// attack categories, maximum FPR for benign ones.
var evalTargets = map[string]float64{
	"sql_injection":        0.99,
	"command_injection":    0.98,
	"path_traversal":       0.96,
	"secret":               0.98,
	"pii":                  0.94,
	"prompt_injection":     0.95,
	"jailbreak":            0.97,
	"prompt_extraction":    0.92,
	"benign_code":          0.02,
	"benign_general":       0.01,
	"benign_trigger_words": 0.01,
}

func TestEvalTuningCorpusTargets(t *testing.T) {
	const corpus = "../../../shared/eval/tuning.jsonl"
	if _, err := os.Stat(corpus); err != nil {
		t.Skipf("tuning corpus not available: %v", err)
	}
	if testing.Short() || raceEnabled {
		t.Skip("slow: scans the whole tuning corpus (skipped with -short and under -race)")
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(runEvalCmd(t, "--corpus", corpus, "--format", "json")), &rep); err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, g := range rep.Categories {
		target, ok := evalTargets[g.Category]
		if !ok {
			continue
		}
		seen++
		if g.Label == "attack" && g.Rate < target {
			t.Errorf("%s: TPR %.3f below %.3f", g.Category, g.Rate, target)
		}
		if g.Label == "benign" && g.Rate > target {
			t.Errorf("%s: FPR %.3f above %.3f", g.Category, g.Rate, target)
		}
	}
	if seen != len(evalTargets) {
		t.Errorf("report covers %d of %d target categories", seen, len(evalTargets))
	}
	// Instructions injected into tool results are the weak spot; keep the
	// rate reached by the tool-result rules.
	for _, g := range rep.ByContext {
		if g.Category == "prompt_injection" && g.Context == "tool_result" && g.Rate < 0.66 {
			t.Errorf("prompt_injection in tool results: TPR %.3f below 0.66", g.Rate)
		}
	}
}
