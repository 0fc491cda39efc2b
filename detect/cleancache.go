package detect

import (
	"hash/maphash"
	"sync"

	"github.com/bulwarkhq/bulwark"
)

// cleanCache remembers which texts an engine scanned completely and found
// clean, so that a text seen again is not scanned again. Chat clients send
// the whole conversation with every turn: without it, the scanning cost of
// a conversation grows with the square of its length.
//
// Keys are two independent keyed hashes (hash/maphash, random seeds per
// engine) of the protocol, surface and text: 128 bits no one outside the
// process can aim a collision at, so a hostile text cannot pass for a
// remembered clean one. Only clean, untruncated results are remembered (a
// finding must be reported, with positions, every time), and only texts of
// at least cleanCacheMin bytes, below which scanning is as cheap as
// hashing. It is bounded: a shard that fills up is emptied.
type cleanCache struct {
	seeds  [2]maphash.Seed
	shards [cleanShards]cleanShard
}

const (
	cleanShards     = 32
	cleanPerShard   = 2048 // 65,536 texts in all, about 3 MB at most
	cleanCacheMin   = 512
	surfaceSplitter = 0xff // never in a protocol or surface name
)

type cleanKey struct{ a, b uint64 }

type cleanShard struct {
	mu sync.Mutex
	m  map[cleanKey]struct{}
}

func newCleanCache() *cleanCache {
	return &cleanCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}}
}

func (c *cleanCache) key(text string, proto bulwark.Protocol, surface bulwark.Surface) cleanKey {
	var k [2]uint64
	for i, seed := range c.seeds {
		var h maphash.Hash
		h.SetSeed(seed)
		_, _ = h.WriteString(string(proto))
		_ = h.WriteByte(surfaceSplitter)
		_, _ = h.WriteString(string(surface))
		_ = h.WriteByte(surfaceSplitter)
		_, _ = h.WriteString(text)
		k[i] = h.Sum64()
	}
	return cleanKey{k[0], k[1]}
}

func (c *cleanCache) shard(k cleanKey) *cleanShard { return &c.shards[k.a%cleanShards] }

func (c *cleanCache) has(k cleanKey) bool {
	s := c.shard(k)
	s.mu.Lock()
	_, ok := s.m[k]
	s.mu.Unlock()
	return ok
}

func (c *cleanCache) add(k cleanKey) {
	s := c.shard(k)
	s.mu.Lock()
	if s.m == nil || len(s.m) >= cleanPerShard {
		s.m = make(map[cleanKey]struct{}, cleanPerShard/4)
	}
	s.m[k] = struct{}{}
	s.mu.Unlock()
}
