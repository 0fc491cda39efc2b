package mcp

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/time/rate"

	bulwark "github.com/bulwarkhq/bulwark"
)

// AllowedCommandsSetting names the operator setting behind
// Dialer.AllowedCommands in error messages.
const AllowedCommandsSetting = "mcp.allowed-commands"

// ErrCommandNotAllowed is returned (wrapped) when a stdio server's command is
// not allowed by Dialer.AllowedCommands.
var ErrCommandNotAllowed = errors.New("command not allowed")

// How long Close waits for a stdio server to exit: first after closing its
// standard input (the MCP shutdown sequence), then after SIGTERM, before it
// sends SIGKILL to the process group. Variables for tests.
var (
	stdioStdinGrace = time.Second
	stdioTermGrace  = 5 * time.Second
)

// Standard error of a stdio server goes to the log line by line: lines are
// cut at stderrMaxLine bytes and at most stderrLinesPerSecond (bursts of
// stderrBurst) are logged; the rest are counted and reported as dropped.
const (
	stderrMaxLine        = 2048
	stderrLinesPerSecond = 20
	stderrBurst          = 100
)

// baseEnvVars are the only variables of Bulwark's own environment a stdio
// server inherits: the rest (database URL, keys, provider credentials) must
// not leak into a third-party process.
var baseEnvVars = []string{"PATH", "HOME", "LANG"}

// resolveCommand checks command against the allow-list and returns the
// absolute path to run.
func (d *Dialer) resolveCommand(command string) (string, error) {
	if command == "" {
		return "", errors.New("no command configured")
	}
	listed := func(c string) bool { return slices.Contains(d.AllowedCommands, c) }
	if filepath.IsAbs(command) {
		clean := filepath.Clean(command)
		if len(d.AllowedCommands) > 0 && !listed(command) && !listed(clean) {
			return "", fmt.Errorf("%w: %q is not in the operator setting %s", ErrCommandNotAllowed, command, AllowedCommandsSetting)
		}
		return clean, nil
	}
	if strings.ContainsRune(command, '/') || strings.ContainsRune(command, filepath.Separator) {
		return "", fmt.Errorf("%w: %q must be an absolute path or a bare command name listed in the operator setting %s", ErrCommandNotAllowed, command, AllowedCommandsSetting)
	}
	if !listed(command) {
		return "", fmt.Errorf("%w: %q is a command name, not an absolute path, and is not in the operator setting %s", ErrCommandNotAllowed, command, AllowedCommandsSetting)
	}
	p, err := exec.LookPath(command)
	if err != nil {
		return "", fmt.Errorf("command %q not found on PATH: %w", command, err)
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("command %q resolves to the relative path %q", command, p)
	}
	return p, nil
}

// stdioEnv is the environment of a stdio server: PATH, HOME and LANG from
// Bulwark's environment, then the configured variables.
func stdioEnv(extra map[string]string) []string {
	env := make(map[string]string, len(baseEnvVars)+len(extra))
	for _, k := range baseEnvVars {
		if v, ok := os.LookupEnv(k); ok {
			env[k] = v
		}
	}
	if _, ok := env["PATH"]; !ok {
		env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
	}
	for k, v := range extra {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// dialStdio starts the server's process and connects to its standard input
// and output.
func (d *Dialer) dialStdio(name string, cfg *bulwark.MCPConfig) (*stdioConn, error) {
	path, err := d.resolveCommand(cfg.Command)
	if err != nil {
		return nil, fmt.Errorf("mcp: stdio server %s: %w", name, err)
	}
	cmd := &exec.Cmd{
		Path:        path,
		Args:        append([]string{cfg.Command}, cfg.Args...),
		Env:         stdioEnv(cfg.Env),
		Dir:         cfg.Dir,
		SysProcAttr: stdioSysProcAttr(),
	}
	// Pipes of our own rather than cmd.StdoutPipe: Wait then reaps the
	// process as soon as it exits without racing the readers.
	inR, inW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("mcp: stdio server %s: %w", name, err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		return nil, fmt.Errorf("mcp: stdio server %s: %w", name, err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		inR.Close()
		inW.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("mcp: stdio server %s: %w", name, err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, errW
	err = cmd.Start()
	// The child has its ends now (or never will).
	inR.Close()
	outW.Close()
	errW.Close()
	if err != nil {
		inW.Close()
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("mcp: stdio server %s: starting %s: %w", name, path, err)
	}
	log := d.logger().With("mcp_server", name, "pid", cmd.Process.Pid)
	log.Info("mcp stdio server started", "command", path)
	conn, err := (&sdk.IOTransport{Reader: outR, Writer: inW, MaxLineLength: d.maxMessage()}).Connect(context.Background())
	if err != nil { // not with IOTransport, which cannot fail
		inW.Close()
		outR.Close()
		errR.Close()
		killGroup(cmd.Process, true)
		_ = cmd.Wait()
		return nil, fmt.Errorf("mcp: stdio server %s: %w", name, err)
	}
	c := &stdioConn{
		Connection: conn,
		name:       name,
		log:        log,
		cmd:        cmd,
		stdin:      inW,
		stderr:     errR,
		exited:     make(chan struct{}),
		stderrDone: make(chan struct{}),
	}
	go c.reap()
	go c.logStderr()
	return c, nil
}

// stdioConn is the connection to a stdio server's process. Closing it ends
// the process and every process of its group.
type stdioConn struct {
	sdk.Connection // newline-delimited JSON over the pipes
	name           string
	log            *slog.Logger
	cmd            *exec.Cmd
	stdin          *os.File
	stderr         *os.File

	exited     chan struct{} // closed once the process is reaped
	waitErr    error         // how it ended; set before exited is closed
	stderrDone chan struct{}
	closing    atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

// PID is the server's process id.
func (c *stdioConn) PID() int { return c.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (c *stdioConn) Exited() <-chan struct{} { return c.exited }

func (c *stdioConn) reap() {
	err := c.cmd.Wait()
	c.waitErr = err
	close(c.exited)
	switch {
	case c.closing.Load():
		c.log.Debug("mcp stdio server stopped", "status", exitStatus(err))
	case err != nil:
		c.log.Warn("mcp stdio server exited", "status", exitStatus(err))
	default:
		c.log.Info("mcp stdio server exited", "status", exitStatus(err))
	}
}

func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// Read reads the server's next message; once the process is gone, the error
// says how it ended.
func (c *stdioConn) Read(ctx context.Context) (jsonrpc.Message, error) {
	msg, err := c.Connection.Read(ctx)
	if err != nil && ctx.Err() == nil && !c.closing.Load() {
		select {
		case <-c.exited:
			err = fmt.Errorf("%w (mcp stdio server %s: %s)", err, c.name, exitStatus(c.waitErr))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return msg, err
}

// Close ends the server: it closes the server's standard input, waits a
// moment for it to exit, sends SIGTERM and then SIGKILL to its process group,
// and reaps it. It returns once the process is gone.
func (c *stdioConn) Close() error {
	c.closeOnce.Do(func() {
		c.closing.Store(true)
		c.stdin.Close()
		if !waitClosed(c.exited, stdioStdinGrace) {
			killGroup(c.cmd.Process, false)
			if !waitClosed(c.exited, stdioTermGrace) {
				c.log.Warn("mcp stdio server ignored SIGTERM; killing it")
			}
		}
		// SIGKILL the group even when the leader exited, so that no child it
		// left behind survives.
		killGroup(c.cmd.Process, true)
		if !waitClosed(c.exited, 10*time.Second) {
			c.closeErr = fmt.Errorf("mcp stdio server %s (pid %d) did not exit after SIGKILL", c.name, c.PID())
		}
		c.Connection.Close()
		c.stderr.Close()
		<-c.stderrDone
	})
	return c.closeErr
}

func waitClosed(ch <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
		return false
	}
}

// logStderr logs the server's standard error line by line, bounded in line
// length and rate so that a flooding server cannot fill the log. It always
// drains the pipe, so the server never blocks on a full one.
func (c *stdioConn) logStderr() {
	defer close(c.stderrDone)
	lim := rate.NewLimiter(stderrLinesPerSecond, stderrBurst)
	dropped := 0
	emit := func(line []byte, truncated bool) {
		if !lim.Allow() {
			dropped++
			return
		}
		if dropped > 0 {
			c.log.Warn("mcp stdio server stderr: lines dropped (rate limit)", "dropped", dropped)
			dropped = 0
		}
		s := strings.ToValidUTF8(strings.TrimRight(string(line), "\r\n"), "\uFFFD")
		if truncated {
			c.log.Info("mcp stdio server stderr", "line", s, "truncated", true)
		} else {
			c.log.Info("mcp stdio server stderr", "line", s)
		}
	}
	br := bufio.NewReaderSize(c.stderr, 4096)
	line := make([]byte, 0, 256)
	truncated := false
	for {
		frag, err := br.ReadSlice('\n')
		if room := stderrMaxLine - len(line); len(frag) > room {
			line = append(line, frag[:room]...)
			if len(bytesTrimNewline(frag[room:])) > 0 {
				truncated = true
			}
		} else {
			line = append(line, frag...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(line) > 0 {
			emit(line, truncated)
		}
		line, truncated = line[:0], false
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				c.log.Debug("mcp stdio server stderr: read", "err", err)
			}
			break
		}
	}
	if dropped > 0 {
		c.log.Warn("mcp stdio server stderr: lines dropped (rate limit)", "dropped", dropped)
	}
}

func bytesTrimNewline(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
