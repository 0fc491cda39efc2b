package usage

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// LiteLLM cost fields read by LoadLiteLLM, in USD per token.
const (
	litellmInput      = "input_cost_per_token"
	litellmOutput     = "output_cost_per_token"
	litellmCacheRead  = "cache_read_input_token_cost"
	litellmCacheWrite = "cache_creation_input_token_cost"
)

// litellmModes are the LiteLLM modes priced per text token that a chat or
// responses request can be billed under. An entry without a mode is taken
// as chat, as LiteLLM does.
var litellmModes = map[string]bool{"": true, "chat": true, "completion": true, "responses": true}

// LoadLiteLLM parses LiteLLM's model_prices_and_context_window.json: one
// object keyed by model name ("gpt-4o", "azure/gpt-4o",
// "anthropic.claude-…-v1:0"), each entry with per-token costs
// input_cost_per_token, output_cost_per_token, cache_read_input_token_cost
// and cache_creation_input_token_cost, plus litellm_provider and mode.
//
// Costs are converted to USD per million tokens. It skips the "sample_spec"
// documentation entry, entries whose mode is not chat, completion or
// responses (embeddings, images, audio, rerank, …) and entries without an
// input_cost_per_token (priced per image, second or character). Other
// fields (tiered "…_above_200k_tokens" costs, batch costs, limits) are
// ignored.
//
// It is strict about what it keeps: a cost that is negative, not a number,
// or out of range fails the whole load with an error naming the model and
// the field. A number written as a JSON string ("2.5e-06") is accepted, as
// LiteLLM itself accepts it; null counts as absent.
func LoadLiteLLM(r io.Reader) (map[string]Price, error) {
	dec := json.NewDecoder(r)
	dec.UseNumber()
	var raw map[string]json.RawMessage
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("litellm prices: %w", err)
	}
	if raw == nil {
		return nil, fmt.Errorf("litellm prices: top level is null, want an object keyed by model name")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("litellm prices: unexpected data after the top-level object")
	}
	out := make(map[string]Price, len(raw))
	for model, entry := range raw {
		if model == "sample_spec" {
			continue
		}
		p, keep, err := parseLiteLLMEntry(entry)
		if err != nil {
			return nil, fmt.Errorf("litellm prices: model %q: %w", model, err)
		}
		if !keep {
			continue
		}
		if strings.TrimSpace(model) == "" {
			return nil, fmt.Errorf("litellm prices: empty model name")
		}
		out[model] = p
	}
	return out, nil
}

func parseLiteLLMEntry(entry json.RawMessage) (Price, bool, error) {
	var fields map[string]json.RawMessage
	d := json.NewDecoder(bytes.NewReader(entry))
	d.UseNumber()
	if err := d.Decode(&fields); err != nil || fields == nil {
		return Price{}, false, fmt.Errorf("entry is not a JSON object")
	}
	mode, err := stringField(fields, "mode")
	if err != nil {
		return Price{}, false, err
	}
	if !litellmModes[mode] {
		return Price{}, false, nil
	}
	in, hasIn, err := costField(fields, litellmInput)
	if err != nil {
		return Price{}, false, err
	}
	out, _, err := costField(fields, litellmOutput)
	if err != nil {
		return Price{}, false, err
	}
	cr, _, err := costField(fields, litellmCacheRead)
	if err != nil {
		return Price{}, false, err
	}
	cw, _, err := costField(fields, litellmCacheWrite)
	if err != nil {
		return Price{}, false, err
	}
	provider, err := stringField(fields, "litellm_provider")
	if err != nil {
		return Price{}, false, err
	}
	if !hasIn {
		return Price{}, false, nil
	}
	return Price{
		InputPerMTok:      in,
		OutputPerMTok:     out,
		CacheReadPerMTok:  cr,
		CacheWritePerMTok: cw,
		Provider:          provider,
	}, true, nil
}

func stringField(fields map[string]json.RawMessage, name string) (string, error) {
	v, ok := fields[name]
	if !ok || string(v) == "null" {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", fmt.Errorf("field %q: want a string, got %s", name, abbreviate(v))
	}
	return s, nil
}

// costField reads a per-token cost and returns it per million tokens.
func costField(fields map[string]json.RawMessage, name string) (perMTok float64, present bool, err error) {
	v, ok := fields[name]
	if !ok || string(v) == "null" {
		return 0, false, nil
	}
	var text string
	switch {
	case len(v) > 0 && v[0] == '"':
		if err := json.Unmarshal(v, &text); err != nil {
			return 0, false, fmt.Errorf("field %q: want a number, got %s", name, abbreviate(v))
		}
		text = strings.TrimSpace(text)
	case len(v) > 0 && (v[0] == '-' || v[0] >= '0' && v[0] <= '9'):
		text = string(v)
	default:
		return 0, false, fmt.Errorf("field %q: want a number, got %s", name, abbreviate(v))
	}
	f, perr := strconv.ParseFloat(text, 64)
	if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false, fmt.Errorf("field %q: want a finite number, got %s", name, abbreviate(v))
	}
	if f < 0 {
		return 0, false, fmt.Errorf("field %q: cost %s is negative", name, text)
	}
	m := f * 1e6
	if math.IsInf(m, 0) {
		return 0, false, fmt.Errorf("field %q: cost %s is out of range", name, text)
	}
	// Per-token costs such as 2.5e-06 do not survive ×1e6 exactly in binary
	// floating point (2.4999999999999996); round to a millionth of a dollar
	// per million tokens, far below any published price step.
	if r := math.Round(m*1e6) / 1e6; !math.IsInf(r, 0) && !math.IsNaN(r) {
		m = r
	}
	return m, true, nil
}

func abbreviate(v json.RawMessage) string {
	s := string(v)
	if len(s) > 40 {
		s = strings.ToValidUTF8(s[:40], "") + "…"
	}
	return s
}
