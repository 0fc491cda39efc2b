package budget

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

// bucket is a token bucket refilled continuously at perMinute/60 per
// second up to perMinute. Requests take one token up front; tokens used are
// taken after the answer, so the level can go below zero and a big answer
// delays the next requests instead of being cut off.
type bucket struct {
	perMinute int
	level     float64
	last      time.Time
}

func newBucket(perMinute int, now time.Time) *bucket {
	return &bucket{perMinute: perMinute, level: float64(perMinute), last: now}
}

func (b *bucket) fill(now time.Time) {
	if d := now.Sub(b.last); d > 0 {
		b.level = math.Min(float64(b.perMinute), b.level+d.Seconds()*float64(b.perMinute)/60)
		b.last = now
	}
}

// wait is how long until the level reaches need.
func (b *bucket) wait(need float64) time.Duration {
	if b.level >= need {
		return 0
	}
	return time.Duration((need - b.level) / (float64(b.perMinute) / 60) * float64(time.Second))
}

// limits are the buckets of one key or group.
type limits struct {
	req, tok *bucket
}

// sync makes l match the configured limits, keeping levels when unchanged.
func (l *limits) sync(rpm, tpm int, now time.Time) {
	switch {
	case rpm <= 0:
		l.req = nil
	case l.req == nil || l.req.perMinute != rpm:
		l.req = newBucket(rpm, now)
	}
	switch {
	case tpm <= 0:
		l.tok = nil
	case l.tok == nil || l.tok.perMinute != tpm:
		l.tok = newBucket(tpm, now)
	}
}

func (l *Ledger) limitsOf(m map[int64]*limits, id int64, rpm, tpm int, now time.Time) *limits {
	lim := m[id]
	if lim == nil {
		if rpm <= 0 && tpm <= 0 {
			return nil
		}
		lim = &limits{}
		m[id] = lim
	}
	lim.sync(rpm, tpm, now)
	return lim
}

// allow applies the request and token rate limits of x's key and group.
// Every limit is checked before any is charged, so a refusal costs nothing.
func (l *Ledger) allow(x *inspect.Exchange) *inspect.Block {
	now := l.opt.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	type scope struct {
		what string
		lim  *limits
	}
	var scopes [2]scope
	n := 0
	if k := x.Key; k != nil {
		if lim := l.limitsOf(l.keys, k.ID, k.RequestsPerMinute, k.TokensPerMinute, now); lim != nil {
			scopes[n] = scope{fmt.Sprintf("API key %q", k.Name), lim}
			n++
		}
	}
	if g := x.Group; g != nil {
		if lim := l.limitsOf(l.glims, g.ID, g.RequestsPerMinute, g.TokensPerMinute, now); lim != nil {
			scopes[n] = scope{fmt.Sprintf("group %q", g.Name), lim}
			n++
		}
	}
	for _, s := range scopes[:n] {
		if b := s.lim.req; b != nil {
			b.fill(now)
			if w := b.wait(1); w > 0 {
				return rateLimited(x, fmt.Sprintf("Rate limit of %s reached: %d requests per minute.", s.what, b.perMinute), w)
			}
		}
		if b := s.lim.tok; b != nil {
			b.fill(now)
			if w := b.wait(math.Min(1, float64(b.perMinute))); w > 0 {
				return rateLimited(x, fmt.Sprintf("Token rate limit of %s reached: %d tokens per minute.", s.what, b.perMinute), w)
			}
		}
	}
	for _, s := range scopes[:n] {
		if b := s.lim.req; b != nil {
			b.level--
			x.SetHeader("X-RateLimit-Limit-Requests", strconv.Itoa(b.perMinute))
			x.SetHeader("X-RateLimit-Remaining-Requests", strconv.Itoa(int(math.Max(0, b.level))))
		}
	}
	return nil
}

func rateLimited(x *inspect.Exchange, msg string, wait time.Duration) *inspect.Block {
	secs := int(math.Ceil(wait.Seconds()))
	if secs < 1 {
		secs = 1
	}
	x.SetHeader("Retry-After", strconv.Itoa(secs))
	return &inspect.Block{Status: 429, Type: inspect.TypeRateLimit, Code: "rate_limit_exceeded",
		Message: fmt.Sprintf("%s Retry after %d s.", msg, secs), RetryAfterSeconds: secs}
}

// consume charges tokens used by a finished request to its key and group.
func (l *Ledger) consume(g *bulwark.Group, k *bulwark.GatewayKey, tokens int64) {
	if tokens <= 0 {
		return
	}
	now := l.opt.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if k != nil {
		if lim := l.keys[k.ID]; lim != nil && lim.tok != nil {
			lim.tok.fill(now)
			lim.tok.level -= float64(tokens)
		}
	}
	if g != nil {
		if lim := l.glims[g.ID]; lim != nil && lim.tok != nil {
			lim.tok.fill(now)
			lim.tok.level -= float64(tokens)
		}
	}
}
