// Command benchproxy measures what the Bulwark LLM proxy adds to a request,
// next to a direct call and a bare httputil.ReverseProxy, in one run (issue
// #5). Run it with `make bench-proxy`.
//
// Three targets answer the same OpenAI chat completions requests (4 KiB of
// clean English prose each) from one fake upstream on loopback:
//
//	direct   the fake upstream itself
//	bare     an httputil.ReverseProxy (Rewrite, FlushInterval -1) in front of it
//	bulwark  `bulwark serve` (its own process, SQLite), the prompt and the
//	         answer scanned by every built-in LLM rule and the learned detector
//
// The fake upstream and the bare proxy run in this process. The targets are
// measured in alternating rounds so machine noise hits all three alike, and
// Bulwark's cost is reported as latency added over the direct call, compared
// with what the bare proxy adds. -inproc runs the gateway in this process
// instead (no binary build, no memory numbers): the smoke test uses it.
//
// The exit code is 0 even when a target is missed, unless -strict.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
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

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/bulwarkhq/bulwark/detect/classifier"
	"github.com/bulwarkhq/bulwark/events"
	fakellm "github.com/bulwarkhq/bulwark/fake/llm"
	"github.com/bulwarkhq/bulwark/gateway"
	"github.com/bulwarkhq/bulwark/secret"
	"github.com/bulwarkhq/bulwark/store"
)

const (
	upstreamKey = "sk-bench-upstream-credential-7f3a9c"
	proxyName   = "bench"
	promptSize  = 4 << 10
	nPrompts    = 40
	model       = "gpt-4o"

	streamChunks  = 64
	streamDelayMs = 20
)

// policies cover every built-in LLM rule (checked at start-up).
var policies = []string{"llm-critical-security", "llm-compliance-gdpr"}

// Targets of the issue.
const (
	maxAddedP50Ratio  = 1.3
	maxAddedP99Ratio  = 1.5
	minThroughputFrac = 0.70
	maxAddedTTFERatio = 1.5
	maxIdleRSSMB      = 60
	maxStreamsRSSMB   = 300
)

type options struct {
	requests     int
	concurrency  int
	duration     time.Duration
	streams      int
	openStreams  int
	skipMemory   bool
	inproc       bool
	strict       bool
	bin          string
	cpuprofile   string
	keep         bool
	roundSize    int
	throughRound time.Duration
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	var o options
	fs := flag.NewFlagSet("benchproxy", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.requests, "requests", 5000, "requests per target at concurrency 1")
	fs.IntVar(&o.concurrency, "concurrency", 32, "clients of the throughput run")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "time per target of the throughput run")
	fs.IntVar(&o.streams, "streams", 100, "streams per target whose time to first event is measured")
	fs.IntVar(&o.openStreams, "open-streams", 1000, "concurrent open streams of the memory run")
	fs.BoolVar(&o.skipMemory, "skip-memory", false, "skip the memory (RSS) measurements")
	fs.BoolVar(&o.inproc, "inproc", false, "run the gateway in this process instead of `bulwark serve` (implies -skip-memory)")
	fs.BoolVar(&o.strict, "strict", false, "exit 1 when a target is missed")
	fs.StringVar(&o.bin, "bin", "", "bulwark binary to run (default: go build ./cmd/bulwark into a temporary directory)")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of this process (with -inproc it includes the gateway)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary directory (database, server log)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.requests < 1 || o.concurrency < 1 || o.duration <= 0 || o.streams < 1 || o.openStreams < 1 {
		fmt.Fprintln(stderr, "benchproxy: -requests, -concurrency, -duration, -streams and -open-streams must be positive")
		return 2
	}
	if o.inproc {
		o.skipMemory = true
	}
	o.roundSize = min(50, o.requests)
	o.throughRound = min(time.Second, o.duration)
	if o.cpuprofile != "" {
		f, err := os.Create(o.cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "benchproxy:", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "benchproxy:", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	ctx := context.Background()
	b := &bench{o: o, out: stdout, log: stderr}
	defer b.close()
	if err := b.setup(ctx); err != nil {
		fmt.Fprintln(stderr, "benchproxy:", err)
		b.dumpServerLog()
		return 2
	}
	if err := b.runAll(ctx); err != nil {
		fmt.Fprintln(stderr, "benchproxy:", err)
		b.dumpServerLog()
		return 2
	}
	if b.failed() && o.strict {
		return 1
	}
	return 0
}

// target is one of the three things measured.
type target struct {
	name string
	base string // URL the API paths are appended to
	auth string // Authorization header
	// client is a keep-alive client of its own, so no target waits for
	// another's connections.
	client *http.Client
	errors int // failed requests at concurrency 1
}

type verdict struct {
	name, detail string
	pass, skip   bool
}

type bench struct {
	o        options
	out, log io.Writer

	tmp      string
	closers  []func()
	up       *fakellm.Server
	upURL    string
	targets  []*target // direct, bare, bulwark
	prompts  []string
	bodies   [][]byte // non-streaming requests
	sbodies  [][]byte // streaming requests
	nRules   int
	srvLog   string
	pid      int
	exited   chan struct{}
	verdicts []verdict
	seq      atomic.Uint64
	startRSS float64 // right after start-up (/readyz and one request)
	// cancelling is set while streams are cancelled after their first event.
	cancelling atomic.Bool
}

func (b *bench) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}

func (b *bench) failed() bool {
	for _, v := range b.verdicts {
		if !v.pass && !v.skip {
			return true
		}
	}
	return false
}

func (b *bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

func (b *bench) dumpServerLog() {
	if b.srvLog == "" {
		return
	}
	data, err := os.ReadFile(b.srvLog)
	if err != nil || len(data) == 0 {
		return
	}
	if len(data) > 8<<10 {
		data = data[len(data)-8<<10:]
	}
	fmt.Fprintf(b.log, "--- bulwark serve log (tail) ---\n%s\n", data)
}

// ---- set-up ----

func (b *bench) setup(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "bulwark-benchproxy-")
	if err != nil {
		return err
	}
	b.tmp = tmp
	b.closers = append(b.closers, func() {
		if b.o.keep {
			fmt.Fprintln(b.log, "benchproxy: kept", tmp)
			return
		}
		_ = os.RemoveAll(tmp)
	})

	b.prompts = prompts(nPrompts, promptSize-len(refPlaceholder))
	for i, p := range b.prompts {
		b.prompts[i] = refPlaceholder + p
		b.bodies = append(b.bodies, chatBody(b.prompts[i], false))
		b.sbodies = append(b.sbodies, chatBody(b.prompts[i], true))
	}
	if err := b.checkRules(ctx); err != nil {
		return err
	}

	// The fake upstream: replies echo the prompt, so the answer Bulwark
	// scans is as long as the request.
	b.up = fakellm.New(fakellm.Options{APIKey: upstreamKey})
	b.upURL, err = b.serveLocal(b.up)
	if err != nil {
		return err
	}

	// The bare proxy, with the same upstream transport settings as the gateway's.
	u, _ := url.Parse(b.upURL)
	rp := &httputil.ReverseProxy{
		Rewrite:       func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport:     upstreamTransport(),
		FlushInterval: -1,
		// Streams the bench cancels after their first event are not news.
		ErrorLog: log.New(quietCancel{b}, "bare proxy: ", 0),
	}
	bareURL, err := b.serveLocal(rp)
	if err != nil {
		return err
	}

	var bulwarkURL, key string
	if b.o.inproc {
		bulwarkURL, key, err = b.startInproc(ctx)
	} else {
		bulwarkURL, key, err = b.startProcess(ctx)
	}
	if err != nil {
		return err
	}
	up := "Bearer " + upstreamKey
	b.targets = []*target{
		{name: "direct", base: b.upURL, auth: up, client: newClient(b.o.concurrency + 8)},
		{name: "bare proxy", base: bareURL, auth: up, client: newClient(b.o.concurrency + 8)},
		{name: "bulwark", base: bulwarkURL + "/p/" + proxyName, auth: "Bearer " + key, client: newClient(b.o.concurrency + 8)},
	}
	return b.sanity(ctx)
}

// checkRules verifies that the policies cover every built-in LLM rule with
// the learned detector on, and that the prompts (and the echoed answers)
// are clean: a finding would change what is measured (a redaction, a
// block).
func (b *bench) checkRules(ctx context.Context) error {
	reg, err := detect.BuiltinRegistry()
	if err != nil {
		return err
	}
	var cache detect.EngineCache
	e, err := cache.Engine(reg, detect.Options{Classifier: classifier.Default(), MaxScanBytes: 1 << 20}, policies...)
	if err != nil {
		return err
	}
	if !e.MLActive() {
		return errors.New("the learned detector is not active with policies " + strings.Join(policies, ", "))
	}
	have := map[string]bool{}
	for _, r := range e.RuleSet().Rules {
		have[r.ID] = true
	}
	b.nRules = len(have)
	for _, n := range reg.Names() {
		if !strings.HasPrefix(n, "llm-") || !reg.Builtin(n) {
			continue
		}
		rs, err := reg.Resolve(n)
		if err != nil {
			return err
		}
		for _, r := range rs.Rules {
			if !have[r.ID] {
				return fmt.Errorf("built-in rule %s of %s is not in %s", r.ID, n, strings.Join(policies, " + "))
			}
		}
	}
	for i, p := range b.prompts {
		for _, s := range []struct {
			text    string
			surface bulwark.Surface
		}{{p, bulwark.SurfacePrompt}, {"echo: " + p, bulwark.SurfaceModelOutput}} {
			res, err := e.ScanText(ctx, s.text, bulwark.ProtocolLLM, s.surface)
			if err != nil {
				return err
			}
			if len(res.Findings) > 0 {
				f := res.Findings[0]
				return fmt.Errorf("prompt %d is not clean on %s: %s %q", i, s.surface, f.RuleID, f.Evidence)
			}
		}
	}
	return nil
}

// quietCancel drops the bare proxy's complaints about the streams the
// bench cancels on purpose after their first event.
type quietCancel struct{ b *bench }

func (q quietCancel) Write(p []byte) (int, error) {
	if q.b.cancelling.Load() {
		return len(p), nil
	}
	return q.b.log.Write(p)
}

func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 256
	t.ForceAttemptHTTP2 = true
	return t
}

func newClient(conns int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
}

func (b *bench) serveLocal(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.closers = append(b.closers, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

// seed creates the group, gateway key and proxy through the store package.
func seed(ctx context.Context, db *store.DB, ring *secret.Keyring, upURL string) (string, error) {
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
	cred, err := ring.EncryptString(upstreamKey, gateway.CredentialAD)
	if err != nil {
		return "", err
	}
	p := &bulwark.Proxy{Name: proxyName, Type: bulwark.ProtocolLLM, Provider: bulwark.ProviderOpenAI, UpstreamURL: upURL,
		Policies: policies, Credential: cred, Enabled: true, AutoStart: true, ScanResponses: true}
	if err := db.CreateProxy(ctx, p); err != nil {
		return "", fmt.Errorf("create proxy: %w", err)
	}
	return key, nil
}

func randomKey() (raw []byte, encoded string) {
	raw = make([]byte, 32)
	_, _ = rand.Read(raw)
	return raw, base64.StdEncoding.EncodeToString(raw)
}

func (b *bench) startInproc(ctx context.Context) (string, string, error) {
	db, err := store.Open(ctx, filepath.Join(b.tmp, "bulwark.db"), store.Options{MigrateOnOpen: true})
	if err != nil {
		return "", "", err
	}
	b.closers = append(b.closers, func() { _ = db.Close() })
	raw, _ := randomKey()
	ring, err := secret.NewKeyring(raw)
	if err != nil {
		return "", "", err
	}
	key, err := seed(ctx, db, ring, b.upURL)
	if err != nil {
		return "", "", err
	}
	gw, err := gateway.New(gateway.Options{Store: db, Keyring: ring, Events: events.New(db, nil),
		Registerer: prometheus.NewRegistry(), Classifier: classifier.Default()})
	if err != nil {
		return "", "", err
	}
	if err := gw.Start(ctx); err != nil {
		return "", "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/p/", gw)
	u, err := b.serveLocal(mux)
	if err != nil {
		return "", "", err
	}
	b.closers = append(b.closers, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(sctx)
	})
	return u, key, nil
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

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startProcess builds the binary, seeds a data directory and runs
// `bulwark serve` on a free loopback port.
func (b *bench) startProcess(ctx context.Context) (string, string, error) {
	bin := b.o.bin
	if bin == "" {
		root, err := moduleRoot()
		if err != nil {
			return "", "", err
		}
		bin = filepath.Join(b.tmp, "bulwark")
		fmt.Fprintln(b.log, "benchproxy: go build ./cmd/bulwark …")
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/bulwark")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("go build ./cmd/bulwark: %w\n%s", err, out)
		}
	}
	dataDir := filepath.Join(b.tmp, "data")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return "", "", err
	}
	raw, encKey := randomKey()
	_, sessionKey := randomKey()
	_, pw := randomKey()
	ring, err := secret.NewKeyring(raw)
	if err != nil {
		return "", "", err
	}
	db, err := store.Open(ctx, filepath.Join(dataDir, "bulwark.db"), store.Options{MigrateOnOpen: true})
	if err != nil {
		return "", "", err
	}
	key, err := seed(ctx, db, ring, b.upURL)
	_ = db.Close()
	if err != nil {
		return "", "", err
	}
	addr, err := freeAddr()
	if err != nil {
		return "", "", err
	}
	env := []string{}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BULWARK_") {
			env = append(env, kv)
		}
	}
	env = append(env,
		"BULWARK_DATA_DIR="+dataDir,
		"BULWARK_LISTEN="+addr,
		"BULWARK_SECRETS_ENCRYPTION_KEY="+encKey,
		"BULWARK_SECRETS_SESSION_KEY="+sessionKey,
		"BULWARK_ADMIN_PASSWORD=Bench-"+pw,
		"BULWARK_LOG_LEVEL=warn",
	)
	b.srvLog = filepath.Join(b.tmp, "serve.log")
	logf, err := os.Create(b.srvLog)
	if err != nil {
		return "", "", err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Dir = b.tmp
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return "", "", err
	}
	b.pid = cmd.Process.Pid
	b.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); _ = logf.Close(); close(b.exited) }()
	b.closers = append(b.closers, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-b.exited:
		case <-time.After(10 * time.Second):
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
				return base, key, nil
			}
		}
		select {
		case <-b.exited:
			return "", "", errors.New("bulwark serve exited during start-up")
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return "", "", errors.New("bulwark serve not ready after 60s")
		}
	}
}

// sanity sends one request to each target and checks the answer, and that the upstream got Bulwark's request unchanged (no
// redaction, no block) with the stored credential.
func (b *bench) sanity(ctx context.Context) error {
	want, _ := json.Marshal("echo: " + b.prompts[0])
	for _, t := range b.targets {
		var body []byte
		var err error
		// The proxy may still be starting right after /readyz.
		for try := 0; try < 50; try++ {
			body, err = t.chat(ctx, b.bodies[0])
			if err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", t.name, err)
		}
		if !bytes.Contains(body, want) {
			return fmt.Errorf("%s: the answer is not the echo of the prompt: %.300s", t.name, body)
		}
		reqs := b.up.Requests()
		last := reqs[len(reqs)-1]
		if !bytes.Equal(last.Body, b.bodies[0]) && !bytes.Contains(last.Body, want[len(`"echo: `):]) {
			return fmt.Errorf("%s: the upstream received a changed prompt: %.300s", t.name, last.Body)
		}
		if got := last.Header.Get("Authorization"); got != "Bearer "+upstreamKey {
			return fmt.Errorf("%s: upstream Authorization %q", t.name, got)
		}
	}
	return nil
}

func chatBody(prompt string, stream bool) []byte {
	b, _ := json.Marshal(map[string]any{"model": model, "stream": stream,
		"messages": []map[string]string{{"role": "user", "content": prompt}}})
	return b
}

func (t *target) newRequest(ctx context.Context, body []byte) *http.Request {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, t.base+"/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", t.auth)
	return req
}

// chat sends one non-streaming request and returns the answer.
func (t *target) chat(ctx context.Context, body []byte) ([]byte, error) {
	resp, err := t.client.Do(t.newRequest(ctx, body))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d: %.300s", resp.StatusCode, out)
	}
	return out, nil
}

// warm makes sure every hop has an idle keep-alive connection.
func (t *target) warm(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.base+"/v1/models", nil)
	req.Header.Set("Authorization", t.auth)
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/models: status %d", resp.StatusCode)
	}
	return nil
}

type streamResult struct {
	ttfe     time.Duration
	events   int
	done     bool
	arrivals []arrival // with full: every read that carried data events
}

type arrival struct {
	at     time.Duration // since the request started
	events int           // data events completed in this arrival
}

// stream sends a streaming request (64 deltas 20 ms apart). Without full it
// returns at the first data event (the request is then cancelled); with
// full it reads to the end, recording when each read returned and how many
// events it completed.
func (t *target) stream(ctx context.Context, body []byte, full bool) (streamResult, error) {
	var r streamResult
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req := t.newRequest(ctx, body)
	req.Header.Set("X-Fake-Chunks", strconv.Itoa(streamChunks))
	req.Header.Set("X-Fake-Delay-Ms", strconv.Itoa(streamDelayMs))
	start := time.Now()
	resp, err := t.client.Do(req)
	if err != nil {
		return r, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return r, fmt.Errorf("status %d: %.300s", resp.StatusCode, msg)
	}
	buf := make([]byte, 64<<10)
	var line []byte // an incomplete line carried to the next read
	for {
		n, err := resp.Body.Read(buf)
		at := time.Since(start)
		if n > 0 {
			data := append(line, buf[:n]...)
			completed := 0
			for {
				i := bytes.IndexByte(data, '\n')
				if i < 0 {
					break
				}
				l := data[:i]
				data = data[i+1:]
				if p, ok := bytes.CutPrefix(l, []byte("data:")); ok {
					completed++
					r.events++
					if string(bytes.TrimSpace(p)) == "[DONE]" {
						r.done = true
					}
					if r.events == 1 {
						r.ttfe = at
						if !full {
							return r, nil
						}
					}
				}
			}
			line = append(line[:0], data...)
			if completed > 0 {
				r.arrivals = append(r.arrivals, arrival{at: at, events: completed})
			}
		}
		if errors.Is(err, io.EOF) {
			return r, nil
		}
		if err != nil {
			return r, err
		}
	}
}

// ---- measurements ----

func (b *bench) runAll(ctx context.Context) error {
	b.header()
	var idle float64
	if !b.o.skipMemory {
		if rss, err := rssMB(b.pid); err == nil {
			b.startRSS = rss
		}
		if err := b.warmup(ctx, 200); err != nil {
			return err
		}
		runtime.GC()
		time.Sleep(3 * time.Second)
		var err error
		if idle, err = rssMB(b.pid); err != nil {
			return err
		}
	}
	if err := b.latency(ctx); err != nil {
		return err
	}
	if err := b.throughput(ctx); err != nil {
		return err
	}
	if err := b.streaming(ctx); err != nil {
		return err
	}
	if b.o.skipMemory {
		b.verdicts = append(b.verdicts,
			verdict{name: fmt.Sprintf("memory: idle RSS ≤ %d MB", maxIdleRSSMB), detail: "skipped", skip: true},
			verdict{name: fmt.Sprintf("memory: RSS with %d open streams ≤ %d MB", b.o.openStreams, maxStreamsRSSMB), detail: "skipped", skip: true})
	} else if err := b.memory(ctx, idle); err != nil {
		return err
	}
	b.summary()
	return nil
}

func (b *bench) header() {
	mode := fmt.Sprintf("`bulwark serve` process (pid %d), SQLite", b.pid)
	if b.o.inproc {
		mode = "gateway in the bench process (-inproc), SQLite"
	}
	b.printf("Bulwark proxy benchmark\n")
	b.printf("machine:  %s/%s, %d CPUs (%s), %s, GOMAXPROCS %d\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), runtime.Version(), runtime.GOMAXPROCS(0))
	b.printf("bulwark:  %s; policies %s (%d rules, every built-in LLM rule) and the learned detector, on requests and responses\n",
		mode, strings.Join(policies, " + "), b.nRules)
	b.printf("traffic:  OpenAI chat completions, %d distinct prompts of ~%d bytes of clean English prose (no finding), echoed back by the fake upstream on loopback\n",
		nPrompts, promptSize)
	b.printf("targets:  direct = fake upstream; bare proxy = httputil.ReverseProxy (Rewrite, FlushInterval -1) in this process; bulwark\n\n")
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// refPlaceholder starts every prompt; body writes the request's sequence
// number over its digits, so that no two requests carry the same text and
// Bulwark's clean-text cache (which spares chat history a second scan)
// never answers for a scan: every request is scanned in full.
const refPlaceholder = "Ref 0000000000. "

func (b *bench) body(stream bool) []byte {
	seq := b.seq.Add(1)
	i := int(seq % nPrompts)
	tmpl := b.bodies[i]
	if stream {
		tmpl = b.sbodies[i]
	}
	out := bytes.Clone(tmpl)
	at := bytes.Index(out, []byte(refPlaceholder))
	digits := fmt.Sprintf("%010d", seq%10_000_000_000)
	copy(out[at+len("Ref "):], digits)
	return out
}

// warmup sends n requests to each target, interleaved.
func (b *bench) warmup(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		for _, t := range b.targets {
			if _, err := t.chat(ctx, b.body(false)); err != nil {
				if err := b.failure(t, n, err); err != nil {
					return fmt.Errorf("warm-up: %w", err)
				}
			}
		}
	}
	return nil
}

// failure counts a failed request of t. A rare failure (a connection lost
// on a busy machine) is reported and tolerated; more than 1% of n ends
// the run.
func (b *bench) failure(t *target, n int, err error) error {
	t.errors++
	fmt.Fprintf(b.log, "benchproxy: %s: %v\n", t.name, err)
	if t.errors > max(n/100, 3) {
		return fmt.Errorf("%s: %d failed requests, the last: %w", t.name, t.errors, err)
	}
	return nil
}

// order rotates the targets by round so none is always first.
func (b *bench) order(round int) []*target {
	n := len(b.targets)
	out := make([]*target, n)
	for i := range out {
		out[i] = b.targets[(round+i)%n]
	}
	return out
}

func (b *bench) index(t *target) int { return slices.Index(b.targets, t) }

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func mean(d []time.Duration) time.Duration {
	if len(d) == 0 {
		return 0
	}
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return sum / time.Duration(len(d))
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }

// ratio of Bulwark's added cost to the bare proxy's. A bare proxy that adds
// nothing measurable counts as 1 µs.
func ratio(bulwark, bare time.Duration) float64 {
	return float64(bulwark) / float64(max(bare, time.Microsecond))
}

func (b *bench) check(name string, pass bool, format string, args ...any) {
	b.verdicts = append(b.verdicts, verdict{name: name, pass: pass, detail: fmt.Sprintf(format, args...)})
}

func passFail(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

func (b *bench) table() *tabwriter.Writer {
	return tabwriter.NewWriter(b.out, 0, 0, 2, ' ', tabwriter.AlignRight)
}

func (b *bench) latency(ctx context.Context) error {
	warm := max(b.o.requests/10, 20)
	if err := b.warmup(ctx, warm); err != nil {
		return err
	}
	lat := make([][]time.Duration, len(b.targets))
	for round, done := 0, 0; done < b.o.requests; round++ {
		n := min(b.o.roundSize, b.o.requests-done)
		done += n
		for _, t := range b.order(round) {
			i := b.index(t)
			for range n {
				start := time.Now()
				if _, err := t.chat(ctx, b.body(false)); err != nil {
					if err := b.failure(t, b.o.requests, err); err != nil {
						return fmt.Errorf("latency: %w", err)
					}
					continue
				}
				lat[i] = append(lat[i], time.Since(start))
			}
		}
	}
	b.printf("Latency at concurrency 1: %d requests per target after %d warm-up, alternating in rounds of %d (non-streaming)\n",
		b.o.requests, warm, b.o.roundSize)
	w := b.table()
	fmt.Fprintln(w, "target\tp50\tp90\tp99\tmean\tadded p50\tadded p99\terrors\t")
	d50, d99 := pct(lat[0], .50), pct(lat[0], .99)
	for i, t := range b.targets {
		p50, p99 := pct(lat[i], .50), pct(lat[i], .99)
		a50, a99 := "—", "—"
		if i > 0 {
			a50, a99 = ms(p50-d50), ms(p99-d99)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", t.name, ms(p50), ms(pct(lat[i], .90)), ms(p99), ms(mean(lat[i])), a50, a99, t.errors)
	}
	_ = w.Flush()
	bare50, bare99 := pct(lat[1], .50)-d50, pct(lat[1], .99)-d99
	bw50, bw99 := pct(lat[2], .50)-d50, pct(lat[2], .99)-d99
	r50, r99 := ratio(bw50, bare50), ratio(bw99, bare99)
	b.printf("bulwark added / bare proxy added: p50 %.2f×, p99 %.2f×\n\n", r50, r99)
	b.check(fmt.Sprintf("c=1 added latency p50 ≤ %.1f× bare proxy", maxAddedP50Ratio), r50 <= maxAddedP50Ratio,
		"%.2f× (bulwark +%s, bare +%s)", r50, ms(bw50), ms(bare50))
	b.check(fmt.Sprintf("c=1 added latency p99 ≤ %.1f× bare proxy", maxAddedP99Ratio), r99 <= maxAddedP99Ratio,
		"%.2f× (bulwark +%s, bare +%s)", r99, ms(bw99), ms(bare99))
	return nil
}

func (b *bench) throughput(ctx context.Context) error {
	c := b.o.concurrency
	rounds := max(int(b.o.duration/b.o.throughRound), 1)
	count := make([]int64, len(b.targets))
	errs := make([]int64, len(b.targets))
	elapsed := make([]time.Duration, len(b.targets))
	lat := make([][]time.Duration, len(b.targets))
	var firstErr error
	var errMu sync.Mutex
	for round := 0; round < rounds; round++ {
		for _, t := range b.order(round) {
			i := b.index(t)
			var wg sync.WaitGroup
			var mu sync.Mutex
			var n, ne atomic.Int64
			start := time.Now()
			deadline := start.Add(b.o.throughRound)
			for range c {
				wg.Add(1)
				go func() {
					defer wg.Done()
					var mine []time.Duration
					for time.Now().Before(deadline) {
						s := time.Now()
						if _, err := t.chat(ctx, b.body(false)); err != nil {
							ne.Add(1)
							errMu.Lock()
							if firstErr == nil {
								firstErr = fmt.Errorf("%s: %w", t.name, err)
							}
							errMu.Unlock()
							continue
						}
						mine = append(mine, time.Since(s))
						n.Add(1)
					}
					mu.Lock()
					lat[i] = append(lat[i], mine...)
					mu.Unlock()
				}()
			}
			wg.Wait()
			elapsed[i] += time.Since(start)
			count[i] += n.Load()
			errs[i] += ne.Load()
		}
	}
	b.printf("Throughput at concurrency %d: %d rounds of %s per target, alternating (non-streaming)\n", c, rounds, b.o.throughRound)
	w := b.table()
	fmt.Fprintln(w, "target\treq/s\tp50\tp99\trequests\terrors\t")
	rps := make([]float64, len(b.targets))
	for i, t := range b.targets {
		rps[i] = float64(count[i]) / elapsed[i].Seconds()
		fmt.Fprintf(w, "%s\t%.0f\t%s\t%s\t%d\t%d\t\n", t.name, rps[i], ms(pct(lat[i], .5)), ms(pct(lat[i], .99)), count[i], errs[i])
	}
	_ = w.Flush()
	frac := rps[2] / max(rps[1], 1e-9)
	b.printf("bulwark / bare proxy throughput: %.0f%%\n", frac*100)
	if firstErr != nil {
		b.printf("first error: %v\n", firstErr)
	}
	b.printf("\n")
	b.check(fmt.Sprintf("c=%d throughput ≥ %.0f%% of bare proxy", c, minThroughputFrac*100), frac >= minThroughputFrac && errs[2] == 0,
		"%.0f%% (bulwark %.0f req/s, bare %.0f req/s, bulwark errors %d)", frac*100, rps[2], rps[1], errs[2])
	return nil
}

func (b *bench) streaming(ctx context.Context) error {
	ttfe := make([][]time.Duration, len(b.targets))
	b.cancelling.Store(true)
	for round := 0; round < b.o.streams; round++ {
		for _, t := range b.order(round) {
			if err := t.warm(ctx); err != nil {
				return fmt.Errorf("stream %s: %w", t.name, err)
			}
			r, err := t.stream(ctx, b.body(true), false)
			if err != nil {
				return fmt.Errorf("stream %s: %w", t.name, err)
			}
			ttfe[b.index(t)] = append(ttfe[b.index(t)], r.ttfe)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the last cancellation settle
	b.cancelling.Store(false)
	// Framing: one full stream per target, at the same time (they are idle
	// between events).
	full := make([]streamResult, len(b.targets))
	ferr := make([]error, len(b.targets))
	var wg sync.WaitGroup
	for i, t := range b.targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			full[i], ferr[i] = t.stream(ctx, b.body(true), true)
		}()
	}
	wg.Wait()
	for i, err := range ferr {
		if err != nil {
			return fmt.Errorf("full stream %s: %w", b.targets[i].name, err)
		}
	}
	b.printf("Streaming: %d deltas %d ms apart; time to first event (request start to the first data: event read) over %d streams per target, alternating;\n",
		streamChunks, streamDelayMs, b.o.streams)
	b.printf("framing from one full stream per target (an arrival is a read completing events; gaps between arrivals)\n")
	w := b.table()
	fmt.Fprintln(w, "target\tTTFE p50\tTTFE p90\tadded p50\tevents\tarrivals\tmulti-event\tgaps ≥10ms\tmin gap\t")
	d50 := pct(ttfe[0], .5)
	frames := make([]bool, len(b.targets))
	for i, t := range b.targets {
		f := full[i]
		multi, gaps := 0, 0
		minGap := time.Duration(-1)
		for j, a := range f.arrivals {
			if a.events > 1 {
				multi++
			}
			if j > 0 {
				g := a.at - f.arrivals[j-1].at
				if g >= 10*time.Millisecond {
					gaps++
				}
				if minGap < 0 || g < minGap {
					minGap = g
				}
			}
		}
		frames[i] = f.done && multi == 0 && len(f.arrivals) >= streamChunks && gaps >= streamChunks-1
		added := "—"
		if i > 0 {
			added = ms(pct(ttfe[i], .5) - d50)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\t\n", t.name, ms(pct(ttfe[i], .5)), ms(pct(ttfe[i], .9)), added,
			f.events, len(f.arrivals), multi, gaps, ms(minGap))
	}
	_ = w.Flush()
	bare, bw := pct(ttfe[1], .5)-d50, pct(ttfe[2], .5)-d50
	r := ratio(bw, bare)
	b.printf("bulwark added TTFE / bare proxy added TTFE: %.2f×\n\n", r)
	b.check(fmt.Sprintf("streaming added TTFE ≤ %.1f× bare proxy", maxAddedTTFERatio), r <= maxAddedTTFERatio,
		"%.2f× (bulwark +%s, bare +%s)", r, ms(bw), ms(bare))
	f := full[2]
	b.check("streaming: every event its own frame, with scanning on", frames[2],
		"%d events in %d arrivals, none coalesced: %v", f.events, len(f.arrivals), frames[2])
	return nil
}

// ---- memory ----

func rssMB(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
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

// openFilesLimit is the soft RLIMIT_NOFILE of a process.
func openFilesLimit(pid int) (int, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(l, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if f[0] == "unlimited" {
					return 1 << 30, nil
				}
				return strconv.Atoi(f[0])
			}
		}
	}
	return 0, errors.New("no open files limit")
}

func (b *bench) memory(ctx context.Context, idle float64) error {
	n := b.o.openStreams
	b.printf("Memory: RSS of the bulwark serve process (VmRSS)\n")
	b.check(fmt.Sprintf("memory: idle RSS ≤ %d MB", maxIdleRSSMB), idle <= maxIdleRSSMB, "%.1f MB (after warm-up and a 3 s pause)", idle)

	need := 2*n + 256
	mine, err := openFilesLimit(os.Getpid())
	if err != nil {
		return err
	}
	theirs, err := openFilesLimit(b.pid)
	if err != nil {
		return err
	}
	if mine < need || theirs < need {
		b.printf("open files limit too low for %d streams (bench %d, bulwark %d, need %d): raise ulimit -n\n\n", n, mine, theirs, need)
		b.verdicts = append(b.verdicts, verdict{name: fmt.Sprintf("memory: RSS with %d open streams ≤ %d MB", n, maxStreamsRSSMB),
			detail: fmt.Sprintf("skipped: open files limit %d/%d < %d", mine, theirs, need), skip: true})
		return nil
	}

	// n streams of 20 events 500 ms apart: each stays open ~10 s.
	client := &http.Client{Transport: &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxConnsPerHost:     n + 16,
		MaxIdleConnsPerHost: n + 16,
		DisableCompression:  true,
	}}
	defer client.CloseIdleConnections()
	t := *b.targets[2]
	t.client = client
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var opened, finished, failed atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	fail := func(err error) {
		failed.Add(1)
		errMu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		errMu.Unlock()
	}
	allOpen := make(chan struct{})
	var wg sync.WaitGroup
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := t.newRequest(sctx, b.body(true))
			req.Header.Set("X-Fake-Chunks", "20")
			req.Header.Set("X-Fake-Delay-Ms", "500")
			resp, err := t.client.Do(req)
			if err != nil {
				if sctx.Err() == nil {
					fail(err)
				}
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				fail(fmt.Errorf("status %d", resp.StatusCode))
				return
			}
			br := bufio.NewReader(resp.Body)
			first := true
			for {
				l, err := br.ReadString('\n')
				if err != nil {
					break
				}
				if first && strings.HasPrefix(l, "data:") {
					first = false
					if opened.Add(1) == int64(n) {
						close(allOpen)
					}
				}
			}
			if sctx.Err() == nil {
				finished.Add(1)
			}
		}()
	}
	var atOpen, peak float64
	var openAt time.Duration
	var stillOpen int64
	select {
	case <-allOpen:
		openAt = time.Since(start)
		stillOpen = opened.Load() - finished.Load()
		atOpen, err = rssMB(b.pid)
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		peak = atOpen
		// Sample a little longer, while every stream is still open.
		for end := time.Now().Add(2 * time.Second); time.Now().Before(end) && finished.Load() == 0; {
			time.Sleep(100 * time.Millisecond)
			if m, err := rssMB(b.pid); err == nil && finished.Load() == 0 {
				peak = max(peak, m)
			}
		}
	case <-time.After(30 * time.Second):
	}
	cancel()
	wg.Wait()
	allWereOpen := stillOpen == int64(n) && failed.Load() == 0
	if !allWereOpen {
		errMu.Lock()
		defer errMu.Unlock()
		b.printf("only %d of %d streams were open at once (%d failed, first error: %v)\n", stillOpen, n, failed.Load(), firstErr)
	}
	// Idle again after the whole run.
	runtime.GC()
	time.Sleep(3 * time.Second)
	after, err := rssMB(b.pid)
	if err != nil {
		return err
	}
	w := b.table()
	fmt.Fprintln(w, "state\tRSS\t")
	fmt.Fprintf(w, "after start-up (ready, one request)\t%.1f MB\t\n", b.startRSS)
	fmt.Fprintf(w, "idle after warm-up (3 s pause)\t%.1f MB\t\n", idle)
	fmt.Fprintf(w, "%d streams open (all opened in %.1f s)\t%.1f MB\t\n", stillOpen, openAt.Seconds(), atOpen)
	fmt.Fprintf(w, "peak over 2 s with them open\t%.1f MB\t\n", peak)
	fmt.Fprintf(w, "idle after the whole run (3 s pause)\t%.1f MB\t\n", after)
	_ = w.Flush()
	b.printf("open files limit: bench %d, bulwark %d\n\n", mine, theirs)
	b.check(fmt.Sprintf("memory: RSS with %d open streams ≤ %d MB", n, maxStreamsRSSMB), allWereOpen && peak <= maxStreamsRSSMB,
		"%.1f MB peak (%.1f MB when all %d were open; all open: %v)", peak, atOpen, n, allWereOpen)
	return nil
}

func (b *bench) summary() {
	b.printf("Targets\n")
	pass := 0
	for _, v := range b.verdicts {
		tag := passFail(v.pass)
		if v.skip {
			tag = "SKIP"
		} else if v.pass {
			pass++
		}
		b.printf("  %s  %-48s %s\n", tag, v.name, v.detail)
	}
	n := 0
	for _, v := range b.verdicts {
		if !v.skip {
			n++
		}
	}
	result := "PASS"
	if pass < n {
		result = "FAIL"
	}
	b.printf("%s: %d of %d targets met\n", result, pass, n)
}
