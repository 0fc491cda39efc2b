package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Timeouts. Generous, because the machine may be busy (-race, parallel
// tests, a cold page cache), but every wait is a poll that ends as soon as
// the condition holds.
const (
	startTimeout = 45 * time.Second // process start → "bulwark is serving" → /readyz 200
	stopTimeout  = 15 * time.Second // SIGTERM → exit
	cliTimeout   = 60 * time.Second
	pollEvery    = 20 * time.Millisecond
)

// proc is one running `bulwark serve`. Its stdout and stderr go to files
// (not pipes), so whatever the process wrote before a line we observe is
// already in the files: the first-admin box on stdout precedes the
// "bulwark is serving" log line on stderr.
type proc struct {
	t      *testing.T
	name   string
	cmd    *exec.Cmd
	outLog string // stdout file
	errLog string // stderr file
	done   chan struct{}
	exited atomic.Bool

	// URL is the base URL parsed from the "bulwark is serving" log line.
	URL string
	// HTTP is the client used for readiness polls (TLS trust for HTTPS).
	HTTP *http.Client
}

type serveOpts struct {
	args []string // after "serve"
	env  []string // added to the scrubbed environment
	http *http.Client
}

var procSeq atomic.Int64

// startProc starts `bulwark <args…>` without waiting for anything.
func startProc(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	dir := t.TempDir()
	n := procSeq.Add(1)
	p := &proc{
		t: t, name: name, done: make(chan struct{}),
		outLog: filepath.Join(dir, fmt.Sprintf("%s-%d.stdout", name, n)),
		errLog: filepath.Join(dir, fmt.Sprintf("%s-%d.stderr", name, n)),
	}
	stdout, err := os.Create(p.outLog)
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := os.Create(p.errLog)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Env = baseEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = stdout, stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	// The child has its own copies of the descriptors.
	stdout.Close()
	stderr.Close()
	go func() {
		_ = p.cmd.Wait()
		p.exited.Store(true)
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("--- %s stdout ---\n%s", p.name, p.stdout())
			t.Logf("--- %s stderr ---\n%s", p.name, p.stderr())
		}
	})
	return p
}

// startServer starts `bulwark serve` and waits until it serves and /readyz
// answers 200.
func startServer(t *testing.T, name string, o serveOpts) *proc {
	t.Helper()
	p := startProc(t, name, o.env, append([]string{"serve"}, o.args...)...)
	p.HTTP = o.http
	if p.HTTP == nil {
		p.HTTP = &http.Client{Timeout: 10 * time.Second}
	}
	p.waitReady()
	return p
}

func (p *proc) stdout() string { b, _ := os.ReadFile(p.outLog); return string(b) }
func (p *proc) stderr() string { b, _ := os.ReadFile(p.errLog); return string(b) }

// output is stdout and stderr together, for error-message checks.
func (p *proc) output() string { return p.stdout() + p.stderr() }

var textURL = regexp.MustCompile(`msg="bulwark is serving".*\burl=(\S+)`)

// servingURL finds the base URL in the "bulwark is serving" line, in text
// or JSON log format.
func servingURL(stderr string) string {
	for line := range strings.SplitSeq(stderr, "\n") {
		if !strings.Contains(line, "bulwark is serving") {
			continue
		}
		if m := textURL.FindStringSubmatch(line); m != nil {
			return m[1]
		}
		var rec struct {
			Msg string `json:"msg"`
			URL string `json:"url"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "bulwark is serving" && rec.URL != "" {
			return rec.URL
		}
	}
	return ""
}

// waitReady waits for the serving log line, then for /readyz to answer 200.
func (p *proc) waitReady() {
	p.t.Helper()
	if err := p.ready(); err != nil {
		p.t.Fatal(err)
	}
}

// ready is waitReady returning an error, for use off the test goroutine.
func (p *proc) ready() error {
	deadline := time.Now().Add(startTimeout)
	for p.URL == "" {
		if u := servingURL(p.stderr()); u != "" {
			p.URL = u
			break
		}
		if p.exited.Load() {
			return fmt.Errorf("%s exited with code %d before serving:\n%s", p.name, p.cmd.ProcessState.ExitCode(), p.output())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not log \"bulwark is serving\" within %s:\n%s", p.name, startTimeout, p.output())
		}
		time.Sleep(pollEvery)
	}
	var last string
	for {
		resp, err := p.HTTP.Get(p.URL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if p.exited.Load() {
			return fmt.Errorf("%s exited while waiting for /readyz:\n%s", p.name, p.output())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: /readyz not 200 within %s (last: %s)", p.name, startTimeout, last)
		}
		time.Sleep(pollEvery)
	}
}

// waitExit waits for the process to end and returns its exit code.
func (p *proc) waitExit(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		p.t.Fatalf("%s still running after %s:\n%s", p.name, timeout, p.output())
		return -1
	}
}

// stop sends SIGTERM and requires a clean exit (code 0) within stopTimeout.
func (p *proc) stop() {
	p.t.Helper()
	p.signal(syscall.SIGTERM)
	if code := p.waitExit(stopTimeout); code != 0 {
		p.t.Fatalf("%s exited with code %d after SIGTERM:\n%s", p.name, code, p.output())
	}
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if p.exited.Load() {
		return
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Fatalf("signal %s: %v", p.name, err)
	}
}

// kill ends the process if it still runs (SIGTERM, then SIGKILL) and waits
// for it. Used in cleanup.
func (p *proc) kill() {
	if p.exited.Load() {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return
	case <-time.After(10 * time.Second):
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// waitLog waits until stderr contains s.
func (p *proc) waitLog(s string, timeout time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stderr(), s) {
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: no %q in the log within %s:\n%s", p.name, s, timeout, p.output())
		}
		time.Sleep(pollEvery)
	}
}

var passwordLine = regexp.MustCompile(`(?m)^\|\s+password:\s+(\S+)\s+\|\s*$`)

// adminPasswords returns every first-admin password printed on stdout.
func adminPasswords(stdout string) []string {
	var out []string
	for _, m := range passwordLine.FindAllStringSubmatch(stdout, -1) {
		out = append(out, m[1])
	}
	return out
}

// adminPassword returns the one first-admin password printed on stdout.
func (p *proc) adminPassword() string {
	p.t.Helper()
	pws := adminPasswords(p.stdout())
	if len(pws) != 1 {
		p.t.Fatalf("%s: want exactly one first-admin password on stdout, got %d:\n%s", p.name, len(pws), p.stdout())
	}
	return pws[0]
}

// cliResult is the outcome of a one-shot bulwark command.
type cliResult struct {
	Stdout, Stderr string
	Code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit code %d\nstdout:\n%s\nstderr:\n%s", r.Code, r.Stdout, r.Stderr)
}

// runCLI runs `bulwark args…` to completion with stdin and extra env.
func runCLI(t *testing.T, stdin string, env []string, args ...string) cliResult {
	t.Helper()
	return runCLITimeout(t, cliTimeout, stdin, env, args...)
}

func runCLITimeout(t *testing.T, timeout time.Duration, stdin string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = baseEnv(env...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.Code = ee.ExitCode()
	default:
		t.Fatalf("bulwark %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("bulwark %s: did not finish within %s\n%s", strings.Join(args, " "), timeout, res)
	}
	return res
}

// runServeExpectFailure runs `bulwark serve args…`, which must exit on its
// own (a start-up error) with a non-zero code; it returns the result.
func runServeExpectFailure(t *testing.T, env []string, args ...string) cliResult {
	t.Helper()
	// A start-up error comes within a second or two; a server that starts
	// instead is killed at the timeout and fails the test.
	res := runCLITimeout(t, 20*time.Second, "", env, append([]string{"serve"}, args...)...)
	if res.Code == 0 {
		t.Fatalf("bulwark serve %s: exit code 0, want a failure\n%s", strings.Join(args, " "), res)
	}
	return res
}
