package gateway

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
)

// keyTTL is how long a resolved key is trusted without asking the store.
// Changes made through this replica's API flush the cache at once; other
// replicas see a revocation within keyTTL.
const keyTTL = 10 * time.Second

// keyCache resolves gateway keys by their hash, caching hits briefly so the
// hot path does not read the database on every request, and batches the
// keys' last-used times.
type keyCache struct {
	st  Store
	now func() time.Time

	mu      sync.Mutex
	entries map[string]keyEntry
	used    map[int64]time.Time

	stopc chan struct{}
	done  chan struct{}
}

type keyEntry struct {
	key   *bulwark.GatewayKey
	group *bulwark.Group
	at    time.Time
}

func newKeyCache(st Store, now func() time.Time) *keyCache {
	return &keyCache{st: st, now: now, entries: map[string]keyEntry{}, used: map[int64]time.Time{}}
}

// Resolve implements access.Keys.
func (c *keyCache) Resolve(ctx context.Context, secret string) (*bulwark.GatewayKey, *bulwark.Group, error) {
	if auth.TokenDisplayPrefix(secret) == "" {
		return nil, nil, nil // not shaped like a key: no need to ask the store
	}
	h := auth.TokenHash(secret)
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[h]
	c.mu.Unlock()
	if !ok || now.Sub(e.at) > keyTTL {
		k, err := c.st.GetGatewayKeyByHash(ctx, h)
		if errors.Is(err, bulwark.ErrNotFound) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		g, err := c.st.GetGroup(ctx, k.GroupID)
		if errors.Is(err, bulwark.ErrNotFound) {
			return nil, nil, nil
		}
		if err != nil {
			return nil, nil, err
		}
		e = keyEntry{key: k, group: g, at: now}
		c.mu.Lock()
		if len(c.entries) > 100000 {
			c.entries = map[string]keyEntry{}
		}
		c.entries[h] = e
		c.mu.Unlock()
	}
	if e.key.Active(now) {
		c.mu.Lock()
		c.used[e.key.ID] = now
		c.mu.Unlock()
	}
	return e.key, e.group, nil
}

func (c *keyCache) flush() {
	c.mu.Lock()
	c.entries = map[string]keyEntry{}
	c.mu.Unlock()
}

// start writes last-used times every few seconds.
func (c *keyCache) start(st Store) {
	c.stopc, c.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(c.done)
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-c.stopc:
				c.writeUsed(st)
				return
			case <-t.C:
				c.writeUsed(st)
			}
		}
	}()
}

func (c *keyCache) writeUsed(st Store) {
	c.mu.Lock()
	used := c.used
	c.used = map[int64]time.Time{}
	c.mu.Unlock()
	if len(used) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = st.TouchGatewayKeys(ctx, used)
}

func (c *keyCache) stop() {
	if c.stopc != nil {
		close(c.stopc)
		<-c.done
		c.stopc = nil
	}
}
