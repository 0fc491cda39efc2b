package usage

import (
	"encoding/json"
	"math"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLookupNormalisation(t *testing.T) {
	tab := Builtin()
	tests := []struct {
		model string
		want  string // built-in key whose price must come back; "" = unpriced
	}{
		{"gpt-4o", "gpt-4o"},
		{"GPT-4o", "gpt-4o"},
		{" gpt-4o ", "gpt-4o"},
		{"openai/gpt-4o", "gpt-4o"},
		{"azure/gpt-4o", "gpt-4o"},
		{"openrouter/openai/gpt-4o", "gpt-4o"},
		{"gpt-4o-2024-08-06", "gpt-4o"},
		{"gpt-4o-2024-11-20", "gpt-4o"},
		{"gpt-4o-2024-05-13", "gpt-4o-2024-05-13"}, // exact entry beats the stripped name
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"gpt-4.1-2025-04-14", "gpt-4.1"},
		{"gpt-5-2025-08-07", "gpt-5"},
		{"gpt-5-mini-2025-08-07", "gpt-5-mini"},
		{"gpt-5-chat-latest", "gpt-5-chat"},
		{"o3-2025-04-16", "o3"},
		{"o1-preview", "o1"},
		{"gpt-4-0613", "gpt-4"},
		{"gpt-4-turbo-2024-04-09", "gpt-4-turbo"},
		{"gpt-4-0125-preview", "gpt-4-0125-preview"},
		{"gpt-3.5-turbo-0125", "gpt-3.5-turbo"},
		{"chatgpt-4o-latest", "chatgpt-4o"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"anthropic/claude-sonnet-4-5-20250929", "claude-sonnet-4-5"},
		{"claude-sonnet-4-5@20250929", "claude-sonnet-4-5"},                   // Vertex AI
		{"us.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5"}, // Bedrock profile
		{"anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku"},
		{"claude-opus-4-1-20250805", "claude-opus-4-1"},
		{"claude-opus-4-5-20251101", "claude-opus-4-5"},
		{"claude-opus-4-20250514", "claude-opus-4"},
		{"claude-haiku-4-5-20251001", "claude-haiku-4-5"},
		{"claude-3-7-sonnet-latest", "claude-3-7-sonnet"},
		{"gemini-2.5-pro", "gemini-2.5-pro"},
		{"models/gemini-2.5-flash", "gemini-2.5-flash"},
		{"gemini/gemini-2.5-flash-lite", "gemini-2.5-flash-lite"},
		{"gemini-2.0-flash-001", "gemini-2.0-flash"},
		{"projects/p/locations/us-central1/publishers/google/models/gemini-2.5-pro", "gemini-2.5-pro"},
		// Never a prefix guess: these are other products at other prices.
		{"gpt-4o-audio-preview", ""},
		{"gpt-4o-mini-tts", ""},
		{"claude-sonnet-4-5-turbo", ""},
		{"my-gpt4o-deployment", ""},
		{"", ""},
		{"2024-08-06", ""},
	}
	for _, tt := range tests {
		got, ok := tab.Lookup(tt.model)
		if tt.want == "" {
			if ok {
				t.Errorf("Lookup(%q) = %+v, want unpriced", tt.model, got)
			}
			continue
		}
		want, _ := tab.Lookup(tt.want)
		if !ok || got != want {
			t.Errorf("Lookup(%q) = %+v, %v; want %s's %+v (keys tried %q)", tt.model, got, ok, tt.want, want, LookupKeys(tt.model))
		}
	}
}

func TestLookupExactNameWins(t *testing.T) {
	tab := Builtin()
	azure := Price{InputPerMTok: 2.75, OutputPerMTok: 11, Provider: "azure"}
	if err := tab.Set("azure/gpt-4o", azure); err != nil {
		t.Fatal(err)
	}
	// An Azure deployment name is priced as given.
	dep := Price{InputPerMTok: 1, OutputPerMTok: 2, Provider: "azure"}
	if err := tab.Set("Prod-Chat-Deployment", dep); err != nil {
		t.Fatal(err)
	}
	if p, _ := tab.Lookup("azure/gpt-4o"); p != azure {
		t.Errorf("azure/gpt-4o = %+v, want the override %+v", p, azure)
	}
	if p, _ := tab.Lookup("openai/gpt-4o"); p.InputPerMTok != 2.5 {
		t.Errorf("openai/gpt-4o = %+v, want the built-in gpt-4o", p)
	}
	if p, ok := tab.Lookup("prod-chat-deployment"); !ok || p != dep {
		t.Errorf("deployment = %+v, %v; want %+v", p, ok, dep)
	}
}

func TestSetOverridesAndIsolation(t *testing.T) {
	a, b := Builtin(), Builtin()
	cheap := Price{InputPerMTok: 0.01, OutputPerMTok: 0.02}
	if err := a.Set("gpt-4o", cheap); err != nil {
		t.Fatal(err)
	}
	if p, _ := a.Lookup("gpt-4o-2024-08-06"); p != cheap {
		t.Errorf("override not used for a dated name: %+v", p)
	}
	if p, _ := b.Lookup("gpt-4o"); p == cheap {
		t.Error("override on one table leaked into another Builtin()")
	}
	for _, bad := range []Price{
		{InputPerMTok: -1},
		{OutputPerMTok: math.NaN()},
		{CacheReadPerMTok: math.Inf(1)},
		{CacheWritePerMTok: -0.5},
	} {
		err := a.Set("x-model", bad)
		if err == nil || !strings.Contains(err.Error(), `"x-model"`) {
			t.Errorf("Set(%+v) err = %v, want an error naming the model", bad, err)
		}
	}
	if err := a.Set("  ", cheap); err == nil {
		t.Error("empty model name accepted")
	}
	if _, ok := a.Lookup("x-model"); ok {
		t.Error("invalid price was stored")
	}
}

func TestZeroTableAndModels(t *testing.T) {
	var tab PriceTable
	if _, ok := tab.Lookup("gpt-4o"); ok {
		t.Error("empty table priced gpt-4o")
	}
	if usd, priced := tab.CostOf("gpt-4o", Tokens{Input: 1000}); priced || usd != 0 {
		t.Errorf("CostOf on empty table = %v, %v", usd, priced)
	}
	if err := tab.Merge(map[string]Price{"B": {InputPerMTok: 1}, "a": {InputPerMTok: 2}}); err != nil {
		t.Fatal(err)
	}
	if got := tab.Models(); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("Models() = %q", got)
	}
	err := tab.Merge(map[string]Price{"c": {InputPerMTok: 1}, "bad": {OutputPerMTok: -1}})
	if err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("Merge err = %v, want one naming the bad model", err)
	}
	if _, ok := tab.Lookup("c"); ok {
		t.Error("Merge applied part of a batch that failed")
	}
}

func TestBuiltinTable(t *testing.T) {
	if _, err := time.Parse("2006-01-02", BuiltinAsOf()); err != nil {
		t.Fatalf("BuiltinAsOf() = %q: %v", BuiltinAsOf(), err)
	}
	tab := Builtin()
	models := tab.Models()
	for _, m := range []string{
		"gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "gpt-4o", "gpt-4o-mini",
		"o3", "o4-mini", "o1", "gpt-3.5-turbo",
		"claude-opus-4-5", "claude-opus-4-1", "claude-sonnet-4-5", "claude-sonnet-4", "claude-haiku-4-5",
		"claude-3-5-haiku", "claude-3-7-sonnet",
		"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash",
	} {
		if !slices.Contains(models, m) {
			t.Errorf("built-in table lacks %s", m)
		}
	}
	for _, m := range models {
		p, _ := tab.Lookup(m)
		if p.InputPerMTok <= 0 || p.OutputPerMTok <= 0 {
			t.Errorf("%s: input/output price must be set: %+v", m, p)
		}
		if p.OutputPerMTok < p.InputPerMTok {
			t.Errorf("%s: output cheaper than input: %+v", m, p)
		}
		if p.CacheReadPerMTok > p.InputPerMTok {
			t.Errorf("%s: cache read dearer than input: %+v", m, p)
		}
		switch p.Provider {
		case "openai", "google":
		case "anthropic":
			// Anthropic: cache reads 0.1×, 5-minute cache writes 1.25× input
			// (Claude 3 Haiku's published figures are rounded to the cent).
			if math.Abs(p.CacheReadPerMTok-p.InputPerMTok*0.1) > 0.02 || math.Abs(p.CacheWritePerMTok-p.InputPerMTok*1.25) > 0.02 {
				t.Errorf("%s: cache prices off Anthropic's multipliers: %+v", m, p)
			}
		default:
			t.Errorf("%s: provider %q", m, p.Provider)
		}
		if m != strings.ToLower(m) {
			t.Errorf("%s: keys are lower case", m)
		}
	}
	// Spot checks of published list prices (USD per million tokens).
	spot := map[string]Price{
		"gpt-4o":            {InputPerMTok: 2.5, OutputPerMTok: 10, CacheReadPerMTok: 1.25, Provider: "openai"},
		"gpt-5":             {InputPerMTok: 1.25, OutputPerMTok: 10, CacheReadPerMTok: 0.125, Provider: "openai"},
		"claude-sonnet-4-5": {InputPerMTok: 3, OutputPerMTok: 15, CacheReadPerMTok: 0.3, CacheWritePerMTok: 3.75, Provider: "anthropic"},
		"gemini-2.5-pro":    {InputPerMTok: 1.25, OutputPerMTok: 10, CacheReadPerMTok: 0.125, Provider: "google"},
	}
	for m, want := range spot {
		if got, _ := tab.Lookup(m); got != want {
			t.Errorf("%s = %+v, want %+v", m, got, want)
		}
	}
}

func TestPricesJSONIsStrict(t *testing.T) {
	// The embedded file decodes with unknown fields disallowed (in builtin);
	// here make sure the file on disk is what is embedded and well formed.
	raw, err := os.ReadFile("prices.json")
	if err != nil {
		t.Fatal(err)
	}
	var f builtinFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(f.Models, builtin().Models) || !strings.Contains(f.Note, "verify") {
		t.Error("prices.json differs from the embedded table or lacks the verify note")
	}
}
