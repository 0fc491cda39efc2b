package detect

import (
	"sort"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// Masker hands out stable placeholders within one request: the same value
// under the same label always gets the same placeholder (<EMAIL_1>), and
// Mapping returns placeholder → original for un-masking the answer. A
// Masker is not safe for concurrent use.
type Masker struct {
	byValue map[string]string
	mapping map[string]string
	counts  map[string]int
}

// NewMasker returns an empty masker.
func NewMasker() *Masker {
	return &Masker{byValue: map[string]string{}, mapping: map[string]string{}, counts: map[string]int{}}
}

// Placeholder returns the placeholder for value under label.
func (m *Masker) Placeholder(label, value string) string {
	key := label + "\x00" + value
	if p, ok := m.byValue[key]; ok {
		return p
	}
	m.counts[label]++
	p := "<" + label + "_" + strconv.Itoa(m.counts[label]) + ">"
	m.byValue[key] = p
	m.mapping[p] = value
	return p
}

// Mapping returns placeholder → original value. The map is the masker's
// own; do not modify it.
func (m *Masker) Mapping() map[string]string { return m.mapping }

// Redact replaces every match of the redact rules that apply to the
// protocol and surface with a placeholder from m, and returns the new text
// and a finding per rule. Matching runs on the normalised text; the
// replaced spans are those of the original text.
func (e *Engine) Redact(text string, proto bulwark.Protocol, surface bulwark.Surface, m *Masker) (string, []bulwark.Finding) {
	if !e.redact || e.set == nil || text == "" {
		return text, nil
	}
	if len(text) > e.opts.MaxScanBytes {
		text = text[:e.opts.MaxScanBytes]
		for len(text) > 0 && text[len(text)-1]&0xc0 == 0x80 {
			text = text[:len(text)-1]
		}
	}
	n := normalize(text)
	hits, err := e.set.FindAllStringWithError(n.text, -1)
	if err != nil {
		hits = hits[:0]
		for i := range e.refs {
			hits = append(hits, i)
		}
	}
	type span struct {
		start, end int
		rule       int
	}
	var spans []span
	st := &scanState{res: &Result{}}
	l := layer{proto: proto, surface: surface}
	var ents entities
	for _, h := range hits {
		ref := e.refs[h]
		r := &e.rules[ref.rule]
		if r.Action != bulwark.ActionRedact || !r.applies(proto, surface) {
			continue
		}
		var locs [][]int
		if r.entity != 0 {
			for _, en := range ents.of(n.text) {
				if en.Kind == r.entity {
					locs = append(locs, []int{en.Start, en.End})
				}
			}
		} else {
			locs = r.locateAll(int(ref.re), n.text, 1000)
		}
		for _, loc := range locs {
			s, end := n.orig(loc[0]), n.origEnd(loc[0], loc[1])
			if end <= s {
				continue
			}
			spans = append(spans, span{s, end, int(ref.rule)})
			e.add(st, 0, int(ref.rule), l, s, end, n.text[loc[0]:loc[1]], 0)
		}
	}
	if len(spans) == 0 {
		return text, nil
	}
	// Longest first at each start, then drop spans overlapping a kept one.
	sort.Slice(spans, func(i, j int) bool {
		if spans[i].start != spans[j].start {
			return spans[i].start < spans[j].start
		}
		return spans[i].end > spans[j].end
	})
	var b strings.Builder
	b.Grow(len(text))
	pos := 0
	for _, sp := range spans {
		if sp.start < pos {
			continue
		}
		b.WriteString(text[pos:sp.start])
		b.WriteString(m.Placeholder(e.rules[sp.rule].RedactLabel, text[sp.start:sp.end]))
		pos = sp.end
	}
	b.WriteString(text[pos:])
	return b.String(), st.res.Findings
}

// placeholderAt returns the length of a well-formed placeholder
// <LABEL_N> at the start of s, or 0.
func placeholderAt(s string) int {
	if len(s) < 4 || s[0] != '<' || s[1] < 'A' || s[1] > 'Z' {
		return 0
	}
	for i := 2; i < len(s) && i < maxPlaceholder; i++ {
		c := s[i]
		switch {
		case c == '>':
			if s[i-1] >= '0' && s[i-1] <= '9' {
				return i + 1
			}
			return 0
		case c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_':
		default:
			return 0
		}
	}
	return 0
}

// maxPlaceholder bounds a placeholder's length: '<', a label of up to 32
// characters, '_', up to 12 digits, '>'.
const maxPlaceholder = 48

// Unmask replaces every placeholder in text that is in mapping with its
// original value; other text, including unknown placeholders, is kept.
func Unmask(text string, mapping map[string]string) string {
	if len(mapping) == 0 || !strings.Contains(text, "<") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	for {
		i := strings.IndexByte(text, '<')
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		b.WriteString(text[:i])
		text = text[i:]
		if n := placeholderAt(text); n > 0 {
			if v, ok := mapping[text[:n]]; ok {
				b.WriteString(v)
				text = text[n:]
				continue
			}
		}
		b.WriteByte('<')
		text = text[1:]
	}
}

// couldBePlaceholder reports whether s (starting with '<') could be the
// beginning of a placeholder that the next chunk completes.
func couldBePlaceholder(s string) bool {
	if len(s) >= maxPlaceholder {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if i == 1 && (c < 'A' || c > 'Z') {
			return false
		}
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// StreamUnmasker restores placeholders in a stream of chunks, such as the
// deltas of a streamed model answer. It holds back only a possible
// placeholder prefix at the end of a chunk, so a placeholder split across
// chunks is still restored and all other text passes straight through.
type StreamUnmasker struct {
	mapping map[string]string
	pending string
}

// NewStreamUnmasker returns an un-masker for the given mapping.
func NewStreamUnmasker(mapping map[string]string) *StreamUnmasker {
	return &StreamUnmasker{mapping: mapping}
}

// Write takes the next chunk and returns the text that can be emitted now.
func (u *StreamUnmasker) Write(chunk string) string {
	s := u.pending + chunk
	u.pending = ""
	if len(u.mapping) == 0 {
		return s
	}
	cut := len(s)
	if i := strings.LastIndexByte(s, '<'); i >= 0 && couldBePlaceholder(s[i:]) {
		cut = i
	}
	u.pending = s[cut:]
	return Unmask(s[:cut], u.mapping)
}

// Flush returns whatever is held back, at the end of the stream.
func (u *StreamUnmasker) Flush() string {
	s := u.pending
	u.pending = ""
	return s
}
