// Package policy is the inspection stage that applies detection policies:
// it scans every text of a request on its surface, blocks on block rules,
// redacts with reversible placeholders, and on the way back scans and
// redacts the answer — whole or event by event while streaming — and
// restores the client's own placeholders.
package policy

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect"
	"github.com/bulwarkhq/bulwark/inspect"
)

// Stage applies one compiled policy set.
type Stage struct {
	Engine   *detect.Engine
	Protocol bulwark.Protocol
}

// New returns a policy stage for e on protocol p.
func New(e *detect.Engine, p bulwark.Protocol) *Stage { return &Stage{Engine: e, Protocol: p} }

// Name implements inspect.Stage.
func (s *Stage) Name() string { return "policy" }

// Request scans and redacts the request texts.
func (s *Stage) Request(ctx context.Context, x *inspect.Exchange) error {
	if x.Request == nil || s.Engine == nil {
		return nil
	}
	if x.Masker == nil {
		x.Masker = detect.NewMasker()
	}
	return s.apply(ctx, x, x.Request, false, nil, true)
}

// Scan scans the texts of doc (tool arguments or results, each on the
// surface its Part reports), records findings on x, returns a block for a
// block finding, and redacts in place when redact is true.
func (s *Stage) Scan(ctx context.Context, x *inspect.Exchange, doc inspect.Doc, redact bool) error {
	if doc == nil || s.Engine == nil {
		return nil
	}
	if x.Masker == nil {
		x.Masker = detect.NewMasker()
	}
	return s.apply(ctx, x, doc, false, nil, redact)
}

// apply scans each text of doc, records findings, blocks on the first block
// finding and, when allowRedact, redacts. For an answer (response true) it
// also restores the placeholders of mapping.
func (s *Stage) apply(ctx context.Context, x *inspect.Exchange, doc inspect.Doc, response bool, mapping map[string]string, allowRedact bool) error {
	for i, n := 0, doc.Len(); i < n; i++ {
		path, surface, text := doc.Part(i)
		if text == "" {
			continue
		}
		res, err := s.Engine.ScanText(ctx, text, s.Protocol, surface)
		if err != nil {
			return fmt.Errorf("scan %s: %w", path, err)
		}
		redact := false
		for j := range res.Findings {
			f := &res.Findings[j]
			f.Path = joinPath(path, f.Path)
			if f.Action == bulwark.ActionRedact {
				redact = true
			}
		}
		x.AddFindings(res.Findings)
		if b := blockOf(res.Findings, response); b != nil {
			return b
		}
		out := text
		if redact && allowRedact {
			var fs []bulwark.Finding
			out, fs = s.Engine.Redact(text, s.Protocol, surface, x.Masker)
			x.Redacted += len(fs)
		}
		if response && len(mapping) > 0 {
			out = detect.Unmask(out, mapping)
		}
		if out != text {
			doc.SetText(i, out)
		}
	}
	return nil
}

// Response scans and redacts a whole (non-streamed) answer and restores the
// client's placeholders in it. Findings in the answer can block it.
func (s *Stage) Response(ctx context.Context, x *inspect.Exchange, doc inspect.Doc, mapping map[string]string) error {
	if doc == nil || s.Engine == nil {
		return nil
	}
	if x.Masker == nil {
		x.Masker = detect.NewMasker()
	}
	return s.apply(ctx, x, doc, true, mapping, true)
}

// blockOf returns the block verdict for the most severe block finding.
func blockOf(fs []bulwark.Finding, response bool) *inspect.Block {
	var best *bulwark.Finding
	for i := range fs {
		f := &fs[i]
		if f.Action == bulwark.ActionBlock && (best == nil || f.Severity.Rank() > best.Severity.Rank()) {
			best = f
		}
	}
	if best == nil {
		return nil
	}
	b := &inspect.Block{
		Status:  400,
		Type:    inspect.TypeInvalidRequest,
		Code:    "policy_violation",
		RuleID:  best.RuleID,
		Finding: best,
		Message: fmt.Sprintf("Request blocked by Bulwark policy rule %s (%s).", best.RuleID, best.Title),
	}
	if response {
		b.Status = 403
		b.Type = inspect.TypePermission
		b.Message = fmt.Sprintf("Response withheld by Bulwark policy rule %s (%s).", best.RuleID, best.Title)
	}
	return b
}

func joinPath(base, sub string) string {
	switch {
	case sub == "":
		return base
	case base == "":
		return sub
	case strings.HasPrefix(sub, "["):
		return base + sub
	}
	return base + "." + sub
}

// Stream inspects a streamed answer delta by delta. Each output slot (a
// choice, a content block, a tool call) is a key with its own window: the
// tail of what was already seen is scanned together with the new delta so
// that a pattern split across two events is still found, without rescanning
// the whole answer on every event.
type Stream struct {
	s       *Stage
	x       *inspect.Exchange
	mapping map[string]string
	slots   map[string]*slot
}

type slot struct {
	tail    string
	unmask  *detect.StreamUnmasker
	reports map[string]bool // rule ids already reported for this slot
}

// windowTail is how much already-scanned text is kept and rescanned with
// the next delta: longer than any single-line secret or injection phrase
// the rules look for.
const windowTail = 512

// NewStream starts inspecting a streamed answer of x; mapping holds the
// client's placeholders to restore.
func (s *Stage) NewStream(x *inspect.Exchange, mapping map[string]string) *Stream {
	if x.Masker == nil {
		x.Masker = detect.NewMasker()
	}
	return &Stream{s: s, x: x, mapping: mapping, slots: make(map[string]*slot, 2)}
}

// Text inspects one delta of slot key and returns the text to forward in
// its place (redacted and un-masked, possibly shorter when a placeholder
// prefix is held back). A block finding returns a *inspect.Block: the
// adapter ends the stream with a protocol error event.
func (st *Stream) Text(ctx context.Context, key string, surface bulwark.Surface, delta string) (string, error) {
	sl := st.slots[key]
	if sl == nil {
		sl = &slot{reports: map[string]bool{}}
		if len(st.mapping) > 0 {
			sl.unmask = detect.NewStreamUnmasker(st.mapping)
		}
		st.slots[key] = sl
	}
	out := delta
	if st.s.Engine != nil && delta != "" {
		window := sl.tail + delta
		res, err := st.s.Engine.ScanText(ctx, window, st.s.Protocol, surface)
		if err != nil {
			return "", err
		}
		var fresh []bulwark.Finding
		redact := false
		for _, f := range res.Findings {
			if f.Action == bulwark.ActionRedact && f.End > len(sl.tail) {
				redact = true
			}
			if sl.reports[f.RuleID] {
				continue
			}
			sl.reports[f.RuleID] = true
			f.Path = key
			fresh = append(fresh, f)
		}
		st.x.AddFindings(fresh)
		if b := blockOf(fresh, true); b != nil {
			return "", b
		}
		if redact {
			var fs []bulwark.Finding
			out, fs = st.s.Engine.Redact(delta, st.s.Protocol, surface, st.x.Masker)
			st.x.Redacted += len(fs)
		}
		sl.tail = window
		if cut := len(sl.tail) - windowTail; cut > 0 {
			for cut < len(sl.tail) && !utf8.RuneStart(sl.tail[cut]) {
				cut++
			}
			sl.tail = sl.tail[cut:]
		}
	}
	if sl.unmask != nil {
		out = sl.unmask.Write(out)
	}
	return out, nil
}

// Full handles a text that repeats a slot's whole text at the end of a
// stream (OpenAI Responses' *.done and completed events): it is redacted
// and un-masked as a whole, so it matches what the deltas delivered without
// being scanned for findings a second time.
func (st *Stream) Full(text string, surface bulwark.Surface) string {
	out := text
	if st.s.Engine != nil && text != "" {
		out, _ = st.s.Engine.Redact(text, st.s.Protocol, surface, st.x.Masker)
	}
	if len(st.mapping) > 0 {
		out = detect.Unmask(out, st.mapping)
	}
	return out
}

// Flush returns the text held back for slot key at the end of the stream.
func (st *Stream) Flush(key string) string {
	if sl := st.slots[key]; sl != nil && sl.unmask != nil {
		return sl.unmask.Flush()
	}
	return ""
}

// Keys returns the slots seen so far.
func (st *Stream) Keys() []string {
	out := make([]string, 0, len(st.slots))
	for k := range st.slots {
		out = append(out, k)
	}
	return out
}
