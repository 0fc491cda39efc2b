package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/langfuse"
)

// Keyring decrypts integration secrets (*secret.Keyring is one).
type Keyring interface {
	DecryptString(ciphertext, associatedData string) (string, error)
}

// Dispatcher runs the sinks (*events.Dispatcher is one).
type Dispatcher interface {
	SetSinks(sinks []events.Sink)
	Health() map[string]events.SinkHealth
}

// Router routes published events to sinks (*events.Bus is one).
type Router interface {
	SetRoutes(routes []events.Route)
}

// Options configure a Manager.
type Options struct {
	Store      bulwark.IntegrationStore // required
	Keyring    Keyring                  // nil: integrations with secrets cannot be built
	Dispatcher Dispatcher               // required
	Router     Router                   // required
	Log        *slog.Logger             // nil discards
	// TestTimeout bounds one Test delivery (default 15 s).
	TestTimeout time.Duration
	// Requests is the request log and cursor store of integrations that
	// tail it (Langfuse); nil takes Store when it is one (*store.DB is),
	// otherwise such integrations are not started.
	Requests langfuse.Store
	// Publisher announces tailers' health transitions; nil takes Router
	// when it is one (*events.Bus is).
	Publisher events.Publisher
	// Registerer exports tailers' bulwark_integration_* metrics (nil: not
	// exported).
	Registerer prometheus.Registerer
	// Tail tunes the tailers (tests); the store, integration id, publisher,
	// log and registerer are set by the Manager.
	Tail langfuse.TailOptions
}

// Manager keeps the dispatcher's sinks and the bus's routes in step with
// the enabled integrations in the store.
type Manager struct {
	o Options

	mu     sync.Mutex // serialises Reload
	loaded map[string]loaded
	errs   map[string]string
	closed bool
}

// loaded is a running integration: a sink with its route, or a tailer.
type loaded struct {
	id      int64
	version time.Time
	sink    events.Sink
	route   events.Route
	tail    *langfuse.Tailer
}

// New returns a Manager; call Reload to load the integrations.
func New(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.TestTimeout <= 0 {
		o.TestTimeout = 15 * time.Second
	}
	if o.Requests == nil {
		o.Requests, _ = o.Store.(langfuse.Store)
	}
	if o.Publisher == nil {
		o.Publisher, _ = o.Router.(events.Publisher)
	}
	return &Manager{o: o, loaded: map[string]loaded{}, errs: map[string]string{}}
}

// Secrets decrypts i's secrets (an empty map when none are set).
func Secrets(ring Keyring, i *bulwark.Integration) (map[string]string, error) {
	out := map[string]string{}
	if i.Secrets == "" {
		return out, nil
	}
	if ring == nil {
		return nil, errors.New("secret decryption is not configured on this server")
	}
	plain, err := ring.DecryptString(i.Secrets, bulwark.IntegrationSecretsAD)
	if err != nil {
		return nil, fmt.Errorf("decrypt secrets: %w", err)
	}
	if err := json.Unmarshal([]byte(plain), &out); err != nil {
		return nil, fmt.Errorf("decode secrets: %w", err)
	}
	return out, nil
}

func (m *Manager) build(i *bulwark.Integration) (events.Sink, events.Route, error) {
	sec, err := Secrets(m.o.Keyring, i)
	if err != nil {
		return nil, events.Route{}, err
	}
	return Build(i, sec)
}

// Reload loads the enabled integrations and makes them the delivered set.
// An integration that cannot be built (bad settings, undecryptable secrets)
// is left out and logged; its error is kept for Errors. Unchanged
// integrations keep their running sink.
func (m *Manager) Reload(ctx context.Context) error {
	list, err := m.o.Store.ListIntegrations(ctx)
	if err != nil {
		return fmt.Errorf("load integrations: %w", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	next := map[string]loaded{}
	errs := map[string]string{}
	sinks := []events.Sink{}
	routes := []events.Route{}
	var retire []*langfuse.Tailer
	for _, i := range list {
		if !i.Enabled {
			continue
		}
		l, ok := m.loaded[i.Name]
		if !ok || l.id != i.ID || !l.version.Equal(i.UpdatedAt) {
			nl, err := m.start(i)
			if err != nil {
				if prev, had := m.errs[i.Name]; !had || prev != err.Error() {
					m.o.Log.Error("integration not started", "integration", i.Name, "error", err)
				}
				errs[i.Name] = err.Error()
				continue
			}
			if ok && l.tail != nil {
				retire = append(retire, l.tail)
			}
			l = nl
		}
		next[i.Name] = l
		if l.tail != nil {
			continue // tailers read the request log; no route, no outbox rows
		}
		sinks = append(sinks, l.sink)
		routes = append(routes, l.route)
	}
	for name, l := range m.loaded {
		if _, kept := next[name]; !kept && l.tail != nil {
			retire = append(retire, l.tail)
		}
	}
	m.loaded, m.errs = next, errs
	// Routes first when removing (no new outbox rows for a retired sink)
	// and sinks first when adding would matter only for ordering of logs:
	// undelivered rows stay in the outbox either way.
	m.o.Router.SetRoutes(routes)
	m.o.Dispatcher.SetSinks(sinks)
	// A replaced tailer stops before its successor starts, so the cursor's
	// lease passes between them at once; a removed one drops its metrics.
	m.stopTails(retire, next)
	for _, l := range next {
		if l.tail != nil {
			l.tail.Start() // no-op when already running
		}
	}
	return nil
}

// start builds i: a sink with its route, or a tailer (not yet running).
func (m *Manager) start(i *bulwark.Integration) (loaded, error) {
	s, r, err := m.build(i)
	if err != nil {
		return loaded{}, err
	}
	l := loaded{id: i.ID, version: i.UpdatedAt, sink: s, route: r}
	if tk, ok := s.(*tailKind); ok {
		t, err := m.tailer(i, tk)
		if err != nil {
			return loaded{}, err
		}
		l.tail = t
	}
	return l, nil
}

func (m *Manager) tailer(i *bulwark.Integration, tk *tailKind) (*langfuse.Tailer, error) {
	if m.o.Requests == nil {
		return nil, errors.New("this server's store cannot tail the request log")
	}
	o := m.o.Tail
	o.Store, o.IntegrationID, o.Publisher, o.Registerer = m.o.Requests, i.ID, m.o.Publisher, m.o.Registerer
	o.Log = m.o.Log
	return tk.start(o)
}

// stopTails stops tailers, bounded; a tailer whose name is gone from
// running also drops its metric series.
func (m *Manager) stopTails(ts []*langfuse.Tailer, running map[string]loaded) {
	if len(ts) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Go(func() {
			t.Stop(ctx)
			if _, ok := running[t.Name()]; !ok {
				t.Forget()
			}
		})
	}
	wg.Wait()
}

// Stop stops every tailer (sinks belong to the dispatcher, which has its
// own Stop). Reload does nothing after Stop.
func (m *Manager) Stop(ctx context.Context) {
	m.mu.Lock()
	m.closed = true
	var ts []*langfuse.Tailer
	for _, l := range m.loaded {
		if l.tail != nil {
			ts = append(ts, l.tail)
		}
	}
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Go(func() { t.Stop(ctx) })
	}
	wg.Wait()
}

// Errors returns, by name, why enabled integrations could not be started
// at the last Reload.
func (m *Manager) Errors() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]string, len(m.errs))
	for k, v := range m.errs {
		out[k] = v
	}
	return out
}

// Health is the health of every running integration, by name: the
// dispatcher's for sinks, the tailers' own for integrations that follow
// the request log.
func (m *Manager) Health() map[string]events.SinkHealth {
	out := m.o.Dispatcher.Health()
	if out == nil {
		out = map[string]events.SinkHealth{}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, l := range m.loaded {
		if l.tail != nil {
			out[name] = l.tail.Health()
		}
	}
	return out
}

// TestEvent is the synthetic event Test sends.
func TestEvent(name string) bulwark.Event {
	data, _ := json.Marshal(map[string]any{"test": true, "integration": name})
	return bulwark.Event{
		ID: events.NewID(), Time: time.Now().UTC(), Type: bulwark.EventSystem, Action: "integration.test",
		Severity: bulwark.SeverityInfo, Actor: "system", Subject: "Bulwark test event for integration " + name, Data: data,
	}
}

// Test builds the integration with id (enabled or not) and delivers one
// synthetic test event straight through its sink, not the outbox; an
// integration that tails the request log sends one test trace instead. The
// error is the sink's, unchanged.
func (m *Manager) Test(ctx context.Context, id int64) error {
	i, err := m.o.Store.GetIntegration(ctx, id)
	if err != nil {
		return err
	}
	s, _, err := m.build(i)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, m.o.TestTimeout)
	defer cancel()
	if tk, ok := s.(*tailKind); ok {
		t, err := m.tailer(i, tk)
		if err != nil {
			return err
		}
		return t.SendTest(ctx)
	}
	return s.Deliver(ctx, []bulwark.Event{TestEvent(i.Name)})
}

// Run reloads every interval until ctx ends, so replicas pick up changes
// made through another instance.
func (m *Manager) Run(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.Reload(ctx); err != nil && ctx.Err() == nil {
				m.o.Log.Error("reload integrations", "error", err)
			}
		}
	}
}
