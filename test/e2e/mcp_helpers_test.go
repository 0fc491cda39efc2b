//go:build linux

package e2e

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark/test/nodepkg"
)

// The real MCP server and the Node SDK client the MCP tests use, installed
// with npm into $BULWARK_TEST_MCP_DIR (default $TMPDIR/bulwark-mcp-test),
// the directory proxy/mcp's tests use too.
const (
	everythingPackage = "@modelcontextprotocol/server-everything"
	everythingVersion = "2026.8.31"
	nodeSDKPackage    = "@modelcontextprotocol/sdk"
	nodeSDKVersion    = "1.32.2"
)

// mcpNodeDir returns the npm directory holding server-everything and the
// Node SDK.
func mcpNodeDir(t *testing.T) string {
	t.Helper()
	return nodepkg.Dir(t, "BULWARK_TEST_MCP_DIR", "bulwark-mcp-test",
		nodepkg.Package{Name: everythingPackage, Version: everythingVersion}, nodepkg.Package{Name: nodeSDKPackage, Version: nodeSDKVersion})
}

// everythingIndex is server-everything's entry point.
func everythingIndex(dir string) string {
	return filepath.Join(dir, "node_modules", filepath.FromSlash(everythingPackage), "dist", "index.js")
}

// absNode is the absolute path of node.
func absNode(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		t.Skip("skipping: node is not installed")
	}
	if p, err = filepath.Abs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// startEverythingHTTP runs server-everything over streamable HTTP on a
// free port, in a process group of its own that is killed at the end, and
// returns its MCP endpoint.
func startEverythingHTTP(t *testing.T, dir string) string {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(absNode(t), everythingIndex(dir), "streamableHttp")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "PORT=" + port}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	logPath := filepath.Join(t.TempDir(), "everything-http.log")
	out, err := os.Create(logPath)
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
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+port, time.Second)
		if err == nil {
			c.Close()
			return "http://127.0.0.1:" + port + "/mcp"
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("server-everything did not listen on port %s:\n%s", port, b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// bearer adds the gateway key to every request of an MCP client.
type bearer struct {
	key  string
	base http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return b.base.RoundTrip(r)
}

// mcpConnect opens a go-sdk client session to an MCP proxy of Bulwark with
// the last stateful protocol revision (sessions, one process per session
// where configured); mcpConnectVersion("") lets the client pick 2026-07-28.
func mcpConnect(t *testing.T, endpoint, key string) *sdk.ClientSession {
	t.Helper()
	return mcpConnectVersion(t, endpoint, key, "2025-11-25")
}

func mcpConnectVersion(t *testing.T, endpoint, key, version string) *sdk.ClientSession {
	t.Helper()
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	c := sdk.NewClient(&sdk.Implementation{Name: "bulwark-e2e", Version: "1.0.0"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearer{key, tr}}},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
	if err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return cs
}

// childProcs returns the live (not zombie) processes whose parent is ppid
// and whose environment holds the variable env (NAME=value).
func childProcs(ppid int, env string) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, ok := procStat(pid)
		if !ok || st.state == "Z" || st.state == "X" || st.ppid != ppid {
			continue
		}
		environ, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if slices.Contains(strings.Split(string(environ), "\x00"), env) {
			out = append(out, pid)
		}
	}
	return out
}

type stat struct {
	state string
	ppid  int
}

func procStat(pid int) (stat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return stat{}, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return stat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return stat{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	return stat{state: f[0], ppid: ppid}, true
}

// alive reports whether pid runs (a zombie does not).
func alive(pid int) bool {
	st, ok := procStat(pid)
	return ok && st.state != "Z" && st.state != "X"
}

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(pollEvery)
	}
}
