package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// instance is one proxy at run time.
type instance struct {
	name    string
	handler atomic.Pointer[handlerBox] // swapped on reload; nil when not running
	stats   *stats

	mu     sync.Mutex
	cfg    *bulwark.Proxy // the config the handler was built from
	status Status
	srv    *http.Server
	ln     net.Listener
	addr   string // configured listen address of srv
	held   bool   // auto-start is off and no operator has started it in this process
	mcp    *mcpRuntime
}

// closeMCP ends the sessions of an MCP proxy that stops.
func (in *instance) closeMCP() {
	in.mu.Lock()
	rt := in.mcp
	in.mcp = nil
	in.mu.Unlock()
	if rt != nil {
		rt.close()
	}
}

type handlerBox struct{ h http.Handler }

func newInstance(name string) *instance {
	return &instance{name: name, stats: newStats(), status: Status{State: StateStopped, Since: time.Now()}}
}

func (in *instance) getStatus() Status {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.status
}

func (in *instance) listenAddr() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.addr
}

// setStatus records a state change and announces it as an event.
func (in *instance) setStatus(g *Gateway, state State, reason, addr string) {
	in.mu.Lock()
	prev := in.status
	if prev.State == state && prev.Reason == reason && prev.Addr == addr {
		in.mu.Unlock()
		return
	}
	in.status = Status{State: state, Reason: reason, Since: g.o.Now().UTC(), Addr: addr}
	in.mu.Unlock()
	g.metrics.setUp(in.name, state == StateRunning)
	sev := bulwark.SeverityInfo
	if state == StateError {
		sev = bulwark.SeverityHigh
	}
	subject := fmt.Sprintf("Proxy %s is %s", in.name, state)
	if reason != "" {
		subject += ": " + reason
	}
	g.rec.publish(bulwark.Event{
		Type:     bulwark.EventProxyStatus,
		Action:   "proxy." + string(state),
		Severity: sev,
		Actor:    "gateway",
		Subject:  subject,
		Data:     mustJSON(map[string]any{"proxy": in.name, "state": state, "previous": prev.State, "reason": reason, "addr": addr}),
	})
	if state == StateError {
		g.log.Error("proxy failed", "proxy", in.name, "reason", reason)
	} else {
		g.log.Info("proxy status", "proxy", in.name, "state", state, "addr", addr, "reason", reason)
	}
}

// ServeHTTP runs the current handler, or answers 503 in the client's
// protocol while the proxy is stopped or broken.
func (in *instance) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b := in.handler.Load(); b != nil {
		b.h.ServeHTTP(w, r)
		return
	}
	st := in.getStatus()
	msg := fmt.Sprintf("Proxy %q is %s.", in.name, st.State)
	if st.Reason != "" {
		msg = fmt.Sprintf("Proxy %q is %s: %s.", in.name, st.State, st.Reason)
	}
	writeGatewayError(w, r, http.StatusServiceUnavailable, "proxy_unavailable", msg)
}

// apply makes the instance match p.
func (in *instance) apply(ctx context.Context, g *Gateway, p *bulwark.Proxy) {
	in.mu.Lock()
	held := in.held
	in.mu.Unlock()
	if held && p.Enabled {
		in.handler.Store(nil)
		in.stopListener(ctx)
		in.closeMCP()
		in.mu.Lock()
		in.cfg = p
		in.mu.Unlock()
		in.setStatus(g, StateStopped, "auto-start is off: start it to serve", "")
		return
	}
	if !p.Enabled {
		in.handler.Store(nil)
		in.stopListener(ctx)
		in.closeMCP()
		in.mu.Lock()
		in.cfg = p
		in.mu.Unlock()
		in.setStatus(g, StateStopped, "stopped by an operator", "")
		return
	}
	h, err := g.build(ctx, p, in)
	if err != nil {
		// Fail closed: a proxy whose policies or prompts cannot be built
		// refuses traffic rather than forwarding it uninspected.
		in.handler.Store(nil)
		in.closeMCP()
		in.mu.Lock()
		in.cfg = p
		in.mu.Unlock()
		in.setStatus(g, StateError, err.Error(), "")
		return
	}
	addr := "/p/" + p.Name + "/"
	if p.ListenAddr != "" {
		bound, err := in.ensureListener(ctx, g, p.ListenAddr)
		if err != nil {
			in.handler.Store(nil)
			in.setStatus(g, StateError, err.Error(), "")
			return
		}
		addr = bound
	} else {
		in.stopListener(ctx)
	}
	in.handler.Store(&handlerBox{h})
	in.mu.Lock()
	in.cfg = p
	in.mu.Unlock()
	in.setStatus(g, StateRunning, "", addr)
}

// ensureListener serves the instance on addr, replacing a listener on
// another address (the old one drains in the background).
func (in *instance) ensureListener(ctx context.Context, g *Gateway, addr string) (string, error) {
	in.mu.Lock()
	if in.srv != nil && in.addr == addr {
		bound := in.ln.Addr().String()
		in.mu.Unlock()
		return bound, nil
	}
	in.mu.Unlock()
	ln, err := listen(addr)
	if err != nil {
		return "", err
	}
	srv := &http.Server{
		Handler:           in,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          nil,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			g.log.Error("proxy listener stopped", "proxy", in.name, "err", err)
			in.setStatus(g, StateError, err.Error(), "")
		}
	}()
	in.mu.Lock()
	old := in.srv
	in.srv, in.ln, in.addr = srv, ln, addr
	in.mu.Unlock()
	if old != nil {
		go drain(old)
	}
	return ln.Addr().String(), nil
}

// stopListener closes the proxy's own listener; requests in flight finish
// until ctx ends.
func (in *instance) stopListener(ctx context.Context) {
	in.mu.Lock()
	srv := in.srv
	in.srv, in.ln, in.addr = nil, nil, ""
	in.mu.Unlock()
	if srv == nil {
		return
	}
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

func drain(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		_ = srv.Close()
	}
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`{}`)
	}
	return b
}
