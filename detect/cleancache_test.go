package detect

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect/classifier"
)

// gardenPara is prose without any finding of the built-in LLM rules (no
// names or places either).
const gardenPara = "Our volunteers meet on Saturday mornings. Some of them have gardened for decades, while others " +
	"are just starting out and want to learn the basics of soil preparation, watering and pest control without " +
	"chemical sprays. We keep a shared notebook in the tool shed where people write down what they planted. "

// countingClassifier counts how often a text is scored: once per scan of a
// text on a surface the learned detector covers.
type countingClassifier struct {
	n atomic.Int64
	c Classifier
}

func (c *countingClassifier) Score(text string) float64 { c.n.Add(1); return c.c.Score(text) }

func TestCleanCacheSkipsRescansOfCleanTextOnly(t *testing.T) {
	reg, err := BuiltinRegistry()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := reg.Resolve("llm-critical-security")
	if err != nil {
		t.Fatal(err)
	}
	clean := fill(gardenPara)
	attack := fill(attackPara)
	short := "Could you help me plan a trip to Lisbon?"
	for _, tc := range []struct {
		name       string
		noCache    bool
		maxScan    int
		text       string
		surface    bulwark.Surface
		wantScores int64 // classifier calls over two scans of the same text
	}{
		{name: "clean text is scanned once", text: clean, wantScores: 1},
		{name: "without the cache it is scanned twice", noCache: true, text: clean, wantScores: 2},
		{name: "a finding is reported every time", text: attack, wantScores: 2},
		{name: "short texts are not remembered", text: short, wantScores: 2},
		{name: "a truncated scan is not remembered", maxScan: 1024, text: clean, wantScores: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cc := &countingClassifier{c: classifier.Default()}
			e, err := Compile(rs, Options{Classifier: cc, NoCleanCache: tc.noCache, MaxScanBytes: tc.maxScan})
			if err != nil {
				t.Fatal(err)
			}
			var results [2]*Result
			for i := range results {
				if results[i], err = e.ScanText(context.Background(), tc.text, bulwark.ProtocolLLM, bulwark.SurfacePrompt); err != nil {
					t.Fatal(err)
				}
			}
			if got := cc.n.Load(); got != tc.wantScores {
				t.Fatalf("classifier ran %d times over two scans, want %d", got, tc.wantScores)
			}
			if len(results[0].Findings) != len(results[1].Findings) || results[0].Truncated != results[1].Truncated ||
				results[0].BytesScanned != results[1].BytesScanned || results[0].Fields != results[1].Fields {
				t.Fatalf("second scan differs: %+v vs %+v", results[0], results[1])
			}
		})
	}
}

// The same text on another surface or protocol is a different question.
func TestCleanCacheKeysOnSurfaceAndProtocol(t *testing.T) {
	e := benchEngineWithCache(t)
	text := fill(gardenPara)
	k := e.clean.key(text, bulwark.ProtocolLLM, bulwark.SurfacePrompt)
	for _, other := range []cleanKey{
		e.clean.key(text, bulwark.ProtocolLLM, bulwark.SurfaceModelOutput),
		e.clean.key(text, bulwark.ProtocolMCP, bulwark.SurfacePrompt),
		e.clean.key(text+" ", bulwark.ProtocolLLM, bulwark.SurfacePrompt),
		e.clean.key(strings.ToLower(text[:1])+text[1:], bulwark.ProtocolLLM, bulwark.SurfacePrompt),
	} {
		if other == k {
			t.Fatal("different inputs share a key")
		}
	}
	if k != e.clean.key(text, bulwark.ProtocolLLM, bulwark.SurfacePrompt) {
		t.Fatal("the same input has two keys")
	}
}

// A full shard is emptied, not grown.
func TestCleanCacheIsBounded(t *testing.T) {
	c := newCleanCache()
	for i := range cleanShards * cleanPerShard * 3 {
		c.add(cleanKey{uint64(i), uint64(i)})
	}
	total := 0
	for i := range c.shards {
		if n := len(c.shards[i].m); n > cleanPerShard {
			t.Fatalf("shard %d holds %d entries, limit %d", i, n, cleanPerShard)
		}
		total += len(c.shards[i].m)
	}
	if total == 0 {
		t.Fatal("nothing remembered")
	}
}

func benchEngineWithCache(t testing.TB) *Engine {
	t.Helper()
	reg, err := BuiltinRegistry()
	if err != nil {
		t.Fatal(err)
	}
	rs, err := reg.Resolve("llm-critical-security")
	if err != nil {
		t.Fatal(err)
	}
	e, err := Compile(rs, Options{Classifier: classifier.Default()})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
