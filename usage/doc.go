// Package usage owns the money side of a request: counting tokens, the
// price table, turning token counts into US dollars, and the calendar
// arithmetic of monthly budgets.
//
// It is pure domain code with embedded data: no net/http, no store. Callers
// (the LLM proxy, the budget stage, the admin API) feed it the usage a
// provider reported and get back a cost, or feed it text and get back an
// estimate when the provider reported nothing.
//
// # Tokens
//
// Provider-reported usage is the truth. [CountTokens] and [EstimateChat] are
// for the cases without it (pre-flight budget checks, streams cut short).
// They use OpenAI's BPE vocabularies from github.com/tiktoken-go/tokenizer,
// embedded in the binary: exact for OpenAI models with a known encoding
// (o200k_base, cl100k_base), an ESTIMATE for every other model (Anthropic,
// Google, open-weight models), which are counted with cl100k_base. Those
// vendors' tokenizers differ; expect an error of tens of percent. Use
// [EncodingFor] to learn whether a count is exact.
//
// # Prices
//
// A [PriceTable] maps model names to [Price] (USD per million tokens). The
// built-in table ([Builtin]) is embedded from prices.json; its prices are list
// prices as published by the providers on the date [BuiltinAsOf] returns.
// Prices change: operators must verify them and override with
// [PriceTable.Set], or load a LiteLLM model_prices_and_context_window.json
// with [LoadLiteLLM] and [PriceTable.Merge]. A model the table does not know
// is reported as unpriced ([PriceTable.CostOf] returns priced=false), never
// as costing zero.
//
// # Cost
//
// [Tokens].Input always means NON-cached input. Providers disagree:
// OpenAI's prompt_tokens (and Google's promptTokenCount) include the cached
// tokens, Anthropic's input_tokens exclude cache reads and cache writes.
// Convert with [NormalizeOpenAI], [NormalizeAnthropic] or [NormalizeGemini]
// before calling [Price.Cost].
//
// # Budget periods
//
// Monthly budgets reset at the first instant of each calendar month in a
// configurable time zone (UTC by default): [PeriodStart], [NextReset],
// [PeriodKey].
package usage
