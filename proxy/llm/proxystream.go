package llm

import (
	"errors"
	"io"
	"strings"
	"sync"

	"github.com/bulwarkhq/bulwark/detect"
	"github.com/bulwarkhq/bulwark/inspect"
	"github.com/bulwarkhq/bulwark/inspect/policy"
	"github.com/bulwarkhq/bulwark/proxy/sse"
)

func unmask(s string, m map[string]string) string { return detect.Unmask(s, m) }

// streamInspector sits between the upstream's event stream and the client.
// Each Read returns at most one event, so the ReverseProxy (FlushInterval
// -1) flushes every event as its own frame: nothing is coalesced or held,
// except a possible placeholder prefix at the end of a text delta.
type streamInspector struct {
	ex     *exchange
	body   io.ReadCloser
	rd     *sse.Reader
	dec    *StreamDecoder
	scan   *policy.Stream
	buf    []byte // bytes of the current event not yet read by the client
	done   bool   // no more events will be produced
	err    error
	closed sync.Once

	// held tracks, per output slot, the last event that carried its text:
	// text held back by the un-masker is emitted in a copy of that event
	// before the next event that does not continue the slot.
	last map[string]lastText
	// dropUsage drops the usage-only chunk the gateway asked OpenAI for
	// when the client did not.
	dropUsage bool
}

type lastText struct {
	ev  *sse.Event
	idx int
}

func newStreamInspector(ex *exchange, body io.ReadCloser) *streamInspector {
	s := &streamInspector{ex: ex, body: body, rd: sse.NewReader(body), dec: NewStreamDecoder(ex.api), last: map[string]lastText{}}
	s.dropUsage = ex.addedUsage
	if ex.h.c.Response != nil || len(ex.mapping) > 0 {
		st := ex.h.c.Response
		if st == nil {
			st = policy.New(nil, ex.x.Protocol)
		}
		s.scan = st.NewStream(ex.x, ex.mapping)
	}
	return s
}

func (s *streamInspector) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		if s.done {
			if s.err != nil {
				return 0, s.err
			}
			return 0, io.EOF
		}
		s.next()
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// next reads one upstream event and fills buf with what the client gets.
func (s *streamInspector) next() {
	ev, err := s.rd.Next()
	if err != nil {
		s.buf = append(s.buf, s.flushHeld("")...)
		s.done = true
		if !errors.Is(err, io.EOF) {
			s.err = err
			s.ex.rec.Error = "upstream stream failed: " + err.Error()
			s.ex.failed = true
		}
		return
	}
	d, derr := s.dec.Decode(ev)
	if derr != nil {
		// An event the decoder does not understand is forwarded as it is,
		// unless something must be scanned or restored in it: then the
		// stream ends with an error rather than pass unscanned text.
		if s.scan != nil {
			s.fail("The upstream sent an event the gateway could not inspect.")
			return
		}
		s.buf = append(s.buf, ev.Raw...)
		return
	}
	s.ex.mergeUsage(d.Usage)
	if d.Model != "" && s.ex.rec.Model == "" {
		s.ex.rec.Model = d.Model
	}
	if s.dropUsage && d.Usage.Present && len(d.Texts) == 0 && !d.Done && isUsageOnlyChunk(ev) {
		return
	}
	var replace map[int]string
	keys := map[string]bool{}
	for i, t := range d.Texts {
		keys[t.Key] = true
		if !t.Full && s.ex.outText.Len() < 1<<20 {
			s.ex.outText.WriteString(t.Text)
		}
		if s.scan == nil {
			continue
		}
		if t.Full {
			if out := s.scan.Full(t.Text, t.Surface); out != t.Text {
				if replace == nil {
					replace = map[int]string{}
				}
				replace[i] = out
			}
			continue
		}
		out, err := s.scan.Text(s.ex.ctx, t.Key, t.Surface, t.Text)
		var b *inspect.Block
		if errors.As(err, &b) {
			s.block(b)
			return
		}
		if err != nil {
			s.fail("The gateway could not inspect the answer.")
			return
		}
		if out != t.Text {
			if replace == nil {
				replace = map[int]string{}
			}
			replace[i] = out
		}
		s.last[t.Key] = lastText{ev: ev, idx: i}
	}
	s.buf = append(s.buf, s.flushHeld2(keys)...)
	if replace == nil {
		s.buf = append(s.buf, ev.Raw...)
		return
	}
	b, err := RewriteEvent(s.ex.api, ev, replace)
	if err != nil {
		s.fail("The gateway could not rewrite an event of the answer.")
		return
	}
	s.buf = append(s.buf, b...)
}

// flushHeld2 emits the held-back text of every slot not continued by the
// current event.
func (s *streamInspector) flushHeld2(cur map[string]bool) []byte {
	if s.scan == nil {
		return nil
	}
	var out []byte
	for key, lt := range s.last {
		if cur[key] {
			continue
		}
		if held := s.scan.Flush(key); held != "" {
			if b, err := RewriteEvent(s.ex.api, lt.ev, map[int]string{lt.idx: held}); err == nil {
				out = append(out, b...)
			}
		}
		delete(s.last, key)
	}
	return out
}

func (s *streamInspector) flushHeld(string) []byte { return s.flushHeld2(nil) }

// block ends the stream with a protocol error event naming the rule.
func (s *streamInspector) block(b *inspect.Block) {
	x := s.ex.x
	x.Blocked = b
	x.Verdict = "block"
	s.ex.rec.RuleID = b.RuleID
	s.buf = append(s.buf, StreamErrorEvent(s.ex.api, b.Type, b.Code, b.Message)...)
	s.done = true
	s.closeBody()
}

func (s *streamInspector) fail(msg string) {
	s.ex.failed = true
	s.ex.x.Verdict = "error"
	s.ex.rec.Error = msg
	s.buf = append(s.buf, StreamErrorEvent(s.ex.api, "api_error", "gateway_error", msg)...)
	s.done = true
	s.closeBody()
}

func (s *streamInspector) closeBody() { s.closed.Do(func() { _ = s.body.Close() }) }

func (s *streamInspector) Close() error {
	s.closeBody()
	return nil
}

// mergeUsage keeps the largest value of each count seen in the stream:
// Anthropic reports input in message_start and output in message_delta.
func (ex *exchange) mergeUsage(u Usage) {
	if !u.Present {
		return
	}
	c := &ex.usage
	c.Present = true
	c.InputTokens = max(c.InputTokens, u.InputTokens)
	c.OutputTokens = max(c.OutputTokens, u.OutputTokens)
	c.CachedTokens = max(c.CachedTokens, u.CachedTokens)
	c.CacheWriteTokens = max(c.CacheWriteTokens, u.CacheWriteTokens)
}

// isUsageOnlyChunk reports whether a chat chunk is the usage-only one that
// include_usage adds (empty choices).
func isUsageOnlyChunk(ev *sse.Event) bool {
	return strings.Contains(ev.Data, `"choices":[]`)
}
