package api

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// Gateway is the running proxy supervisor as the API sees it. Every change
// to the gateway's configuration is stored first, then announced here so it
// takes effect without a restart.
type Gateway interface {
	// Reload re-reads the named proxy after it was created, changed or
	// deleted, and applies it.
	Reload(ctx context.Context, name string)
	// ReloadAll rebuilds every proxy after a change that can affect any of
	// them (a system prompt or a policy).
	ReloadAll(ctx context.Context)
	// KeysChanged drops cached keys and group state after a key was created
	// or revoked, or a group was changed, deleted or had its budget reset.
	KeysChanged(groupID int64)
	// SetEnabled starts or stops the named proxy and stores the desired state.
	SetEnabled(ctx context.Context, name string, enabled bool, by string) (*bulwark.Proxy, error)
	// Restart stops and starts the named proxy with a freshly built handler.
	Restart(ctx context.Context, name string) (*bulwark.Proxy, error)
	// Status is the named proxy's state; ok is false when the gateway does
	// not run it.
	Status(name string) (st GatewayStatus, ok bool)
	// Stats are the named proxy's counters since the process started.
	Stats(name string) bulwark.ProxyStats
	// Recent are the last n requests through the named proxy, newest first.
	Recent(name string, n int) []bulwark.RequestRecord
	// BudgetStatus is the group's position in its current budget period.
	BudgetStatus(ctx context.Context, g *bulwark.Group) (GatewayBudget, error)
	// MCPToolsChanged makes the named MCP proxy re-read its tools' approval
	// state at once, after an operator approved, denied or edited a tool.
	MCPToolsChanged(ctx context.Context, proxy string)
}

// GatewayStatus is a proxy's state in the running gateway.
type GatewayStatus struct {
	State  string // running, stopped, error
	Reason string // why it is stopped or in error
	Since  time.Time
	Addr   string // the listener's address, or the mount path on the main port
}

// GatewayBudget is a group's budget position in its current period.
type GatewayBudget struct {
	Spent    float64   // recorded spend in USD, requests not yet flushed included
	Reserved float64   // estimated cost of requests in flight
	Period   time.Time // start of the current period (month start or manual reset)
	ResetsAt time.Time // when the next period starts; zero: the first of the next UTC month
}

// Keyring encrypts secrets at rest (secret.Keyring).
type Keyring interface {
	EncryptString(plaintext, associatedData string) (string, error)
}

// credentialAD is the associated data of encrypted upstream credentials.
// It must equal gateway.CredentialAD, which decrypts them; api does not
// import gateway, so the constant is repeated here.
const credentialAD = "bulwark/proxy-credential"

// gatewayStore returns the store of the gateway configuration, or a 503.
func (s *Server) gatewayStore() (bulwark.GatewayStore, error) {
	if s.o.GatewayStore == nil {
		return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "the gateway configuration is not available on this server"}
	}
	return s.o.GatewayStore, nil
}

// gateway returns the running gateway, or a 503.
func (s *Server) gateway() (Gateway, error) {
	if s.o.Gateway == nil {
		return nil, &bulwark.Error{Code: bulwark.CodeUnavailable, Message: "the gateway is not running on this server"}
	}
	return s.o.Gateway, nil
}

// detached keeps the values of ctx but not its cancellation: a change that
// was stored is applied to the gateway even when the client goes away.
func detached(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (s *Server) reloadProxy(ctx context.Context, name string) {
	if s.o.Gateway != nil {
		s.o.Gateway.Reload(detached(ctx), name)
	}
}

func (s *Server) reloadAll(ctx context.Context) {
	if s.o.Gateway != nil {
		s.o.Gateway.ReloadAll(detached(ctx))
	}
}

func (s *Server) mcpToolsChanged(ctx context.Context, proxy string) {
	if s.o.Gateway != nil {
		s.o.Gateway.MCPToolsChanged(detached(ctx), proxy)
	}
}

func (s *Server) keysChanged(groupID int64) {
	if s.o.Gateway != nil {
		s.o.Gateway.KeysChanged(groupID)
	}
}

func (s *Server) now() time.Time {
	if s.o.Auth != nil {
		return s.o.Auth.Now()
	}
	return time.Now()
}

// checkNames returns a field error for every name in names that is not in
// known ("*" allowed when star is true); field is the list's field name.
// Malformed names are left to the Validate method that reports them.
func checkNames(field, kind string, names []string, known map[string]bool, star bool) []bulwark.FieldError {
	var fe []bulwark.FieldError
	for i, n := range names {
		if (star && n == "*") || known[n] || !bulwark.ValidName(n) {
			continue
		}
		fe = append(fe, bulwark.FieldError{Field: fmt.Sprintf("%s[%d]", field, i), Message: fmt.Sprintf("no %s named %q", kind, n)})
	}
	return fe
}

// fieldErrors returns the field errors of a validation error, or err
// itself when it is another error.
func fieldErrors(err error) ([]bulwark.FieldError, error) {
	if err == nil {
		return nil, nil
	}
	var be *bulwark.Error
	if errors.As(err, &be) && be.Code == bulwark.CodeUnprocessable {
		if len(be.Fields) == 0 {
			return []bulwark.FieldError{{Message: be.Message}}, nil
		}
		return be.Fields, nil
	}
	return nil, err
}

// proxyNames is the set of stored proxy names.
func proxyNames(ctx context.Context, st bulwark.GatewayStore) (map[string]bool, error) {
	list, err := st.ListProxies(ctx)
	if err != nil {
		return nil, err
	}
	m := make(map[string]bool, len(list))
	for _, p := range list {
		m[p.Name] = true
	}
	return m, nil
}

// changedFields names the fields that differ between two values, for the audit log.
func changedFields(pairs ...fieldPair) []string {
	out := []string{}
	for _, p := range pairs {
		if !p.equal {
			out = append(out, p.name)
		}
	}
	return out
}

type fieldPair struct {
	name  string
	equal bool
}

func same[T comparable](name string, a, b T) fieldPair { return fieldPair{name, a == b} }

func sameList(name string, a, b []string) fieldPair { return fieldPair{name, slices.Equal(a, b)} }

// nonNil returns l, or an empty list for nil, so JSON shows [] not null.
func nonNil(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func staleVersion(kind, name, by string) error {
	return &bulwark.Error{Code: bulwark.CodeConflict, Message: fmt.Sprintf(
		"%s %s was changed by %s since you loaded it; reload and apply your change again", kind, name, orDefault(by, "someone"))}
}
