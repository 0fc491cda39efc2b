package usage

import (
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// Encoding names, as tiktoken spells them.
const (
	EncodingO200k  = "o200k_base"
	EncodingCl100k = "cl100k_base"
)

// Per-message overhead of the OpenAI chat format, from OpenAI's
// "How to count tokens with tiktoken" guide: every message is wrapped in
// <|start|>{role}\n{content}<|end|>\n (about 3 tokens beyond the content),
// and every reply is primed with <|start|>assistant<|message|> (3 tokens).
const (
	tokensPerMessage = 3
	tokensPerReply   = 3
)

// Encoders are built on first use: o200k_base's vocabulary is a map of 200k
// entries that costs tens of milliseconds and tens of megabytes to build, so
// a process that never counts never pays. A tokenizer.Codec is safe for
// concurrent use once built as long as nobody calls SetErrorMode on it, and
// nobody outside this file can reach these.
var (
	o200k  = sync.OnceValue(func() tokenizer.Codec { return loadCodec(tokenizer.O200kBase) })
	cl100k = sync.OnceValue(func() tokenizer.Codec { return loadCodec(tokenizer.Cl100kBase) })
)

func loadCodec(enc tokenizer.Encoding) tokenizer.Codec {
	c, err := tokenizer.Get(enc)
	if err != nil {
		// The vocabularies are compiled into the binary; failing here is a
		// build problem, not a runtime condition.
		panic("usage: load embedded tokenizer " + string(enc) + ": " + err.Error())
	}
	// Like tiktoken: invalid UTF-8 becomes U+FFFD rather than an error.
	c.SetErrorMode(tokenizer.ErrorModeReplace)
	return c
}

// EncodingFor reports which encoding CountTokens uses for model and whether
// the count is exact for that model. exact is true only for OpenAI model
// families whose tokenizer is known (o200k_base: gpt-4o, gpt-4.1, gpt-4.5,
// gpt-5, o1, o3, o4 and gpt-oss; cl100k_base: gpt-4, gpt-3.5 and OpenAI's
// embedding models). Everything else (Anthropic, Google, other vendors,
// unknown names such as Azure deployment names) is counted with cl100k_base
// as an estimate and exact is false.
func EncodingFor(model string) (encoding string, exact bool) {
	m := strings.ToLower(strings.TrimSpace(model))
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	switch {
	case hasFamily(m, "gpt-4o"), hasFamily(m, "chatgpt-4o"), hasFamily(m, "gpt-4.1"),
		hasFamily(m, "gpt-4.5"), hasFamily(m, "gpt-5"), hasFamily(m, "gpt-oss"),
		hasFamily(m, "o1"), hasFamily(m, "o3"), hasFamily(m, "o4"),
		hasFamily(m, "codex-mini"), hasFamily(m, "computer-use"):
		return EncodingO200k, true
	case hasFamily(m, "gpt-4"), hasFamily(m, "gpt-3.5"), hasFamily(m, "gpt-35"),
		hasFamily(m, "text-embedding-ada-002"), hasFamily(m, "text-embedding-3"):
		return EncodingCl100k, true
	}
	return EncodingCl100k, false
}

// hasFamily reports whether name is family itself or family followed by a
// separator ("gpt-5" matches "gpt-5", "gpt-5-mini", "gpt-5.1", not "gpt-50").
func hasFamily(name, family string) bool {
	if !strings.HasPrefix(name, family) {
		return false
	}
	if len(name) == len(family) {
		return true
	}
	switch name[len(family)] {
	case '-', '.', '_', ':', '@':
		return true
	}
	return false
}

// CountTokens returns the number of tokens text takes for model. The encoding
// is picked by model family (see [EncodingFor]): exact for OpenAI models,
// an estimate with cl100k_base for Anthropic, Google and any other model.
// Provider-reported usage, when there is any, always wins over this number.
// Safe for concurrent use.
func CountTokens(model, text string) int {
	if text == "" {
		return 0
	}
	enc, _ := EncodingFor(model)
	codec := cl100k
	if enc == EncodingO200k {
		codec = o200k
	}
	n, err := codec().Count(text)
	if err != nil {
		// Only a regexp engine failure gets here; a rough estimate (about
		// four bytes per token for English) beats reporting zero.
		return (len(text) + 3) / 4
	}
	return n
}

// EstimateChat estimates the prompt tokens of a chat request whose messages
// have the given contents: the tokens of each text, plus about 3 tokens of
// framing per message, plus 3 tokens priming the reply, as OpenAI documents
// for its chat models. Role names and tool schemas are not in texts and so
// not counted; pass them as extra texts for a closer figure. For non-OpenAI
// models the result is an estimate (see [CountTokens]). No messages, zero
// tokens.
func EstimateChat(model string, texts []string) int {
	if len(texts) == 0 {
		return 0
	}
	n := tokensPerReply
	for _, t := range texts {
		n += tokensPerMessage + CountTokens(model, t)
	}
	return n
}
