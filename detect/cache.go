package detect

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/bulwarkhq/bulwark"
)

// WithStored returns a registry holding the policies of builtin plus the
// stored custom policies. A stored policy that does not parse, or that
// names a built-in, is skipped and reported in skipped (name → reason), so
// one broken document cannot hide the others.
func WithStored(builtin *Registry, stored []*bulwark.StoredPolicy) (reg *Registry, skipped map[string]error) {
	reg = NewRegistry()
	for _, n := range builtin.Names() {
		p, _ := builtin.Get(n)
		_ = reg.Add(p)
		if builtin.Builtin(n) {
			reg.builtin[n] = true
		}
	}
	for _, sp := range stored {
		p, err := ParsePolicy(sp.Document)
		if err != nil {
			if skipped == nil {
				skipped = map[string]error{}
			}
			skipped[sp.Name] = err
			continue
		}
		if builtin.Builtin(p.Name) {
			continue
		}
		reg.Put(p)
	}
	return reg, skipped
}

// EngineCache keeps compiled engines by the content of the policies they
// were built from: compiling every built-in rule takes a while, and a
// changed policy simply gets a new key. It is safe for concurrent use.
type EngineCache struct {
	mu  sync.Mutex
	m   map[string]*Engine
	Max int // entries kept (default 16); the cache is emptied when full
}

// Engine compiles (or reuses) the engine of the named policies of reg.
func (c *EngineCache) Engine(reg *Registry, opts Options, names ...string) (*Engine, error) {
	rs, err := reg.Resolve(names...)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%p\x00%+v\x00", opts.Classifier, opts)
	for _, n := range rs.Policies {
		p, _ := reg.Get(n)
		doc, _ := json.Marshal(p)
		fmt.Fprintf(h, "%s\x00%d\x00%s\x00", n, len(doc), doc)
	}
	fmt.Fprintf(h, "%q", names)
	key := hex.EncodeToString(h.Sum(nil))
	c.mu.Lock()
	e := c.m[key]
	c.mu.Unlock()
	if e != nil {
		return e, nil
	}
	if e, err = Compile(rs, opts); err != nil {
		return nil, err
	}
	c.mu.Lock()
	limit := c.Max
	if limit <= 0 {
		limit = 16
	}
	if c.m == nil || len(c.m) >= limit {
		c.m = map[string]*Engine{}
	}
	c.m[key] = e
	c.mu.Unlock()
	return e, nil
}
