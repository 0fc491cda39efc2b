// Package access is the first stage of the request phase: it resolves the
// client's gateway key into its key record and group, refuses missing,
// unknown, expired and revoked keys (401) and groups that may not use the
// proxy (403). The key itself never leaves this stage: it is cleared from
// the exchange so nothing later can forward or log it.
package access

import (
	"context"
	"fmt"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

// Keys resolves a presented key. An unknown key returns nil, nil, nil; an
// error means the lookup itself failed (the chain then fails closed).
type Keys interface {
	Resolve(ctx context.Context, secret string) (*bulwark.GatewayKey, *bulwark.Group, error)
}

// Stage authenticates the client and checks its group may use the proxy.
type Stage struct {
	Keys Keys
	Now  func() time.Time
}

// Name implements inspect.Stage.
func (s *Stage) Name() string { return "access" }

func unauthorized(msg string) *inspect.Block {
	return &inspect.Block{Status: 401, Type: inspect.TypeAuthentication, Code: "invalid_api_key", Message: msg}
}

// Request implements inspect.Stage.
func (s *Stage) Request(ctx context.Context, x *inspect.Exchange) error {
	secret := x.Credential
	x.Credential = ""
	if secret == "" {
		return unauthorized("Missing API key. Send your Bulwark gateway key as 'Authorization: Bearer <key>' or as the 'x-api-key' header.")
	}
	k, g, err := s.Keys.Resolve(ctx, secret)
	if err != nil {
		return fmt.Errorf("resolve key: %w", err)
	}
	if k == nil || g == nil {
		return unauthorized("Invalid API key. Check the Bulwark gateway key you send (not the provider's key).")
	}
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	switch {
	case k.RevokedAt != nil:
		return unauthorized("This API key has been revoked. Ask your Bulwark administrator for a new key.")
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return unauthorized("This API key has expired. Ask your Bulwark administrator for a new key.")
	}
	x.Key, x.Group = k, g
	if !g.AllowsProxy(x.Proxy) {
		return &inspect.Block{Status: 403, Type: inspect.TypePermission, Code: "proxy_not_allowed",
			Message: fmt.Sprintf("Group %q may not use proxy %q. Ask your Bulwark administrator to allow it.", g.Name, x.Proxy)}
	}
	return nil
}
