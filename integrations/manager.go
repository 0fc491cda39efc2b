package integrations

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
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
}

// Manager keeps the dispatcher's sinks and the bus's routes in step with
// the enabled integrations in the store.
type Manager struct {
	o Options

	mu     sync.Mutex // serialises Reload
	loaded map[string]loaded
	errs   map[string]string
}

type loaded struct {
	id      int64
	version time.Time
	sink    events.Sink
	route   events.Route
}

// New returns a Manager; call Reload to load the integrations.
func New(o Options) *Manager {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.TestTimeout <= 0 {
		o.TestTimeout = 15 * time.Second
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
	next := map[string]loaded{}
	errs := map[string]string{}
	sinks := []events.Sink{}
	routes := []events.Route{}
	for _, i := range list {
		if !i.Enabled {
			continue
		}
		l, ok := m.loaded[i.Name]
		if !ok || l.id != i.ID || !l.version.Equal(i.UpdatedAt) {
			s, r, err := m.build(i)
			if err != nil {
				if prev, had := m.errs[i.Name]; !had || prev != err.Error() {
					m.o.Log.Error("integration not started", "integration", i.Name, "error", err)
				}
				errs[i.Name] = err.Error()
				continue
			}
			l = loaded{id: i.ID, version: i.UpdatedAt, sink: s, route: r}
		}
		next[i.Name] = l
		sinks = append(sinks, l.sink)
		routes = append(routes, l.route)
	}
	m.loaded, m.errs = next, errs
	// Routes first when removing (no new outbox rows for a retired sink)
	// and sinks first when adding would matter only for ordering of logs:
	// undelivered rows stay in the outbox either way.
	m.o.Router.SetRoutes(routes)
	m.o.Dispatcher.SetSinks(sinks)
	return nil
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

// Health is the dispatcher's health of every running integration, by name.
func (m *Manager) Health() map[string]events.SinkHealth { return m.o.Dispatcher.Health() }

// TestEvent is the synthetic event Test sends.
func TestEvent(name string) bulwark.Event {
	data, _ := json.Marshal(map[string]any{"test": true, "integration": name})
	return bulwark.Event{
		ID: events.NewID(), Time: time.Now().UTC(), Type: bulwark.EventSystem, Action: "integration.test",
		Severity: bulwark.SeverityInfo, Actor: "system", Subject: "Bulwark test event for integration " + name, Data: data,
	}
}

// Test builds the integration with id (enabled or not) and delivers one
// synthetic test event straight through its sink, not the outbox. The
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
