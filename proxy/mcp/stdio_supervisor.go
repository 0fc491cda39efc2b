package mcp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	bulwark "github.com/bulwarkhq/bulwark"
)

// ErrSupervisorClosed is returned by Supervisor.Conn after Close.
var ErrSupervisorClosed = errors.New("mcp: stdio supervisor closed")

// Restart backoff of a Supervisor: the first restart waits backoffMin, each
// further one twice as long up to backoffMax, and a process that ran for
// healthyAfter resets the wait. Variables for tests.
var (
	supervisorBackoffMin   = 200 * time.Millisecond
	supervisorBackoffMax   = 30 * time.Second
	supervisorHealthyAfter = 60 * time.Second
)

// A Supervisor keeps one stdio server process running for a proxy ("one
// process per proxy" mode): it starts the process on the first Conn and
// starts it again, with exponential backoff, whenever it exits.
//
// A restart loses the server's session state: the new process has not been
// initialised, and whatever the old one held (subscriptions, open resources,
// in-flight requests, anything the server kept in memory) is gone. Requests
// in flight get an error from Read on the old connection. The OnRestart hooks
// run after each restart so that the relay can initialise the new process
// before it relays anything else.
//
// Closing a connection returned by Conn ends its process; the Supervisor then
// starts a new one (counted as a restart).
type Supervisor struct {
	d    *Dialer
	name string
	cfg  *bulwark.MCPConfig

	ctx    context.Context
	cancel context.CancelFunc
	start  sync.Once
	done   chan struct{} // closed when the run loop has ended

	mu        sync.Mutex
	conn      *stdioConn
	lastErr   error         // why the last start failed; nil once one succeeds
	changed   chan struct{} // closed and replaced whenever conn or lastErr changes
	restarts  int
	onRestart []func()
}

// NewSupervisor returns a Supervisor for the stdio server of proxy name. It
// starts nothing until the first Conn.
func NewSupervisor(d *Dialer, name string, cfg *bulwark.MCPConfig) *Supervisor {
	ctx, cancel := context.WithCancel(context.Background())
	return &Supervisor{
		d:       d,
		name:    name,
		cfg:     cfg,
		ctx:     ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
		changed: make(chan struct{}),
	}
}

// Conn returns the connection to the running process, starting it on the
// first call. While the process is being restarted, Conn waits for the new
// one until ctx ends; when the last attempt to start it failed (for example
// because its command is not allowed or not found), Conn returns that error
// at once.
func (s *Supervisor) Conn(ctx context.Context) (sdk.Connection, error) {
	s.start.Do(func() { go s.run() })
	for {
		s.mu.Lock()
		conn, lastErr, changed := s.conn, s.lastErr, s.changed
		s.mu.Unlock()
		switch {
		case s.ctx.Err() != nil:
			return nil, ErrSupervisorClosed
		case conn != nil:
			return conn, nil
		case lastErr != nil:
			return nil, lastErr
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, fmt.Errorf("mcp: stdio server %s is not running: %w", s.name, ctx.Err())
		case <-s.ctx.Done():
			return nil, ErrSupervisorClosed
		}
	}
}

// Restarts is how many times the process was started again after the first
// start.
func (s *Supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.restarts
}

// OnRestart adds f to the functions called after each restart, once the new
// process is running (Conn returns it). They run one after the other on the
// Supervisor's goroutine: they may call Conn, and should not block for long,
// since the Supervisor notices the next exit only after they return.
func (s *Supervisor) OnRestart(f func()) {
	s.mu.Lock()
	s.onRestart = append(s.onRestart, f)
	s.mu.Unlock()
}

// Close stops supervising and ends the process (see the stdio Close: stdin
// closed, SIGTERM, then SIGKILL to its process group). It returns once the
// process is gone.
func (s *Supervisor) Close() error {
	s.cancel()
	s.start.Do(func() { close(s.done) }) // never started
	<-s.done
	return nil
}

// set publishes a new state and wakes the waiting Conn calls.
func (s *Supervisor) set(conn *stdioConn, err error) {
	s.mu.Lock()
	s.conn, s.lastErr = conn, err
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Supervisor) run() {
	defer close(s.done)
	log := s.d.logger().With("mcp_server", s.name)
	backoff := supervisorBackoffMin
	started := false
	for {
		conn, err := s.d.dialStdio(s.name, s.cfg)
		if err != nil {
			log.Error("mcp stdio server: start failed", "err", err, "retry_in", backoff)
			s.set(nil, err)
		} else {
			began := time.Now()
			s.set(conn, nil)
			if started {
				s.mu.Lock()
				s.restarts++
				hooks := append([]func(){}, s.onRestart...)
				s.mu.Unlock()
				for _, f := range hooks {
					f()
				}
			}
			started = true
			select {
			case <-conn.Exited():
			case <-s.ctx.Done():
			}
			s.set(nil, nil)
			conn.Close() // reaps it, and any process left in its group
			if s.ctx.Err() != nil {
				return
			}
			if time.Since(began) >= supervisorHealthyAfter {
				backoff = supervisorBackoffMin
			}
			log.Warn("mcp stdio server exited; restarting", "after", backoff)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
		backoff = min(backoff*2, supervisorBackoffMax)
	}
}
