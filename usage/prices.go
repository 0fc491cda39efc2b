package usage

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
)

// Price is what a model costs, in US dollars per million tokens.
//
// A zero cache price means "no separate cache price known": cached tokens
// are then billed at InputPerMTok, which over-estimates rather than
// under-estimates (see [Price.Cost]).
type Price struct {
	InputPerMTok      float64 `json:"input_per_mtok"`
	OutputPerMTok     float64 `json:"output_per_mtok"`
	CacheReadPerMTok  float64 `json:"cache_read_per_mtok,omitempty"`
	CacheWritePerMTok float64 `json:"cache_write_per_mtok,omitempty"`
	// Provider is informational ("openai", "anthropic", "google", or a
	// LiteLLM provider name such as "azure" or "bedrock").
	Provider string `json:"provider,omitempty"`
}

// Validate reports a price that cannot be right: negative, NaN or infinite.
func (p Price) Validate() error {
	for _, f := range []struct {
		name string
		v    float64
	}{
		{"input_per_mtok", p.InputPerMTok},
		{"output_per_mtok", p.OutputPerMTok},
		{"cache_read_per_mtok", p.CacheReadPerMTok},
		{"cache_write_per_mtok", p.CacheWritePerMTok},
	} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return fmt.Errorf("%s: %v is not a finite number", f.name, f.v)
		}
		if f.v < 0 {
			return fmt.Errorf("%s: %v is negative", f.name, f.v)
		}
	}
	return nil
}

// PriceTable maps model names to prices. Keys are stored lower-cased and
// trimmed. It is safe for concurrent use; the zero value is an empty table.
type PriceTable struct {
	mu     sync.RWMutex
	prices map[string]Price
}

// NewPriceTable returns a table holding a copy of prices. It fails on an
// empty model name or an invalid price, naming the model.
func NewPriceTable(prices map[string]Price) (*PriceTable, error) {
	t := &PriceTable{}
	if err := t.Merge(prices); err != nil {
		return nil, err
	}
	return t, nil
}

//go:embed prices.json
var builtinJSON []byte

type builtinFile struct {
	AsOf   string           `json:"as_of"`
	Note   string           `json:"note"`
	Models map[string]Price `json:"models"`
}

var builtin = sync.OnceValue(func() builtinFile {
	var f builtinFile
	dec := json.NewDecoder(strings.NewReader(string(builtinJSON)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		panic("usage: embedded prices.json: " + err.Error())
	}
	for m, p := range f.Models {
		if err := p.Validate(); err != nil {
			panic(fmt.Sprintf("usage: embedded prices.json: model %q: %v", m, err))
		}
	}
	return f
})

// Builtin returns a new table holding the built-in list prices embedded
// from prices.json. Each call returns an independent copy, so overrides on
// one table never leak into another.
func Builtin() *PriceTable {
	t, err := NewPriceTable(builtin().Models)
	if err != nil {
		panic("usage: embedded prices.json: " + err.Error())
	}
	return t
}

// BuiltinAsOf is the date (YYYY-MM-DD) the built-in prices were taken from
// the providers' published price lists. Operators must verify them.
func BuiltinAsOf() string { return builtin().AsOf }

func normKey(model string) string { return strings.ToLower(strings.TrimSpace(model)) }

// Set adds or replaces the price of one model (an operator override). The
// name is used as given (lower-cased), so an Azure deployment name or a
// LiteLLM key such as "azure/gpt-4o" can be priced on its own.
func (t *PriceTable) Set(model string, p Price) error {
	k := normKey(model)
	if k == "" {
		return errors.New("price: empty model name")
	}
	if err := p.Validate(); err != nil {
		return fmt.Errorf("price for model %q: %w", model, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.prices == nil {
		t.prices = make(map[string]Price)
	}
	t.prices[k] = p
	return nil
}

// Merge adds or replaces every price in m (for example the output of
// [LoadLiteLLM]). It is all or nothing: if any entry is invalid, nothing is
// applied and the error names the model.
func (t *PriceTable) Merge(m map[string]Price) error {
	for _, model := range slices.Sorted(maps.Keys(m)) {
		if normKey(model) == "" {
			return errors.New("price: empty model name")
		}
		if err := m[model].Validate(); err != nil {
			return fmt.Errorf("price for model %q: %w", model, err)
		}
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.prices == nil {
		t.prices = make(map[string]Price, len(m))
	}
	for model, p := range m {
		t.prices[normKey(model)] = p
	}
	return nil
}

// Models returns the priced model names, sorted.
func (t *PriceTable) Models() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]string, 0, len(t.prices))
	for k := range t.prices {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Lookup returns the price of model. It tries, in order, each candidate of
// [LookupKeys]: the name as given (so Azure deployment names and
// provider-qualified LiteLLM keys match exactly), then without a provider
// prefix ("openai/gpt-4o", "models/gemini-2.5-pro",
// "us.anthropic.claude-…"), then without version suffixes ("-2024-08-06",
// "-20250929", "@20250929", "-v1:0", "-latest", "-001"). It never guesses by
// prefix: "gpt-4o-audio-preview" is not "gpt-4o".
func (t *PriceTable) Lookup(model string) (Price, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	if len(t.prices) == 0 {
		return Price{}, false
	}
	for _, k := range LookupKeys(model) {
		if p, ok := t.prices[k]; ok {
			return p, true
		}
	}
	return Price{}, false
}

// CostOf returns what tok cost on model, in USD. priced is false when the
// table has no price for the model; usd is then 0 and must be reported as
// "unpriced", not as free.
func (t *PriceTable) CostOf(model string, tok Tokens) (usd float64, priced bool) {
	p, ok := t.Lookup(model)
	if !ok {
		return 0, false
	}
	return p.Cost(tok), true
}

var (
	// Version suffixes, stripped one at a time from the end of a name.
	suffixPatterns = []*regexp.Regexp{
		regexp.MustCompile(`@[a-z0-9._-]+$`),                         // Vertex: claude-sonnet-4-5@20250929
		regexp.MustCompile(`-v\d+:\d+$`),                             // Bedrock: …-v1:0
		regexp.MustCompile(`-(latest|preview|exp)$`),                 // aliases
		regexp.MustCompile(`-\d{4}-\d{2}-\d{2}$`),                    // OpenAI: gpt-4o-2024-08-06
		regexp.MustCompile(`-20\d{6}$`),                              // Anthropic: claude-…-20250929
		regexp.MustCompile(`-(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])$`), // OpenAI legacy: gpt-4-0613
		regexp.MustCompile(`-\d{3}$`),                                // Google: gemini-2.0-flash-001
	}
	// Bedrock model ids: [region.]vendor.model
	bedrockPrefix = regexp.MustCompile(`^(?:(?:us|eu|apac|jp|au|ca|global|us-gov)\.)?(?:anthropic|meta|mistral|amazon|cohere|ai21|deepseek|openai|qwen|writer)\.`)
)

// LookupKeys returns the names [PriceTable.Lookup] tries for model, most
// specific first.
func LookupKeys(model string) []string {
	k := normKey(model)
	if k == "" {
		return nil
	}
	keys := []string{k}
	add := func(s string) {
		if s != "" && !slices.Contains(keys, s) {
			keys = append(keys, s)
		}
	}
	base := k
	if i := strings.LastIndexByte(base, '/'); i >= 0 {
		base = base[i+1:]
	}
	base = bedrockPrefix.ReplaceAllString(base, "")
	add(base)
	for changed := true; changed; {
		changed = false
		for _, re := range suffixPatterns {
			if loc := re.FindStringIndex(base); loc != nil && loc[0] > 0 {
				base = base[:loc[0]]
				add(base)
				changed = true
			}
		}
	}
	return keys
}
