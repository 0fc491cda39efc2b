package usage

import (
	"math"
	"testing"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		got  Tokens
		want Tokens
	}{
		{"openai no cache", NormalizeOpenAI(1000, 200, 0), Tokens{Input: 1000, Output: 200}},
		{"openai cached is inside prompt", NormalizeOpenAI(1000, 200, 800), Tokens{Input: 200, Output: 200, CacheRead: 800}},
		{"openai all cached", NormalizeOpenAI(1000, 0, 1000), Tokens{CacheRead: 1000}},
		{"openai cached > prompt clamps", NormalizeOpenAI(100, 5, 150), Tokens{Input: 0, Output: 5, CacheRead: 100}},
		{"openai negative clamps", NormalizeOpenAI(-1, -2, -3), Tokens{}},
		{"anthropic cache is outside input", NormalizeAnthropic(50, 300, 10000, 2000), Tokens{Input: 50, Output: 300, CacheRead: 10000, CacheWrite: 2000}},
		{"anthropic negative clamps", NormalizeAnthropic(-5, 1, -1, 2), Tokens{Output: 1, CacheWrite: 2}},
		{"gemini thoughts are output", NormalizeGemini(1000, 100, 400, 600), Tokens{Input: 400, Output: 500, CacheRead: 600}},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: %+v, want %+v", tt.name, tt.got, tt.want)
		}
	}
	if tot := NormalizeOpenAI(1000, 200, 800).Total(); tot != 1200 {
		t.Errorf("Total = %d, want 1200 (prompt + completion, cached counted once)", tot)
	}
	if sum := (Tokens{1, 2, 3, 4}).Add(Tokens{10, 20, 30, 40}); sum != (Tokens{11, 22, 33, 44}) {
		t.Errorf("Add = %+v", sum)
	}
}

func TestCost(t *testing.T) {
	gpt4o := Price{InputPerMTok: 2.5, OutputPerMTok: 10, CacheReadPerMTok: 1.25}
	sonnet := Price{InputPerMTok: 3, OutputPerMTok: 15, CacheReadPerMTok: 0.3, CacheWritePerMTok: 3.75}
	noCache := Price{InputPerMTok: 30, OutputPerMTok: 60}
	tests := []struct {
		name string
		p    Price
		tok  Tokens
		want float64
	}{
		{"zero tokens", gpt4o, Tokens{}, 0},
		{"one million in", gpt4o, Tokens{Input: 1_000_000}, 2.5},
		{"one million out", gpt4o, Tokens{Output: 1_000_000}, 10},
		// OpenAI: prompt 10,000 of which 8,000 cached, 500 out:
		// 2,000×2.5 + 8,000×1.25 + 500×10 = 5,000+10,000+5,000 = 20,000 µ$ per M.
		{"openai cached", gpt4o, NormalizeOpenAI(10_000, 500, 8_000), 0.02},
		{"openai uncached", gpt4o, NormalizeOpenAI(10_000, 500, 0), (10_000*2.5 + 500*10) / 1e6},
		// Anthropic: 100 fresh in, 20,000 read, 5,000 written, 1,000 out:
		// 100×3 + 20,000×0.3 + 5,000×3.75 + 1,000×15 = 300+6,000+18,750+15,000.
		{"anthropic cached", sonnet, NormalizeAnthropic(100, 1_000, 20_000, 5_000), 0.04005},
		{"anthropic uncached", sonnet, NormalizeAnthropic(25_100, 1_000, 0, 0), (25_100*3 + 1_000*15) / 1e6},
		// A price without cache prices bills cached tokens as input, not free.
		{"unknown cache price", noCache, Tokens{CacheRead: 1_000, CacheWrite: 1_000}, 2_000 * 30 / 1e6},
		{"negative tokens", gpt4o, Tokens{Input: -1_000_000, Output: 1_000_000}, 10},
	}
	for _, tt := range tests {
		if got := tt.p.Cost(tt.tok); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("%s: Cost(%+v) = %.10f, want %.10f", tt.name, tt.tok, got, tt.want)
		}
	}
}

func TestCostOf(t *testing.T) {
	tab := Builtin()
	usd, priced := tab.CostOf("gpt-4o-2024-08-06", NormalizeOpenAI(1_000_000, 0, 0))
	if !priced || usd != 2.5 {
		t.Errorf("gpt-4o = %v, %v; want 2.5, true", usd, priced)
	}
	usd, priced = tab.CostOf("anthropic/claude-sonnet-4-5-20250929", NormalizeAnthropic(0, 1_000_000, 0, 0))
	if !priced || usd != 15 {
		t.Errorf("claude-sonnet-4-5 = %v, %v; want 15, true", usd, priced)
	}
	if usd, priced = tab.CostOf("some-new-model", Tokens{Input: 1_000_000}); priced || usd != 0 {
		t.Errorf("unknown model = %v, %v; want unpriced", usd, priced)
	}
	// Zero tokens on a known model is priced and free: different from unpriced.
	if usd, priced = tab.CostOf("gpt-4o", Tokens{}); !priced || usd != 0 {
		t.Errorf("zero tokens = %v, %v; want 0, priced", usd, priced)
	}
}
