package detect

import (
	"context"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
)

func TestShannonEntropy(t *testing.T) {
	for _, c := range []struct {
		s        string
		lo, high float64
	}{
		{"", 0, 0},
		{"xxxxxxxxxxxx", 0, 0},
		{"abab", 1, 1},
		{"glc_1111111111111111111111", 0, 1.5},
		{"q8Zx2LmN4pR7tV1wY5bC3dF6gH9jK0", 4.5, 5},
	} {
		if h := ShannonEntropy(c.s); h < c.lo-1e-9 || h > c.high+1e-9 {
			t.Errorf("ShannonEntropy(%q) = %v, want in [%v, %v]", c.s, h, c.lo, c.high)
		}
	}
}

const filterPolicy = `{
  "name": "filter-test", "version": "1.0.0", "description": "min_entropy and allowlist",
  "rules": [{
    "id": "FT-001", "title": "Key assignment", "description": "A key assigned a value.",
    "category": "Content Security", "kind": "secret", "severity": "high", "action": "redact",
    "redact_label": "KEY",
    "patterns": ["key\\s*=\\s*(?P<secret>[A-Za-z0-9_]{8,})"],
    "min_entropy": 2.5,
    "allowlist": ["(?i)your[_-]key|\\bexample\\b"],
    "examples": {"match": ["key = q8Zx2LmN4pR7"], "no_match": ["key = xxxxxxxxxxxx"]}
  }]
}`

func filterEngine(t *testing.T) *Engine {
	t.Helper()
	r := NewRegistry()
	if _, err := r.AddBytes([]byte(filterPolicy)); err != nil {
		t.Fatal(err)
	}
	rs, err := r.Resolve("filter-test")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(rs, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestValueFilter(t *testing.T) {
	e := filterEngine(t)
	ctx := context.Background()
	for _, c := range []struct {
		text string
		want string // evidence prefix of the finding, "" for none
	}{
		{"key = q8Zx2LmN4pR7", "key "},
		{"key = xxxxxxxxxxxx", ""},
		{"key = 111111111111", ""},
		{"key = your_key_here1", ""},
		{"an example: key = q8Zx2LmN4pR7", ""},
		// A placeholder first does not hide a real value later.
		{"key = xxxxxxxxxxxx\nkey = q8Zx2LmN4pR7", "key "},
	} {
		res, err := e.ScanText(ctx, c.text, bulwark.ProtocolLLM, bulwark.SurfacePrompt)
		if err != nil {
			t.Fatal(err)
		}
		if c.want == "" {
			if len(res.Findings) != 0 {
				t.Errorf("%q: want no finding, got %v", c.text, ruleIDs(res.Findings))
			}
			continue
		}
		if len(res.Findings) != 1 || !strings.HasPrefix(res.Findings[0].Evidence, c.want) {
			t.Errorf("%q: want one FT-001 finding, got %+v", c.text, res.Findings)
			continue
		}
		if f := res.Findings[0]; c.text[f.Start:f.End] != "key = q8Zx2LmN4pR7" {
			t.Errorf("%q: span %d-%d is %q", c.text, f.Start, f.End, c.text[f.Start:f.End])
		}
	}
	out, _ := e.Redact("key = xxxxxxxxxxxx and key = q8Zx2LmN4pR7", bulwark.ProtocolLLM, bulwark.SurfacePrompt, NewMasker())
	if out != "key = xxxxxxxxxxxx and <KEY_1>" {
		t.Errorf("redacted: %q", out)
	}
}

func TestValueFilterValidation(t *testing.T) {
	for _, c := range []struct{ from, to, want string }{
		{`"min_entropy": 2.5`, `"min_entropy": 9`, "min_entropy"},
		{`"allowlist": ["(?i)your[_-]key|\\bexample\\b"]`, `"allowlist": ["(unclosed"]`, "allowlist[0]"},
	} {
		doc := strings.Replace(filterPolicy, c.from, c.to, 1)
		if _, err := NewRegistry().AddBytes([]byte(doc)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want it to name %s", c.to, err, c.want)
		}
	}
}
