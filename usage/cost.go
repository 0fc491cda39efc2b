package usage

// Tokens is the billable usage of one request, in the gateway's own
// convention, which no provider uses as is:
//
//   - Input: input tokens billed at the full input price, EXCLUDING cache
//     reads and cache writes.
//   - Output: output tokens, including reasoning/thinking tokens (all
//     providers bill those as output).
//   - CacheRead: input tokens served from the provider's prompt cache.
//   - CacheWrite: input tokens written to the prompt cache (Anthropic bills
//     these above the input price; OpenAI and Google report none).
//
// Build it with [NormalizeOpenAI], [NormalizeAnthropic] or [NormalizeGemini]
// so that cached tokens are never counted twice.
type Tokens struct {
	Input      int64 `json:"input"`
	Output     int64 `json:"output"`
	CacheRead  int64 `json:"cache_read"`
	CacheWrite int64 `json:"cache_write"`
}

// Total is every token of the request: Input + Output + CacheRead + CacheWrite.
func (t Tokens) Total() int64 { return t.Input + t.Output + t.CacheRead + t.CacheWrite }

// Add returns the field-wise sum of t and u.
func (t Tokens) Add(u Tokens) Tokens {
	return Tokens{
		Input:      t.Input + u.Input,
		Output:     t.Output + u.Output,
		CacheRead:  t.CacheRead + u.CacheRead,
		CacheWrite: t.CacheWrite + u.CacheWrite,
	}
}

// NormalizeOpenAI converts OpenAI usage (Chat Completions prompt_tokens,
// completion_tokens, prompt_tokens_details.cached_tokens; or Responses
// input_tokens, output_tokens, input_tokens_details.cached_tokens).
// OpenAI's prompt count INCLUDES the cached tokens, so they are taken out of
// Input and billed at the cache-read price. completion_tokens already
// includes reasoning tokens. Negative or inconsistent figures (cached >
// prompt) are clamped, never turned into negative tokens.
func NormalizeOpenAI(prompt, completion, cached int64) Tokens {
	prompt, completion, cached = max(prompt, 0), max(completion, 0), max(cached, 0)
	cached = min(cached, prompt)
	return Tokens{Input: prompt - cached, Output: completion, CacheRead: cached}
}

// NormalizeAnthropic converts Anthropic usage (input_tokens, output_tokens,
// cache_read_input_tokens, cache_creation_input_tokens). Anthropic's
// input_tokens EXCLUDES both cache figures, so they map one to one.
// Negative figures are clamped to zero.
func NormalizeAnthropic(input, output, cacheRead, cacheWrite int64) Tokens {
	return Tokens{
		Input:      max(input, 0),
		Output:     max(output, 0),
		CacheRead:  max(cacheRead, 0),
		CacheWrite: max(cacheWrite, 0),
	}
}

// NormalizeGemini converts Google Gemini usageMetadata (promptTokenCount,
// candidatesTokenCount, thoughtsTokenCount, cachedContentTokenCount).
// promptTokenCount INCLUDES the cached tokens (like OpenAI), and thinking
// tokens are reported apart from candidates but billed as output.
func NormalizeGemini(prompt, candidates, thoughts, cached int64) Tokens {
	return NormalizeOpenAI(prompt, max(candidates, 0)+max(thoughts, 0), cached)
}

// Cost returns what t costs at p, in US dollars:
//
//	(Input·InputPerMTok + Output·OutputPerMTok
//	 + CacheRead·CacheReadPerMTok + CacheWrite·CacheWritePerMTok) / 1e6
//
// A cache price of zero means "unknown" and falls back to InputPerMTok, so a
// price list that lacks cache prices over-charges cached tokens rather than
// making them free. Negative token counts count as zero. Tiered prices
// (for example above 200k tokens of context) are not modelled: the table
// holds the base tier.
func (p Price) Cost(t Tokens) float64 {
	cr, cw := p.CacheReadPerMTok, p.CacheWritePerMTok
	if cr == 0 {
		cr = p.InputPerMTok
	}
	if cw == 0 {
		cw = p.InputPerMTok
	}
	usd := float64(max(t.Input, 0))*p.InputPerMTok +
		float64(max(t.Output, 0))*p.OutputPerMTok +
		float64(max(t.CacheRead, 0))*cr +
		float64(max(t.CacheWrite, 0))*cw
	return usd / 1e6
}
