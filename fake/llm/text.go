package llm

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// tokens applies the documented counting rule: ceil(runes/4).
func tokens(s string) int {
	return (utf8.RuneCountInString(s) + 3) / 4
}

// promptTokens sums the rule over the prompt's text pieces, at least 1: no
// real provider bills an empty prompt as zero tokens.
func promptTokens(pieces []string) int {
	n := 0
	for _, p := range pieces {
		n += tokens(p)
	}
	return max(n, 1)
}

// split cuts s into at most n pieces of near-equal rune length. Pieces cut
// anywhere, even inside a word or a placeholder, which is what a gateway
// that rewrites streams has to cope with.
func split(s string, n int) []string {
	runes := utf8.RuneCountInString(s)
	if runes == 0 {
		return nil
	}
	n = min(n, runes)
	out := make([]string, 0, n)
	per, extra := runes/n, runes%n
	for i := range n {
		size := per
		if i < extra {
			size++
		}
		// Advance size runes into s.
		cut := 0
		for range size {
			_, w := utf8.DecodeRuneInString(s[cut:])
			cut += w
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}

// contentText extracts the text of a message content that is either a
// string or an array of parts with a "text" field (OpenAI text/input_text/
// output_text parts, Anthropic text blocks). Other parts are ignored.
func contentText(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, true
	}
	var parts []struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", false
	}
	var b strings.Builder
	for _, p := range parts {
		if p.Text == nil {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(*p.Text)
	}
	return b.String(), true
}
