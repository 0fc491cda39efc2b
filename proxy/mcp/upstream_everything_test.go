//go:build unix

package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bulwark "github.com/bulwarkhq/bulwark"
)

func stdioEverything(t *testing.T) *bulwark.MCPConfig {
	return &bulwark.MCPConfig{
		Transport: bulwark.MCPStdio,
		Command:   nodePath(t),
		Args:      []string{everythingServer(t), "stdio"},
		Env:       map[string]string{"BULWARK_TEST_GIVEN": "given"},
	}
}

func TestDialStdioEverything(t *testing.T) {
	t.Setenv("BULWARK_TEST_SECRET", "must-not-leak")
	cfg := stdioEverything(t)
	rec := &logRecorder{}
	d := &Dialer{Log: slog.New(rec)}
	ctx := context.Background()
	conn, err := d.Dial(ctx, "everything", cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := conn.(*stdioConn)
	pid := sc.PID()
	exerciseEverything(t, conn)

	// The server sees the minimal environment plus the configured variables.
	c := &rpc{t: t, conn: conn, next: 100}
	var res struct {
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	c.call("tools/call", map[string]any{"name": "get-env", "arguments": map[string]any{}}, &res)
	if len(res.Content) != 1 {
		t.Fatalf("get-env: %+v", res)
	}
	var env map[string]string
	if err := json.Unmarshal([]byte(res.Content[0].Text), &env); err != nil {
		t.Fatalf("get-env: %v", err)
	}
	if _, ok := env["BULWARK_TEST_SECRET"]; ok {
		t.Error("the stdio server inherited BULWARK_TEST_SECRET from Bulwark's environment")
	}
	if env["BULWARK_TEST_GIVEN"] != "given" || env["PATH"] == "" {
		t.Errorf("stdio server environment: %v", env)
	}

	start := time.Now()
	if err := conn.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	t.Logf("Close took %v", time.Since(start))
	if !processGone(pid) {
		t.Errorf("process %d (or its group) still exists after Close", pid)
	}
	if sc.cmd.ProcessState == nil {
		t.Error("process not reaped")
	}
	if err := conn.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	// The server's banner on stderr reached the log.
	lines := rec.lines("mcp stdio server stderr")
	if !containsSubstring(lines, "Starting default (STDIO) server") {
		t.Errorf("stderr not logged; got %q", lines)
	}
}

func containsSubstring(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

func TestDialStreamableHTTPEverything(t *testing.T) {
	base := startEverythingHTTP(t, "streamableHttp")
	// A recording reverse proxy in front checks what reaches the server.
	var mu sync.Mutex
	var seen []http.Header
	target, _ := url.Parse(base)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		forward(t, w, r, target)
	}))
	defer front.Close()

	d := &Dialer{HTTPClient: testHTTPClient(t)}
	cfg := &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP}
	hdr := http.Header{"Authorization": {"Bearer upstream-secret"}, "Mcp-Session-Id": {"forged"}}
	conn, err := d.Dial(context.Background(), "everything", cfg, front.URL+"/mcp", hdr)
	if err != nil {
		t.Fatal(err)
	}
	exerciseEverything(t, conn)
	if conn.SessionID() == "" {
		t.Error("no session id after initialize")
	}
	if err := conn.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(seen) < 3 {
		t.Fatalf("only %d requests reached the server", len(seen))
	}
	for i, h := range seen {
		if h.Get("Authorization") != "Bearer upstream-secret" {
			t.Errorf("request %d: Authorization %q", i, h.Get("Authorization"))
		}
		if h.Get("Mcp-Session-Id") == "forged" {
			t.Errorf("request %d: a configured header replaced Mcp-Session-Id", i)
		}
	}
	// After initialize, requests carry the negotiated protocol version.
	if last := seen[len(seen)-1]; last.Get("Mcp-Protocol-Version") != "2025-06-18" {
		t.Errorf("last request: Mcp-Protocol-Version %q, want 2025-06-18", last.Get("Mcp-Protocol-Version"))
	}
}

// forward relays one request to target, streaming the answer.
func forward(t *testing.T, w http.ResponseWriter, r *http.Request, target *url.URL) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme, out.URL.Host = target.Scheme, target.Host
	out.Host = target.Host
	resp, err := http.DefaultTransport.RoundTrip(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			w.Write(buf[:n])
			w.(http.Flusher).Flush()
		}
		if err != nil {
			return
		}
	}
}

func TestDialSSEEverything(t *testing.T) {
	base := startEverythingHTTP(t, "sse")
	d := &Dialer{HTTPClient: testHTTPClient(t)}
	cfg := &bulwark.MCPConfig{Transport: bulwark.MCPSSE}
	ctx, cancel := context.WithCancel(context.Background())
	conn, err := d.Dial(ctx, "everything", cfg, base+"/sse", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The dial context bounds the dialing only: the stream outlives it.
	cancel()
	exerciseEverything(t, conn)
	if err := conn.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestDialRefusesCommand(t *testing.T) {
	cases := []struct {
		allowed []string
		command string
		ok      bool
	}{
		{nil, "/bin/sh", true},
		{nil, "sh", false},
		{nil, "./sh", false},
		{[]string{"sh"}, "sh", true},
		{[]string{"sh"}, "/bin/sh", false},
		{[]string{"/bin/sh"}, "/bin/sh", true},
		{[]string{"/bin/sh"}, "/bin/../bin/sh", true},
		{[]string{"sh"}, "bin/sh", false},
		{[]string{"no-such-command-bulwark"}, "no-such-command-bulwark", false},
	}
	for _, c := range cases {
		d := &Dialer{AllowedCommands: c.allowed}
		p, err := d.resolveCommand(c.command)
		if (err == nil) != c.ok {
			t.Errorf("allowed %v, command %q: path %q, err %v", c.allowed, c.command, p, err)
		}
		if err != nil && c.command != "no-such-command-bulwark" {
			if !errors.Is(err, ErrCommandNotAllowed) || !strings.Contains(err.Error(), AllowedCommandsSetting) {
				t.Errorf("command %q: error %q does not name the setting", c.command, err)
			}
		}
	}
	d := &Dialer{}
	_, err := d.Dial(context.Background(), "x", &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "node"}, "", nil)
	if !errors.Is(err, ErrCommandNotAllowed) {
		t.Errorf("Dial of a bare name without allow-list: %v", err)
	}
}

// A server that forks a child: Close must end the whole process group.
func TestStdioCloseKillsGroup(t *testing.T) {
	oldStdin, oldTerm := stdioStdinGrace, stdioTermGrace
	stdioStdinGrace, stdioTermGrace = 100*time.Millisecond, 300*time.Millisecond
	defer func() { stdioStdinGrace, stdioTermGrace = oldStdin, oldTerm }()

	// The shell ignores SIGTERM and stdin EOF; its background child sleeps.
	cfg := &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "/bin/sh",
		Args: []string{"-c", `trap "" TERM; sleep 300 & echo started >&2; while :; do sleep 1; done`}}
	rec := &logRecorder{}
	d := &Dialer{Log: slog.New(rec)}
	conn, err := d.Dial(context.Background(), "stubborn", cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := conn.(*stdioConn).PID()
	waitFor(t, func() bool { return len(rec.lines("mcp stdio server stderr")) > 0 })
	if !groupAlive(pid) {
		t.Fatal("server not running")
	}
	start := time.Now()
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("Close took %v", el)
	}
	if !processGone(pid) {
		t.Errorf("process group %d survived Close", pid)
	}
}

func TestStdioExitIsReadError(t *testing.T) {
	cfg := &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "/bin/sh", Args: []string{"-c", "exit 3"}}
	d := &Dialer{}
	conn, err := d.Dial(context.Background(), "quitter", cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = conn.Read(ctx)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Errorf("Read after exit: %v", err)
	}
}

func TestStdioStderrBounded(t *testing.T) {
	// 1000 lines at once, and one line of 100 KB.
	cfg := &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "/bin/sh",
		Args: []string{"-c", `i=0; while [ $i -lt 1000 ]; do echo "line $i" >&2; i=$((i+1)); done; head -c 100000 /dev/zero | tr '\0' x >&2; echo >&2; exec cat`}}
	rec := &logRecorder{}
	d := &Dialer{Log: slog.New(rec)}
	conn, err := d.Dial(context.Background(), "flood", cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	conn.Close()
	lines := rec.lines("mcp stdio server stderr")
	if len(lines) > stderrBurst+stderrLinesPerSecond*2 {
		t.Errorf("%d stderr lines logged; the rate limit allows about %d", len(lines), stderrBurst+stderrLinesPerSecond)
	}
	if len(lines) < stderrBurst || lines[0] != "line 0" {
		t.Errorf("first lines not logged: %d lines, first %q", len(lines), lines[0])
	}
	if rec.count("mcp stdio server stderr: lines dropped (rate limit)") == 0 {
		t.Error("dropped lines not reported")
	}
	for _, l := range lines {
		if len(l) > stderrMaxLine {
			t.Errorf("a logged line has %d bytes", len(l))
		}
	}
}

func TestStderrLineCut(t *testing.T) {
	cfg := &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "/bin/sh",
		Args: []string{"-c", `head -c 10000 /dev/zero | tr '\0' x >&2; echo >&2; echo short >&2; exec cat`}}
	rec := &logRecorder{}
	d := &Dialer{Log: slog.New(rec)}
	conn, err := d.Dial(context.Background(), "long", cfg, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return len(rec.lines("mcp stdio server stderr")) >= 2 })
	conn.Close()
	lines := rec.lines("mcp stdio server stderr")
	if len(lines) != 2 || len(lines[0]) != stderrMaxLine || lines[1] != "short" {
		t.Errorf("lines: %d, lengths %v", len(lines), lens(lines))
	}
}

func lens(s []string) []int {
	var n []int
	for _, x := range s {
		n = append(n, len(x))
	}
	return n
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSupervisorRestarts(t *testing.T) {
	cfg := stdioEverything(t)
	oldMin, oldMax := supervisorBackoffMin, supervisorBackoffMax
	supervisorBackoffMin, supervisorBackoffMax = 100*time.Millisecond, 400*time.Millisecond
	defer func() { supervisorBackoffMin, supervisorBackoffMax = oldMin, oldMax }()

	s := NewSupervisor(&Dialer{}, "everything", cfg)
	defer s.Close()
	restarted := make(chan struct{}, 10)
	s.OnRestart(func() { restarted <- struct{}{} })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := s.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	exerciseEverything(t, conn)
	if again, _ := s.Conn(ctx); again != conn {
		t.Error("Conn returned another connection while the process runs")
	}

	var gaps []time.Duration
	for i := range 3 {
		pid := conn.(*stdioConn).PID()
		killed := time.Now()
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		select {
		case <-restarted:
		case <-ctx.Done():
			t.Fatalf("restart %d: no OnRestart", i+1)
		}
		gaps = append(gaps, time.Since(killed))
		next, err := s.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if next == conn {
			t.Fatal("Conn returned the dead connection")
		}
		if !processGone(pid) {
			t.Errorf("killed process %d not reaped", pid)
		}
		conn = next
		exerciseEverything(t, conn) // the new process needs a new session
	}
	if s.Restarts() != 3 {
		t.Errorf("Restarts() = %d, want 3", s.Restarts())
	}
	// Backoff 100, 200, 400 ms: each restart waits at least its backoff.
	for i, want := range []time.Duration{100, 200, 400} {
		if gaps[i] < want*time.Millisecond {
			t.Errorf("restart %d after %v, backoff is %v", i+1, gaps[i], want*time.Millisecond)
		}
	}
	t.Logf("restart delays %v", gaps)

	last := conn.(*stdioConn).PID()
	s.Close()
	if !processGone(last) {
		t.Errorf("process %d survived Supervisor.Close", last)
	}
	if _, err := s.Conn(ctx); !errors.Is(err, ErrSupervisorClosed) {
		t.Errorf("Conn after Close: %v", err)
	}
}

func TestSupervisorStartFailure(t *testing.T) {
	s := NewSupervisor(&Dialer{}, "bad", &bulwark.MCPConfig{Transport: bulwark.MCPStdio, Command: "npx"})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.Conn(ctx)
	if !errors.Is(err, ErrCommandNotAllowed) {
		t.Errorf("Conn: %v", err)
	}
}
