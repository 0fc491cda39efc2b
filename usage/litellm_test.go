package usage

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestLoadLiteLLMSample(t *testing.T) {
	f, err := os.Open("testdata/litellm_sample.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := LoadLiteLLM(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/litellm_sample.golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var want map[string]Price
	if err := json.Unmarshal(raw, &want); err != nil {
		t.Fatal(err)
	}
	for m, w := range want {
		if g, ok := got[m]; !ok || g != w {
			t.Errorf("%s = %+v (present %v), want %+v", m, g, ok, w)
		}
	}
	for m := range got {
		if _, ok := want[m]; !ok {
			t.Errorf("unexpected model %s = %+v (sample_spec, embeddings, images, audio and per-second prices are skipped)", m, got[m])
		}
	}

	// Merged over the built-in table: exact LiteLLM keys win, the rest stays.
	tab := Builtin()
	if err := tab.Merge(got); err != nil {
		t.Fatal(err)
	}
	if p, _ := tab.Lookup("azure/gpt-4o-mini"); p.InputPerMTok != 0.165 {
		t.Errorf("azure/gpt-4o-mini = %+v, want the LiteLLM Azure price", p)
	}
	if p, _ := tab.Lookup("gpt-4o-mini"); p.InputPerMTok != 0.15 {
		t.Errorf("gpt-4o-mini = %+v, want the built-in OpenAI price", p)
	}
	if _, ok := tab.Lookup("text-embedding-3-small"); ok {
		t.Error("embedding model got a chat price")
	}
}

func TestLoadLiteLLMErrors(t *testing.T) {
	tests := []struct {
		name, in string
		want     []string // substrings of the error
	}{
		{"not json", `{`, []string{"litellm prices"}},
		{"array", `[]`, []string{"litellm prices"}},
		{"null", `null`, []string{"null"}},
		{"trailing", `{} {}`, []string{"after the top-level object"}},
		{"entry not object", `{"m": 3}`, []string{`model "m"`, "not a JSON object"}},
		{"negative", `{"gpt-x": {"mode": "chat", "input_cost_per_token": -1e-06}}`, []string{`model "gpt-x"`, `"input_cost_per_token"`, "negative"}},
		{"negative string", `{"gpt-x": {"mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": "-2e-6"}}`, []string{`"output_cost_per_token"`, "negative"}},
		{"word", `{"gpt-x": {"mode": "chat", "input_cost_per_token": "cheap"}}`, []string{`model "gpt-x"`, `"input_cost_per_token"`, "number"}},
		{"bool", `{"gpt-x": {"input_cost_per_token": 1e-6, "cache_read_input_token_cost": true}}`, []string{`"cache_read_input_token_cost"`, "number"}},
		{"object", `{"gpt-x": {"input_cost_per_token": 1e-6, "cache_creation_input_token_cost": {}}}`, []string{`"cache_creation_input_token_cost"`}},
		{"NaN string", `{"gpt-x": {"input_cost_per_token": "NaN"}}`, []string{"finite"}},
		{"huge", `{"gpt-x": {"input_cost_per_token": 1e400}}`, []string{`"input_cost_per_token"`}},
		{"out of range", `{"gpt-x": {"input_cost_per_token": 1.7e308}}`, []string{"out of range"}},
		{"mode not string", `{"gpt-x": {"mode": 1, "input_cost_per_token": 1e-6}}`, []string{`"mode"`, "string"}},
		{"provider not string", `{"gpt-x": {"litellm_provider": [], "input_cost_per_token": 1e-6}}`, []string{`"litellm_provider"`}},
	}
	for _, tt := range tests {
		_, err := LoadLiteLLM(strings.NewReader(tt.in))
		if err == nil {
			t.Errorf("%s: no error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", tt.name, err, w)
			}
		}
	}
}

func TestLoadLiteLLMLenient(t *testing.T) {
	in := `{
		"sample_spec": {"input_cost_per_token": "see docs", "mode": "one of: chat, embedding"},
		"str": {"mode": "chat", "input_cost_per_token": "2.5e-06", "output_cost_per_token": " 1e-05 "},
		"nulls": {"mode": "chat", "input_cost_per_token": 1e-06, "output_cost_per_token": null, "litellm_provider": null},
		"nomode": {"input_cost_per_token": 1e-06, "output_cost_per_token": 2e-06},
		"embed-bad": {"mode": "embedding", "input_cost_per_token": "ignored: not a chat model"},
		"imagegen": {"mode": "image_generation", "output_cost_per_image": 0.04}
	}`
	got, err := LoadLiteLLM(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Price{
		"str":    {InputPerMTok: 2.5, OutputPerMTok: 10},
		"nulls":  {InputPerMTok: 1},
		"nomode": {InputPerMTok: 1, OutputPerMTok: 2},
	}
	if len(got) != len(want) {
		t.Errorf("got %d models %v, want %d", len(got), got, len(want))
	}
	for m, w := range want {
		if got[m] != w {
			t.Errorf("%s = %+v, want %+v", m, got[m], w)
		}
	}
}

func FuzzLoadLiteLLM(f *testing.F) {
	sample, err := os.ReadFile("testdata/litellm_sample.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(sample)
	f.Add([]byte(`{"m": {"input_cost_per_token": "1e-6", "output_cost_per_token": 0}}`))
	f.Add([]byte(`{"m": {"input_cost_per_token": -0}}`))
	f.Add([]byte(`{"": {"input_cost_per_token": 1}}`))
	f.Add([]byte(`{"m": {"mode": "chat", "input_cost_per_token": 1e308}}`))
	f.Add([]byte(`{"m": {"cache_read_input_token_cost": "0x1p-20", "input_cost_per_token": "Inf"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		prices, err := LoadLiteLLM(bytes.NewReader(data))
		if err != nil {
			if prices != nil {
				t.Fatal("prices returned with an error")
			}
			return
		}
		// Whatever loads must be valid and merge cleanly.
		for m, p := range prices {
			if err := p.Validate(); err != nil {
				t.Fatalf("model %q loaded with invalid price %+v: %v", m, p, err)
			}
		}
		var tab PriceTable
		if err := tab.Merge(prices); err != nil {
			t.Fatalf("loaded prices do not merge: %v", err)
		}
	})
}
