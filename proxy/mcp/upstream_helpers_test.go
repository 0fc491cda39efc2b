//go:build unix

package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark/test/nodepkg"
)

// The real MCP server the upstream tests talk to.
const (
	everythingPackage = "@modelcontextprotocol/server-everything"
	everythingVersion = "2026.8.31"
)

// everythingServer returns the path of server-everything's dist/index.js,
// installed with npm into $BULWARK_TEST_MCP_DIR (default
// $TMPDIR/bulwark-mcp-test, shared with test/e2e) on first use.
func everythingServer(t *testing.T) string {
	t.Helper()
	dir := nodepkg.Dir(t, "BULWARK_TEST_MCP_DIR", "bulwark-mcp-test", nodepkg.Package{Name: everythingPackage, Version: everythingVersion})
	return filepath.Join(dir, "node_modules", filepath.FromSlash(everythingPackage), "dist", "index.js")
}

// nodePath is the absolute path of node.
func nodePath(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("skipping: node is not installed")
	}
	p, err = filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// startEverythingHTTP runs server-everything with an HTTP transport
// ("streamableHttp" or "sse") on a free port and returns its base URL.
func startEverythingHTTP(t *testing.T, transport string) string {
	t.Helper()
	index := everythingServer(t)
	node := nodePath(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(node, index, transport)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), fmt.Sprintf("PORT=%d", port)}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, err := os.Create(filepath.Join(t.TempDir(), "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(out.Name())
			t.Fatalf("server-everything %s did not listen on %s:\n%s", transport, addr, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "http://" + addr
}

// testTransport is an http.Transport of the test's own, whose idle
// connections are closed at the end (goleak would see them otherwise).
func testHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// logRecorder is a slog handler that keeps the records it gets.
type logRecorder struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *logRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.records = append(h.records, r.Clone())
	h.mu.Unlock()
	return nil
}
func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

// lines returns the "line" attribute of every record with message msg.
func (h *logRecorder) lines(msg string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, r := range h.records {
		if r.Message != msg {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "line" {
				out = append(out, a.Value.String())
			}
			return true
		})
	}
	return out
}

// count returns how many records have message msg.
func (h *logRecorder) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.records {
		if r.Message == msg {
			n++
		}
	}
	return n
}

// rpc is a minimal JSON-RPC client over a raw connection.
type rpc struct {
	t    *testing.T
	conn sdk.Connection
	next int64
}

func (c *rpc) notify(method string, params any) {
	c.t.Helper()
	req, err := jsonrpc2Notification(method, params)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, req); err != nil {
		c.t.Fatalf("write %s: %v", method, err)
	}
}

// call sends a request and returns its result, skipping the notifications
// and server requests that come first.
func (c *rpc) call(method string, params any, result any) {
	c.t.Helper()
	if err := c.tryCall(method, params, result); err != nil {
		c.t.Fatal(err)
	}
}

func (c *rpc) tryCall(method string, params any, result any) error {
	c.next++
	id, _ := jsonrpc.MakeID(float64(c.next))
	raw, err := json.Marshal(params)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, &jsonrpc.Request{ID: id, Method: method, Params: raw}); err != nil {
		return fmt.Errorf("write %s: %w", method, err)
	}
	for {
		msg, err := c.conn.Read(ctx)
		if err != nil {
			return fmt.Errorf("read answer to %s: %w", method, err)
		}
		resp, ok := msg.(*jsonrpc.Response)
		if !ok || resp.ID != id {
			continue
		}
		if resp.Error != nil {
			return fmt.Errorf("%s: error %v", method, resp.Error)
		}
		return json.Unmarshal(resp.Result, result)
	}
}

func jsonrpc2Notification(method string, params any) (*jsonrpc.Request, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	return &jsonrpc.Request{Method: method, Params: raw}, nil
}

// exerciseEverything runs an MCP session against server-everything over conn:
// initialize, initialized, tools/list, tools/call echo.
func exerciseEverything(t *testing.T, conn sdk.Connection) {
	t.Helper()
	c := &rpc{t: t, conn: conn}
	var init struct {
		ProtocolVersion string `json:"protocolVersion"`
		ServerInfo      struct {
			Name    string `json:"name"`
			Version string `json:"version"`
		} `json:"serverInfo"`
		Capabilities map[string]json.RawMessage `json:"capabilities"`
	}
	c.call("initialize", map[string]any{
		"protocolVersion": "2025-06-18",
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "bulwark-test", "version": "0"},
	}, &init)
	if init.ProtocolVersion != "2025-06-18" {
		t.Errorf("initialize: protocolVersion %q, want 2025-06-18", init.ProtocolVersion)
	}
	if init.ServerInfo.Name == "" || init.Capabilities["tools"] == nil {
		t.Errorf("initialize: unexpected answer %+v", init)
	}
	c.notify("notifications/initialized", map[string]any{})

	var list struct {
		Tools []struct {
			Name string `json:"name"`
		} `json:"tools"`
	}
	c.call("tools/list", map[string]any{}, &list)
	names := map[string]bool{}
	for _, tl := range list.Tools {
		names[tl.Name] = true
	}
	for _, want := range []string{"echo", "get-sum", "get-env"} {
		if !names[want] {
			t.Errorf("tools/list: no %q tool in %v", want, names)
		}
	}

	var res struct {
		Content []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		IsError bool `json:"isError"`
	}
	c.call("tools/call", map[string]any{"name": "echo", "arguments": map[string]any{"message": "hello bulwark"}}, &res)
	if res.IsError || len(res.Content) != 1 || res.Content[0].Text != "Echo: hello bulwark" {
		t.Errorf("tools/call echo: %+v", res)
	}
}

// processGone reports whether pid has exited, and no live process of its
// group is left, waiting a moment for signals to land. A zombie counts as
// gone: after a group kill, orphans are reaped by init, not by us.
func processGone(pid int) bool {
	deadline := time.Now().Add(3 * time.Second)
	for {
		if !groupAlive(pid) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupAlive reports whether pid, or a process of the group pid leads, is
// alive (not a zombie).
func groupAlive(pid int) bool {
	if errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) && errors.Is(syscall.Kill(-pid, 0), syscall.ESRCH) {
		return false
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return true
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid pgrp ...
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" {
			continue
		}
		if e.Name() == strconv.Itoa(pid) || f[2] == strconv.Itoa(pid) {
			return true
		}
	}
	return false
}
