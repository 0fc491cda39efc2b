package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestDevFakeLLMUsage(t *testing.T) {
	for _, args := range [][]string{
		{"dev", "fake-llm", "--chunks", "0"},
		{"dev", "fake-llm", "--chunk-delay", "-1s"},
		{"dev", "fake-llm", "--addr", ""},
		{"dev", "fake-llm", "--chunks", "many"},
		{"dev", "fake-llm", "extra"},
	} {
		if out, code := run(t, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2: %s", args, code, out)
		}
	}
}

func TestDevFakeLLMServes(t *testing.T) {
	o := &fakeLLMOptions{addr: "127.0.0.1:0"}
	o.llm.APIKey, o.llm.Chunks = "sk-dev", 2
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, logs bytes.Buffer
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runFakeLLM(ctx, o, &out, &logs, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/v1/chat/completions",
		strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer sk-dev")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"content":"echo: hi"`) {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "listening on http://"+addr) {
		t.Errorf("output: %s", out.String())
	}
}
