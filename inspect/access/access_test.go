package access

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

type keys map[string]*bulwark.GatewayKey

func (k keys) Resolve(_ context.Context, s string) (*bulwark.GatewayKey, *bulwark.Group, error) {
	if s == "broken" {
		return nil, nil, errors.New("database down")
	}
	key := k[s]
	if key == nil {
		return nil, nil, nil
	}
	return key, &bulwark.Group{ID: key.GroupID, Name: "team", Proxies: []string{"openai"}}, nil
}

func TestAccess(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(time.Hour)
	s := &Stage{Now: func() time.Time { return now }, Keys: keys{
		"good":    {ID: 1, GroupID: 1, ExpiresAt: &future},
		"revoked": {ID: 2, GroupID: 1, RevokedAt: &past},
		"expired": {ID: 3, GroupID: 1, ExpiresAt: &past},
	}}
	for _, tc := range []struct {
		cred, proxy string
		status      int
		stageErr    bool
	}{
		{"good", "openai", 0, false},
		{"", "openai", 401, false},
		{"nope", "openai", 401, false},
		{"revoked", "openai", 401, false},
		{"expired", "openai", 401, false},
		{"good", "anthropic", 403, false},
		{"broken", "openai", 0, true},
	} {
		x := &inspect.Exchange{Credential: tc.cred, Proxy: tc.proxy}
		err := s.Request(context.Background(), x)
		var b *inspect.Block
		switch {
		case tc.stageErr:
			if err == nil || errors.As(err, &b) {
				t.Errorf("%s: want a lookup failure, got %v", tc.cred, err)
			}
		case tc.status == 0:
			if err != nil || x.Key == nil || x.Group == nil {
				t.Errorf("%s: %v", tc.cred, err)
			}
		default:
			if !errors.As(err, &b) || b.Status != tc.status {
				t.Errorf("%s on %s: %v, want %d", tc.cred, tc.proxy, err, tc.status)
			}
		}
		if x.Credential != "" {
			t.Errorf("%s: credential left on the exchange", tc.cred)
		}
	}
}
