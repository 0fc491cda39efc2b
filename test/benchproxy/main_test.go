package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSmoke runs the benchmark with tiny counts and the gateway in process,
// so the program (and its table) cannot rot. The real run is make bench-proxy.
func TestSmoke(t *testing.T) {
	if raceEnabled {
		t.Skip("too slow under the race detector; the numbers would mean nothing anyway")
	}
	var out, errOut bytes.Buffer
	code := run([]string{"-inproc", "-requests", "20", "-concurrency", "4", "-duration", "200ms", "-streams", "2"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"Latency at concurrency 1", "Throughput at concurrency 4", "Streaming:", "Targets",
		"direct", "bare proxy", "bulwark", "added p50", "req/s", "TTFE p50",
		"c=1 added latency p50", "c=4 throughput", "streaming added TTFE", "every event its own frame",
		"SKIP  memory",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(got, "PASS  streaming: every event its own frame") {
		t.Errorf("Bulwark coalesced stream events:\n%s", got)
	}
	if !strings.Contains(got, "targets met") {
		t.Errorf("no summary line:\n%s", got)
	}
}

func TestPromptsAreDistinctProse(t *testing.T) {
	ps := prompts(nPrompts, promptSize)
	seen := map[string]bool{}
	for i, p := range ps {
		if len(p) > promptSize || len(p) < promptSize-100 {
			t.Errorf("prompt %d is %d bytes", i, len(p))
		}
		if seen[p] {
			t.Errorf("prompt %d repeats an earlier one", i)
		}
		seen[p] = true
	}
}
