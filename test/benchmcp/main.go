// Command benchmcp measures what a Bulwark MCP proxy adds to a tools/call,
// next to a direct call and a bare httputil.ReverseProxy, and runs many MCP
// sessions through one Bulwark at once. Run it with `make bench-mcp`.
//
// Three targets answer the same tools/call echo (about 1 KiB of prose in the
// argument) from one go-sdk MCP server (streamable HTTP, stateful) on
// loopback, each through a go-sdk client session of its own:
//
//	direct   the MCP server itself
//	bare     an httputil.ReverseProxy (FlushInterval -1) in front of it, in
//	         a process of its own like Bulwark (-bare-inproc: in this one)
//	bulwark  `bulwark serve` (its own process, SQLite) with an MCP proxy
//	         whose policy is mcp-standard-security: the echo tool approved,
//	         its arguments and result scanned, every call recorded
//
// Latency is measured at concurrency 1 in alternating rounds, so machine
// noise hits all three alike; Bulwark's cost is the latency it adds over the
// direct call, compared with what the bare proxy adds. Then -sessions
// concurrent sessions (initialize, tools/list, -session-calls calls of echo)
// go through Bulwark (-sessions 0 skips them, e.g. to profile the per-call
// path). -inproc runs the gateway in this process (no binary build, no
// memory numbers): the smoke test uses it.
//
// Every client asks for the same protocol version (-protocol, default
// 2025-11-25, the last revision with sessions), so the client does the same
// work whatever the target. Left to itself the go-sdk client prefers the
// stateless revision 2026-07-28: Bulwark serves it, the go-sdk server behind
// the direct and bare targets (stateful) does not, so the client would talk
// 2026-07-28 to Bulwark only, with different per-call work of its own.
// -protocol latest measures that: Bulwark's stateless path.
//
// The exit code is 0 even when a target is missed, unless -strict.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/detect/classifier"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/gateway"
	"github.com/bulwarkhq/bulwark/inspect/toolguard"
	"github.com/bulwarkhq/bulwark/secret"
	"github.com/bulwarkhq/bulwark/store"
)

const (
	proxyName = "bench-mcp"
	policy    = "mcp-standard-security"
	// maxRatio is the target: Bulwark adds at most 1.5× what a bare
	// reverse proxy adds, at p50 and at p99.
	maxRatio = 1.5
)

// message is the echo argument: clean prose, so no rule fires and the
// whole scan runs.
var message = strings.Repeat("The quarterly report lists the orders shipped from the northern warehouse, grouped by week. ", 12)

type options struct {
	calls        int
	sessions     int
	sessionCalls int
	inproc       bool
	strict       bool
	bin          string
	cpuprofile   string
	keep         bool
	protocol     string
	bareInproc   bool
	serveBare    string
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("benchmcp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.calls, "calls", 3000, "tools/call echo per target at concurrency 1")
	fs.IntVar(&o.sessions, "sessions", 200, "concurrent MCP sessions through Bulwark (0: skip them)")
	fs.IntVar(&o.sessionCalls, "session-calls", 10, "echo calls per concurrent session")
	fs.BoolVar(&o.inproc, "inproc", false, "run the gateway in this process instead of `bulwark serve` (no RSS)")
	fs.BoolVar(&o.strict, "strict", false, "exit 1 when a target is missed")
	fs.StringVar(&o.bin, "bin", "", "bulwark binary to run (default: go build ./cmd/bulwark into a temporary directory)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of this process (with -inproc it includes the gateway)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (database, server log)")
	fs.BoolVar(&o.bareInproc, "bare-inproc", false, "run the bare proxy in this process even when Bulwark runs in its own")
	fs.StringVar(&o.serveBare, "serve-bare", "", "internal: serve the bare proxy to this upstream URL")
	fs.StringVar(&o.protocol, "protocol", "2025-11-25", "MCP protocol version every client asks for (\"latest\": the go-sdk client's default)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.serveBare != "" {
		return serveBare(o.serveBare, stdout)
	}
	if o.calls < 1 || o.sessions < 0 || o.sessionCalls < 1 {
		fmt.Fprintln(stderr, "benchmcp: -calls and -session-calls must be positive, -sessions not negative")
		return 2
	}
	if o.protocol == "latest" {
		o.protocol = ""
	}
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "benchmcp:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "benchmcp:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	b := &bench{o: o, out: stdout, log: stderr}
	defer b.close()
	ctx := context.Background()
	if err := b.setup(ctx); err != nil {
		fmt.Fprintln(stderr, "benchmcp:", err)
		b.dumpServerLog()
		return 2
	}
	b.header()
	if err := b.latency(ctx); err != nil {
		fmt.Fprintln(stderr, "benchmcp:", err)
		b.dumpServerLog()
		return 2
	}
	if o.sessions == 0 {
		b.printf("Concurrent sessions skipped (-sessions 0)\n\n")
	} else if err := b.concurrentSessions(ctx); err != nil {
		fmt.Fprintln(stderr, "benchmcp:", err)
		b.dumpServerLog()
		return 2
	}
	b.summary()
	if b.failed() && o.strict {
		return 1
	}
	return 0
}

type target struct {
	name     string
	endpoint string
	key      string
	tr       *http.Transport
	cs       *sdk.ClientSession
	lat      []time.Duration
}

type verdict struct {
	name, detail string
	pass         bool
}

type bench struct {
	o        options
	out, log io.Writer
	tmp      string
	closers  []func()
	upURL    string
	targets  []*target // direct, bare, bulwark
	srvLog   string
	pid      int
	exited   chan struct{}
	verdicts []verdict
}

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
	if b.tmp != "" {
		if b.o.keep {
			fmt.Fprintln(b.log, "benchmcp: kept", b.tmp)
		} else {
			_ = os.RemoveAll(b.tmp)
		}
	}
}

func (b *bench) failed() bool {
	return slices.ContainsFunc(b.verdicts, func(v verdict) bool { return !v.pass })
}

func (b *bench) dumpServerLog() {
	if b.srvLog == "" {
		return
	}
	data, _ := os.ReadFile(b.srvLog)
	if len(data) > 8000 {
		data = data[len(data)-8000:]
	}
	fmt.Fprintf(b.log, "--- bulwark serve log (tail) ---\n%s\n", data)
}

type echoIn struct {
	Message string `json:"message"`
}

// setup starts the MCP server, the bare proxy and Bulwark, approves echo,
// and opens one client session per target.
func (b *bench) setup(ctx context.Context) error {
	var err error
	if b.tmp, err = os.MkdirTemp("", "benchmcp-"); err != nil {
		return err
	}
	srv := sdk.NewServer(&sdk.Implementation{Name: "bench-server", Version: "1.0.0"}, nil)
	sdk.AddTool(srv, &sdk.Tool{Name: "echo", Description: "Echoes the message back."},
		func(_ context.Context, _ *sdk.CallToolRequest, in echoIn) (*sdk.CallToolResult, any, error) {
			return &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: "Echo: " + in.Message}}}, nil, nil
		})
	up, err := b.serveLocal(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	if err != nil {
		return err
	}
	b.upURL = up + "/mcp"
	upU, _ := url.Parse(up)
	var bare string
	if b.o.inproc || b.o.bareInproc {
		bare, err = b.serveLocal(bareProxy(upU))
	} else {
		bare, err = b.startBare(up)
	}
	if err != nil {
		return err
	}
	var base, key string
	var db *store.DB
	if b.o.inproc {
		base, key, db, err = b.startInproc(ctx)
	} else {
		base, key, db, err = b.startProcess(ctx)
	}
	if err != nil {
		return err
	}
	if err := approveEcho(ctx, db); err != nil {
		return err
	}
	b.targets = []*target{
		{name: "direct", endpoint: b.upURL},
		{name: "bare proxy", endpoint: bare + "/mcp"},
		{name: "bulwark", endpoint: base + "/p/" + proxyName + "/", key: key},
	}
	for _, t := range b.targets {
		if err := b.open(ctx, t); err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
	}
	return nil
}

// bareProxy is the bare reverse proxy to the MCP server at up.
func bareProxy(up *url.URL) *httputil.ReverseProxy {
	return &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(up); r.Out.Host = up.Host },
		FlushInterval: -1, Transport: upstreamTransport(), ErrorLog: log.New(io.Discard, "", 0)} // closed sessions' streams
}

// serveBare is the bare proxy's own process (-serve-bare URL): it prints
// its address on a line and serves until its standard input closes.
func serveBare(upstream string, stdout io.Writer) int {
	up, err := url.Parse(upstream)
	if err != nil {
		return 2
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 2
	}
	fmt.Fprintf(stdout, "http://%s\n", ln.Addr())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }()
	_ = (&http.Server{Handler: bareProxy(up), ReadHeaderTimeout: 10 * time.Second}).Serve(ln)
	return 0
}

// startBare runs the bare proxy in a process of its own, as Bulwark runs
// in one: a proxy in the benchmark's process would answer without the
// cross-process wake-ups Bulwark pays for.
func (b *bench) startBare(upstream string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	cmd := exec.Command(self, "-serve-bare", upstream)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return "", err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	cmd.Stderr = b.log
	if err := cmd.Start(); err != nil {
		return "", err
	}
	b.closers = append(b.closers, func() { _ = stdin.Close(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("bare proxy process: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func upstreamTransport() *http.Transport {
	return &http.Transport{MaxIdleConns: 1000, MaxIdleConnsPerHost: 1000, IdleConnTimeout: time.Minute}
}

func (b *bench) serveLocal(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.Serve(ln) }()
	b.closers = append(b.closers, func() { _ = s.Close() })
	return "http://" + ln.Addr().String(), nil
}

// bearer adds the gateway key to every request.
type bearer struct {
	key  string
	base http.RoundTripper
}

func (t bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	if t.key == "" {
		return t.base.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+t.key)
	return t.base.RoundTrip(r)
}

// connect opens a client session asking for protocol version ("": the
// client's default).
func connect(ctx context.Context, endpoint, key, version string, tr http.RoundTripper) (*sdk.ClientSession, error) {
	c := sdk.NewClient(&sdk.Implementation{Name: "benchmcp", Version: "1.0.0"}, nil)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return c.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearer{key, tr}}},
		&sdk.ClientSessionOptions{ProtocolVersion: version})
}

// callSeq numbers the calls: each argument starts with its own number, so
// no two calls carry the same text and Bulwark's memory of clean texts
// (which spares resent history a second scan) never answers for a scan.
var callSeq atomic.Uint64

func callEcho(ctx context.Context, cs *sdk.ClientSession) error {
	msg := fmt.Sprintf("Ref %010d. %s", callSeq.Add(1), message)
	res, err := cs.CallTool(ctx, &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
	if err != nil {
		return err
	}
	if res.IsError || len(res.Content) != 1 {
		return fmt.Errorf("echo: unexpected result %+v", res)
	}
	if tc, ok := res.Content[0].(*sdk.TextContent); !ok || tc.Text != "Echo: "+msg {
		return errors.New("echo: the answer is not the message")
	}
	return nil
}

// open connects a target's session, checks it sees exactly echo (Bulwark
// may need a moment to see the approval), and warms it up.
func (b *bench) open(ctx context.Context, t *target) error {
	t.tr = upstreamTransport()
	b.closers = append(b.closers, t.tr.CloseIdleConnections)
	deadline := time.Now().Add(20 * time.Second)
	for {
		cs, err := connect(ctx, t.endpoint, t.key, b.o.protocol, t.tr)
		if err != nil {
			return err
		}
		res, err := cs.ListTools(ctx, nil)
		if err == nil && len(res.Tools) == 1 && res.Tools[0].Name == "echo" {
			t.cs = cs
			b.closers = append(b.closers, func() { _ = cs.Close() })
			break
		}
		_ = cs.Close()
		if time.Now().After(deadline) {
			return fmt.Errorf("echo not offered after 20s (list: %+v): %w", res, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for range 100 {
		if err := callEcho(ctx, t.cs); err != nil {
			return err
		}
	}
	return nil
}

// seed stores a group, a gateway key and the MCP proxy.
func seed(ctx context.Context, db *store.DB, upURL string) (string, error) {
	g := &bulwark.Group{Name: "bench", Proxies: []string{"*"}, BudgetAction: bulwark.BudgetWarn, BudgetWarnPercent: 80}
	if err := db.CreateGroup(ctx, g); err != nil {
		return "", fmt.Errorf("create group: %w", err)
	}
	key, err := auth.NewToken(auth.GatewayKeyPrefix)
	if err != nil {
		return "", err
	}
	if err := db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: g.ID, Name: "bench", User: "bench",
		Prefix: auth.TokenDisplayPrefix(key), Hash: auth.TokenHash(key)}); err != nil {
		return "", fmt.Errorf("create gateway key: %w", err)
	}
	p := &bulwark.Proxy{Name: proxyName, Type: bulwark.ProtocolMCP, Provider: "-", UpstreamURL: upURL,
		Policies: []string{policy}, Enabled: true, AutoStart: true, ScanResponses: true,
		MCP: &bulwark.MCPConfig{Transport: bulwark.MCPStreamableHTTP}}
	if err := db.CreateProxy(ctx, p); err != nil {
		return "", fmt.Errorf("create proxy: %w", err)
	}
	return key, nil
}

// approveEcho waits for the discovery of echo and approves it, as an
// operator would (the running gateway re-reads approvals within seconds).
func approveEcho(ctx context.Context, db *store.DB) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, err := db.ListMCPTools(ctx, proxyName)
		if err != nil {
			return err
		}
		for _, t := range list {
			if t.Name == "echo" {
				toolguard.Approve(t, "benchmcp", time.Now())
				return db.UpdateMCPTool(ctx, t, t.UpdatedAt)
			}
		}
		if time.Now().After(deadline) {
			return errors.New("bulwark did not discover the echo tool within 30s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func randomKey() (raw []byte, encoded string) {
	raw = make([]byte, 32)
	_, _ = rand.Read(raw)
	return raw, base64.StdEncoding.EncodeToString(raw)
}

func (b *bench) startInproc(ctx context.Context) (string, string, *store.DB, error) {
	db, err := store.Open(ctx, filepath.Join(b.tmp, "bulwark.db"), store.Options{MigrateOnOpen: true})
	if err != nil {
		return "", "", nil, err
	}
	b.closers = append(b.closers, func() { _ = db.Close() })
	raw, _ := randomKey()
	ring, err := secret.NewKeyring(raw)
	if err != nil {
		return "", "", nil, err
	}
	key, err := seed(ctx, db, b.upURL)
	if err != nil {
		return "", "", nil, err
	}
	gw, err := gateway.New(gateway.Options{Store: db, Keyring: ring, Events: events.New(db, nil),
		Registerer: prometheus.NewRegistry(), Classifier: classifier.Default()})
	if err != nil {
		return "", "", nil, err
	}
	if err := gw.Start(ctx); err != nil {
		return "", "", nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("/p/", gw)
	u, err := b.serveLocal(mux)
	if err != nil {
		return "", "", nil, err
	}
	b.closers = append(b.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(sctx)
	})
	return u, key, db, nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("not inside the bulwark module; run from the repository")
	}
	return filepath.Dir(mod), nil
}

// startProcess builds the binary, seeds a data directory and runs `bulwark
// serve` on a free loopback port. The returned store stays open (SQLite in
// WAL mode) to approve the tool like the API would.
func (b *bench) startProcess(ctx context.Context) (string, string, *store.DB, error) {
	bin := b.o.bin
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", "", nil, err
		}
		bin = filepath.Join(b.tmp, "bulwark")
		fmt.Fprintln(b.log, "benchmcp: go build ./cmd/bulwark …")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/bulwark")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", nil, fmt.Errorf("go build ./cmd/bulwark: %w\n%s", err, out)
		}
	}
	dataDir := filepath.Join(b.tmp, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", nil, err
	}
	_, encKey := randomKey()
	_, sessionKey := randomKey()
	_, pw := randomKey()
	db, err := store.Open(ctx, filepath.Join(dataDir, "bulwark.db"), store.Options{MigrateOnOpen: true})
	if err != nil {
		return "", "", nil, err
	}
	b.closers = append(b.closers, func() { _ = db.Close() })
	key, err := seed(ctx, db, b.upURL)
	if err != nil {
		return "", "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", "", nil, err
	}
	addr := ln.Addr().String()
	ln.Close()
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULWARK_") {
			env = append(env, kv)
		}
	}
	env = append(env, "BULWARK_DATA_DIR="+dataDir, "BULWARK_LISTEN="+addr, "BULWARK_SECRETS_ENCRYPTION_KEY="+encKey,
		"BULWARK_SECRETS_SESSION_KEY="+sessionKey, "BULWARK_ADMIN_PASSWORD=Bench-"+pw, "BULWARK_LOG_LEVEL=warn")
	b.srvLog = filepath.Join(b.tmp, "serve.log")
	logf, err := os.Create(b.srvLog)
	if err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env, cmd.Dir = env, b.tmp
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return "", "", nil, err
	}
	b.pid = cmd.Process.Pid
	b.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(b.exited) }()
	b.closers = append(b.closers, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-b.exited
		}
	})
	base := "http://" + addr
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, key, db, nil
			}
		}
		select {
		case <-b.exited:
			return "", "", nil, errors.New("bulwark serve exited during start-up")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", "", nil, errors.New("bulwark serve not ready after 60s")
		}
	}
}

func (b *bench) header() {
	mode := "bulwark serve (separate process, SQLite)"
	if b.o.inproc {
		mode = "gateway in the benchmark process (-inproc)"
	}
	b.printf("Bulwark MCP proxy benchmark\n")
	b.printf("  %s, %d CPUs, %s\n", runtime.Version(), runtime.NumCPU(), runtime.GOOS+"/"+runtime.GOARCH)
	b.printf("  bulwark: %s, policy %s, echo tool approved\n", mode, policy)
	b.printf("  upstream: go-sdk MCP server, streamable HTTP (stateful), in this process; echo argument %d bytes, numbered per call\n", len(message)+len("Ref 0000000000. "))
	bare := "its own process"
	if b.o.inproc || b.o.bareInproc {
		bare = "this process"
	}
	b.printf("  bare proxy: httputil.ReverseProxy in %s\n", bare)
	proto := b.o.protocol
	if proto == "" {
		proto = "the go-sdk client's default (2026-07-28, stateless, with Bulwark; 2025-11-25 with the others)"
	}
	b.printf("  client protocol: %s on every target\n\n", proto)
}

func pct(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

func (b *bench) check(name string, pass bool, format string, args ...any) {
	b.verdicts = append(b.verdicts, verdict{name: name, pass: pass, detail: fmt.Sprintf(format, args...)})
}

// latency calls echo -calls times per target at concurrency 1, in rounds
// of 50 whose target order rotates.
func (b *bench) latency(ctx context.Context) error {
	const round = 50
	for done := 0; done < b.o.calls; done += round {
		n := min(round, b.o.calls-done)
		for i := range b.targets {
			t := b.targets[(i+done/round)%len(b.targets)]
			for range n {
				start := time.Now()
				if err := callEcho(ctx, t.cs); err != nil {
					return fmt.Errorf("%s: %w", t.name, err)
				}
				t.lat = append(t.lat, time.Since(start))
			}
		}
	}
	direct := b.targets[0]
	d50, d99 := pct(direct.lat, 0.5), pct(direct.lat, 0.99)
	b.printf("Latency at concurrency 1 (%d × tools/call echo per target)\n", b.o.calls)
	tw := tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tp50\tp99\tadded p50\tadded p99\t")
	added := map[string][2]time.Duration{}
	for _, t := range b.targets {
		p50, p99 := pct(t.lat, 0.5), pct(t.lat, 0.99)
		added[t.name] = [2]time.Duration{p50 - d50, p99 - d99}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\n", t.name, ms(p50), ms(p99), ms(p50-d50), ms(p99-d99))
	}
	_ = tw.Flush()
	b.printf("\n")
	bare, bw := added["bare proxy"], added["bulwark"]
	for i, p := range []string{"p50", "p99"} {
		limit := time.Duration(maxRatio * float64(max(bare[i], 0)))
		b.check("c=1 added latency "+p, bw[i] <= limit, "bulwark +%s, bare proxy +%s (target ≤ %.1f× = %s; ratio %.2f)",
			ms(bw[i]), ms(bare[i]), maxRatio, ms(limit), float64(bw[i])/float64(max(bare[i], time.Microsecond)))
	}
	return nil
}

// concurrentSessions runs -sessions sessions through Bulwark at once.
func (b *bench) concurrentSessions(ctx context.Context) error {
	bw := b.targets[2]
	tr := upstreamTransport()
	defer tr.CloseIdleConnections()
	var errs atomic.Int64
	var firstErr sync.Once
	var first error
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // RSS peak of the Bulwark process
		defer close(sampled)
		for {
			if rss, err := rssMB(b.pid); err == nil && int64(rss) > peak.Load() {
				peak.Store(int64(rss))
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	before, _ := rssMB(b.pid)
	var lat []time.Duration
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	gate := make(chan struct{})
	for range b.o.sessions {
		wg.Go(func() {
			<-gate
			s0 := time.Now()
			err := func() error {
				cs, err := connect(ctx, bw.endpoint, bw.key, b.o.protocol, tr)
				if err != nil {
					return err
				}
				defer cs.Close()
				res, err := cs.ListTools(ctx, nil)
				if err != nil {
					return err
				}
				if len(res.Tools) != 1 {
					return fmt.Errorf("tools/list: %d tools", len(res.Tools))
				}
				for range b.o.sessionCalls {
					if err := callEcho(ctx, cs); err != nil {
						return err
					}
				}
				return nil
			}()
			if err != nil {
				errs.Add(1)
				firstErr.Do(func() { first = err })
				return
			}
			mu.Lock()
			lat = append(lat, time.Since(s0))
			mu.Unlock()
		})
	}
	close(gate)
	wg.Wait()
	el := time.Since(start)
	close(stop)
	<-sampled
	n := b.o.sessions
	b.printf("Concurrent sessions through Bulwark: %d at once, each initialize + tools/list + %d × echo + close\n", n, b.o.sessionCalls)
	b.printf("  errors %d, wall time %s, %.1f sessions/s, %.0f calls/s", errs.Load(), el.Round(time.Millisecond),
		float64(n)/el.Seconds(), float64(n*b.o.sessionCalls)/el.Seconds())
	if len(lat) > 0 {
		b.printf(", session time p50 %s p99 %s", ms(pct(lat, 0.5)), ms(pct(lat, 0.99)))
	}
	b.printf("\n")
	if b.pid != 0 {
		after, _ := rssMB(b.pid)
		b.printf("  bulwark RSS: %.0f MB before, peak %d MB, %.0f MB after\n", before, peak.Load(), after)
	}
	b.printf("\n")
	detail := fmt.Sprintf("%d sessions, %d errors", n, errs.Load())
	if first != nil {
		detail += ", first: " + first.Error()
	}
	b.check(fmt.Sprintf("%d concurrent sessions without errors", n), errs.Load() == 0, "%s", detail)
	return nil
}

func rssMB(pid int) (float64, error) {
	if pid == 0 {
		return 0, errors.New("no process")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for l := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 64)
			if err != nil {
				return 0, err
			}
			return kb / 1024, nil
		}
	}
	return 0, errors.New("no VmRSS in /proc/" + strconv.Itoa(pid) + "/status")
}

func (b *bench) summary() {
	b.printf("Targets\n")
	met := 0
	for _, v := range b.verdicts {
		s := "FAIL"
		if v.pass {
			s, met = "PASS", met+1
		}
		b.printf("  %s  %s: %s\n", s, v.name, v.detail)
	}
	b.printf("%d of %d targets met\n", met, len(b.verdicts))
}
