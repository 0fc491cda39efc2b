package usage

import (
	"strings"
	"sync"
	"testing"
)

func TestEncodingFor(t *testing.T) {
	tests := []struct {
		model string
		enc   string
		exact bool
	}{
		{"gpt-4o", EncodingO200k, true},
		{"gpt-4o-mini-2024-07-18", EncodingO200k, true},
		{"openai/gpt-4o", EncodingO200k, true},
		{"GPT-4.1-nano", EncodingO200k, true},
		{"gpt-5", EncodingO200k, true},
		{"gpt-5.2", EncodingO200k, true},
		{"gpt-5-mini", EncodingO200k, true},
		{"o1", EncodingO200k, true},
		{"o1-mini", EncodingO200k, true},
		{"o3-pro", EncodingO200k, true},
		{"o4-mini", EncodingO200k, true},
		{"chatgpt-4o-latest", EncodingO200k, true},
		{"gpt-4", EncodingCl100k, true},
		{"gpt-4-turbo", EncodingCl100k, true},
		{"gpt-4-0613", EncodingCl100k, true},
		{"gpt-3.5-turbo", EncodingCl100k, true},
		{"gpt-35-turbo", EncodingCl100k, true}, // Azure spelling
		{"claude-sonnet-4-5", EncodingCl100k, false},
		{"gemini-2.5-pro", EncodingCl100k, false},
		{"my-azure-deployment", EncodingCl100k, false},
		{"o10-fancy", EncodingCl100k, false}, // not the o1 family
		{"gpt-50", EncodingCl100k, false},
		{"", EncodingCl100k, false},
	}
	for _, tt := range tests {
		enc, exact := EncodingFor(tt.model)
		if enc != tt.enc || exact != tt.exact {
			t.Errorf("EncodingFor(%q) = %s, %v; want %s, %v", tt.model, enc, exact, tt.enc, tt.exact)
		}
	}
}

func TestCountTokensKnownValues(t *testing.T) {
	tests := []struct {
		model, text string
		want        int
	}{
		{"gpt-4", "hello world", 2},
		{"gpt-4o", "hello world", 2},
		{"gpt-5", "hello world", 2},
		{"claude-sonnet-4-5", "hello world", 2},
		// From OpenAI's tiktoken README and cookbook (cl100k_base).
		{"gpt-3.5-turbo", "tiktoken is great!", 6},
		{"gpt-4", "antidisestablishmentarianism", 6},
		{"gpt-4o", "", 0},
		{"gpt-4", "", 0},
	}
	for _, tt := range tests {
		if got := CountTokens(tt.model, tt.text); got != tt.want {
			t.Errorf("CountTokens(%q, %q) = %d, want %d", tt.model, tt.text, got, tt.want)
		}
	}
}

func TestCountTokensEncodingsDiffer(t *testing.T) {
	// o200k_base packs non-English text tighter than cl100k_base; a count
	// that came out equal would mean both models used the same encoder.
	text := strings.Repeat("Привет, как дела? これはテストです。 ", 20)
	o, c := CountTokens("gpt-4o", text), CountTokens("gpt-4", text)
	if o >= c {
		t.Fatalf("o200k %d tokens, cl100k %d: want o200k < cl100k", o, c)
	}
}

func TestCountTokensInvalidUTF8(t *testing.T) {
	if n := CountTokens("gpt-4o", "ab\xffcd\xc3"); n <= 0 {
		t.Fatalf("invalid UTF-8 counted as %d tokens", n)
	}
}

func TestEstimateChat(t *testing.T) {
	if got := EstimateChat("gpt-4o", nil); got != 0 {
		t.Errorf("no messages = %d, want 0", got)
	}
	// 3 per message + content + 3 priming the reply.
	if got, want := EstimateChat("gpt-4o", []string{"hello world"}), 3+2+3; got != want {
		t.Errorf("one message = %d, want %d", got, want)
	}
	if got, want := EstimateChat("gpt-4", []string{"hello world", "", "hello world"}), 3*3+2+0+2+3; got != want {
		t.Errorf("three messages = %d, want %d", got, want)
	}
}

func TestCountTokensConcurrent(t *testing.T) {
	text := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 50)
	want := map[string]int{"gpt-4o": CountTokens("gpt-4o", text), "gpt-4": CountTokens("gpt-4", text)}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			model := "gpt-4o"
			if i%2 == 1 {
				model = "gpt-4"
			}
			for range 20 {
				if got := CountTokens(model, text); got != want[model] {
					t.Errorf("%s: concurrent count %d, want %d", model, got, want[model])
					return
				}
			}
		}()
	}
	wg.Wait()
}

func benchText() string {
	const para = "Bulwark inspects every request on its way to the model: prompts, tool calls " +
		"and responses, with rules for injection, secrets and personal data. 1234 5678. "
	s := strings.Repeat(para, 4096/len(para)+1)
	return s[:4096]
}

func BenchmarkCountTokensO200k4KiB(b *testing.B) {
	text := benchText()
	CountTokens("gpt-4o", text)
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		CountTokens("gpt-4o", text)
	}
}

func BenchmarkCountTokensCl100k4KiB(b *testing.B) {
	text := benchText()
	CountTokens("gpt-4", text)
	b.ReportAllocs()
	b.SetBytes(int64(len(text)))
	for b.Loop() {
		CountTokens("gpt-4", text)
	}
}
