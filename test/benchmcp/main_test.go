package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestSmoke runs the benchmark with tiny counts and the gateway in process,
// so the program (and its output) cannot rot. The real run is make bench-mcp.
func TestSmoke(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-inproc", "-calls", "60", "-sessions", "8", "-session-calls", "2"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	got := out.String()
	for _, want := range []string{
		"client protocol: 2025-11-25 on every target",
		"Latency at concurrency 1", "direct", "bare proxy", "bulwark", "added p50",
		"c=1 added latency p50", "c=1 added latency p99", "Concurrent sessions through Bulwark",
		"PASS  8 concurrent sessions without errors", "targets met",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
}

// TestSmokeStateless: with the client's default protocol, Bulwark serves
// the stateless revision (2026-07-28), the others fall back to sessions.
func TestSmokeStateless(t *testing.T) {
	var out, errOut bytes.Buffer
	code := run([]string{"-inproc", "-calls", "30", "-sessions", "0", "-protocol", "latest"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"client protocol: the go-sdk client's default", "Concurrent sessions skipped", "c=1 added latency p50"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
