package detect

import (
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
)

func TestRedact(t *testing.T) {
	e := testEngine(t, Options{})
	m := NewMasker()
	in := "Mail bob@example.com and alice@example.org, key AKIAIOSFODNN7EXAMPLE, again bob@example.com."
	out, findings := e.Redact(in, bulwark.ProtocolLLM, bulwark.SurfacePrompt, m)
	want := "Mail <EMAIL_1> and <EMAIL_2>, key <AWS_KEY_1>, again <EMAIL_1>."
	if out != want {
		t.Fatalf("redacted:\n got %q\nwant %q", out, want)
	}
	if len(findings) != 2 {
		t.Fatalf("want one finding per rule, got %+v", findings)
	}
	for _, f := range findings {
		if strings.Contains(f.Evidence, "example") || strings.Contains(f.Evidence, "IOSFODNN7") {
			t.Fatalf("evidence leaks the value: %q", f.Evidence)
		}
	}
	// Same masker, next message: same value keeps its placeholder.
	out2, _ := e.Redact("from alice@example.org", "", bulwark.SurfacePrompt, m)
	if out2 != "from <EMAIL_2>" {
		t.Fatalf("placeholder not stable across messages: %q", out2)
	}
	if got := Unmask("Reply to <EMAIL_1> and <EMAIL_2>; <EMAIL_9> and <b> stay; key <AWS_KEY_1>", m.Mapping()); got !=
		"Reply to bob@example.com and alice@example.org; <EMAIL_9> and <b> stay; key AKIAIOSFODNN7EXAMPLE" {
		t.Fatalf("unmask: %q", got)
	}
	// Homoglyph-free but normalised input: the original span is replaced.
	out3, _ := e.Redact("x ｂｏｂ@example.com y", "", bulwark.SurfacePrompt, NewMasker())
	if out3 != "x <EMAIL_1> y" {
		t.Fatalf("normalised match should replace the original span: %q", out3)
	}
	// Nothing to redact: the text comes back unchanged.
	if out, f := e.Redact("nothing here", "", bulwark.SurfacePrompt, NewMasker()); out != "nothing here" || f != nil {
		t.Fatalf("clean text changed: %q %v", out, f)
	}
}

func TestStreamUnmaskerEverySplit(t *testing.T) {
	mapping := map[string]string{"<EMAIL_1>": "bob@example.com", "<AWS_KEY_12>": "AKIAIOSFODNN7EXAMPLE"}
	texts := []string{
		"Write to <EMAIL_1> now, key <AWS_KEY_12>.",
		"<EMAIL_1>",
		"a < b and <EMAIL_1><AWS_KEY_12> and <EMAIL_3> and <email_1> end<",
		"<<EMAIL_1>>",
		"trailing <EMAIL_",
	}
	for _, text := range texts {
		want := Unmask(text, mapping)
		// Every split into two chunks.
		for i := 0; i <= len(text); i++ {
			u := NewStreamUnmasker(mapping)
			got := u.Write(text[:i]) + u.Write(text[i:]) + u.Flush()
			if got != want {
				t.Fatalf("split %q|%q: got %q want %q", text[:i], text[i:], got, want)
			}
		}
		// Every pair of split positions (three chunks).
		for i := 0; i <= len(text); i++ {
			for j := i; j <= len(text); j++ {
				u := NewStreamUnmasker(mapping)
				got := u.Write(text[:i]) + u.Write(text[i:j]) + u.Write(text[j:]) + u.Flush()
				if got != want {
					t.Fatalf("split %q|%q|%q: got %q want %q", text[:i], text[i:j], text[j:], got, want)
				}
			}
		}
		// One byte at a time.
		u := NewStreamUnmasker(mapping)
		var b strings.Builder
		for k := 0; k < len(text); k++ {
			b.WriteString(u.Write(text[k : k+1]))
		}
		b.WriteString(u.Flush())
		if b.String() != want {
			t.Fatalf("byte by byte: got %q want %q", b.String(), want)
		}
	}
	if want := "Write to bob@example.com now, key AKIAIOSFODNN7EXAMPLE."; Unmask(texts[0], mapping) != want {
		t.Fatalf("unmask: %q", Unmask(texts[0], mapping))
	}
}

func TestStreamUnmaskerHoldsBackOnlyPrefixes(t *testing.T) {
	u := NewStreamUnmasker(map[string]string{"<EMAIL_1>": "x@y.z"})
	if got := u.Write("hello <b>world"); got != "hello <b>world" {
		t.Fatalf("non-placeholder text held back: %q", got)
	}
	if got := u.Write("see <EMA"); got != "see " {
		t.Fatalf("want prefix held back, got %q", got)
	}
	if got := u.Write("IL_1> ok"); got != "x@y.z ok" {
		t.Fatalf("got %q", got)
	}
	if got := u.Write("a <lower"); got != "a <lower" {
		t.Fatalf("lower-case cannot start a placeholder: %q", got)
	}
}
