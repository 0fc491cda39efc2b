package detect

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"sort"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/detect/names"
	re2 "github.com/wasilibs/go-re2"
	"github.com/wasilibs/go-re2/experimental"
)

// Classifier scores how likely a text is a prompt injection or jailbreak,
// from 0 (benign) to 1. Implementations must be safe for concurrent use.
type Classifier interface {
	Score(text string) float64
}

// Options bound the work of one scan. Zero fields take the defaults.
type Options struct {
	// Classifier, when set and a policy enables ml, reports rule ML-PI-001.
	Classifier Classifier
	// MaxScanBytes is the total text scanned per Scan; the rest is skipped
	// and the result is marked truncated. Default 4 MiB.
	MaxScanBytes int
	// MaxInputBytes is the largest JSON document Scan accepts. Default 32 MiB.
	MaxInputBytes int
	// MaxJSONDepth rejects JSON nested deeper. Default 64.
	MaxJSONDepth int
	// MaxDecodeDepth is how many layers of encoding are decoded. Default 2.
	MaxDecodeDepth int
	// MaxDecodedBytes is the total decoded text per Scan. Default 256 KiB.
	MaxDecodedBytes int
	// MinEncodedLen is the shortest encoded run that is decoded. Default 16.
	MinEncodedLen int
	// MaxPatternInsts bounds the compiled size of one pattern. Default 20000.
	MaxPatternInsts int
	// NoCleanCache scans every text every time, even one the engine has
	// already found clean (see cleanCache): for measuring the scan itself.
	NoCleanCache bool
}

func (o *Options) defaults() {
	if o.MaxScanBytes <= 0 {
		o.MaxScanBytes = 4 << 20
	}
	if o.MaxInputBytes <= 0 {
		o.MaxInputBytes = 32 << 20
	}
	if o.MaxJSONDepth <= 0 {
		o.MaxJSONDepth = 64
	}
	if o.MaxDecodeDepth <= 0 {
		o.MaxDecodeDepth = 2
	}
	if o.MaxDecodedBytes <= 0 {
		o.MaxDecodedBytes = 256 << 10
	}
	if o.MinEncodedLen <= 0 {
		o.MinEncodedLen = 16
	}
	if o.MaxPatternInsts <= 0 {
		o.MaxPatternInsts = 20000
	}
}

// compiledRule is a resolved rule with its stdlib regexps (patterns, then
// keywords) used to find match positions once the set has hit.
type compiledRule struct {
	bulwark.Rule
	res []*regexp.Regexp
	// fast holds, per pattern, the same expression compiled by RE2 on
	// first hit: it finds positions with a DFA, where the stdlib NFA costs
	// milliseconds on a long text for patterns with wide bounded gaps.
	fast   []atomic.Pointer[re2.Regexp]
	filter *valueFilter // min_entropy and allowlist; nil when unset
	// entity, when set, makes this a named-entity rule: its patterns are
	// only the gate, and the spans come from the gazetteer detector.
	entity   names.Kind
	surfaces uint8 // bit per surface; 0 = all
	protos   uint8
	score    float64
}

func (r *compiledRule) applies(p bulwark.Protocol, s bulwark.Surface) bool {
	return (r.protos == 0 || p == "" || r.protos&protoBit(p) != 0) &&
		(r.surfaces == 0 || s == "" || r.surfaces&surfaceBit(s) != 0)
}

func surfaceBit(s bulwark.Surface) uint8 {
	for i, x := range bulwark.Surfaces {
		if x == s {
			return 1 << i
		}
	}
	return 0
}

func protoBit(p bulwark.Protocol) uint8 {
	for i, x := range bulwark.Protocols {
		if x == p {
			return 1 << i
		}
	}
	return 0
}

type patRef struct{ rule, re int32 }

// Engine is a compiled rule set. It is safe for concurrent use.
type Engine struct {
	rs     *RuleSet
	rules  []compiledRule
	byID   map[string]int
	set    *experimental.Set
	refs   []patRef
	opts   Options
	ml     int // index of ML-PI-001 when active, else -1
	redact bool
	clean  *cleanCache // nil when Options.NoCleanCache
}

// keywordPattern turns a literal phrase into a case-insensitive pattern,
// word-bounded where the phrase starts or ends with a word character.
func keywordPattern(k string) string {
	k = strings.TrimSpace(k)
	p := "(?i)" + regexp.QuoteMeta(k)
	isWord := func(c byte) bool {
		return c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
	}
	if isWord(k[0]) {
		p = `\b` + p[4:]
		p = "(?i)" + p
	}
	if isWord(k[len(k)-1]) {
		p += `\b`
	}
	return p
}

// Compile builds an engine for a resolved rule set. Every enabled pattern
// goes into one RE2 set; a pattern that does not compile, or is too large,
// stops the compile with an error naming the rule and the pattern index.
func Compile(rs *RuleSet, opts Options) (*Engine, error) {
	opts.defaults()
	e := &Engine{rs: rs, byID: map[string]int{}, opts: opts, ml: -1}
	if !opts.NoCleanCache {
		e.clean = newCleanCache()
	}
	var exprs []string
	for _, r := range rs.Rules {
		if r.Disabled {
			continue
		}
		cr := compiledRule{Rule: r, score: r.Score}
		if cr.score == 0 {
			cr.score = 1
		}
		for _, s := range r.Surfaces {
			cr.surfaces |= surfaceBit(s)
		}
		for _, p := range r.Protocols {
			cr.protos |= protoBit(p)
		}
		idx := len(e.rules)
		add := func(what string, i int, expr string) error {
			re, err := compilePattern(expr, opts.MaxPatternInsts)
			if err != nil {
				return fmt.Errorf("rule %s (policy %s) %s[%d] %q: %w", r.ID, rs.Source[r.ID], what, i, expr, err)
			}
			e.refs = append(e.refs, patRef{int32(idx), int32(len(cr.res))})
			cr.res = append(cr.res, re)
			exprs = append(exprs, expr)
			return nil
		}
		for i, p := range r.Patterns {
			if err := add("patterns", i, p); err != nil {
				return nil, err
			}
		}
		for i, k := range r.Keywords {
			if strings.TrimSpace(k) == "" {
				return nil, fmt.Errorf("rule %s keywords[%d] is empty", r.ID, i)
			}
			if err := add("keywords", i, keywordPattern(k)); err != nil {
				return nil, err
			}
		}
		cr.fast = make([]atomic.Pointer[re2.Regexp], len(cr.res))
		f, err := newValueFilter(r.MinEntropy, r.Allowlist, opts.MaxPatternInsts)
		if err != nil {
			return nil, fmt.Errorf("rule %s (policy %s) %w", r.ID, rs.Source[r.ID], err)
		}
		cr.filter = f
		if k, ok := EntityRules[r.ID]; ok && r.Kind == bulwark.KindPII {
			cr.entity = k
		}
		if r.ID == RuleML {
			if !rs.ML.Enabled || opts.Classifier == nil {
				continue
			}
			e.ml = idx
		}
		if r.Action == bulwark.ActionRedact {
			e.redact = true
		}
		e.byID[r.ID] = idx
		e.rules = append(e.rules, cr)
	}
	if len(exprs) > 0 {
		set, err := experimental.CompileSetWithOptions(exprs, experimental.CompileOptions{MaxMem: 256 << 20})
		if err != nil {
			return nil, e.blameSet(exprs, err)
		}
		e.set = set
	}
	return e, nil
}

// compilePattern compiles with the standard library, refusing patterns
// whose program is too large (nested counted repetition blows up).
func compilePattern(expr string, maxInsts int) (*regexp.Regexp, error) {
	if len(expr) > bulwark.MaxPatternLen+64 {
		return nil, fmt.Errorf("pattern is longer than %d bytes", bulwark.MaxPatternLen)
	}
	parsed, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return nil, err
	}
	if cost := patternCost(parsed); cost > MaxPatternCost {
		return nil, fmt.Errorf("pattern is too expensive for the matcher (estimated automaton size %d, limit %d): counted repetitions of Unicode classes such as [\\p{L}]{2,40} expand into very large byte automata; use a smaller bound, + or *, or an ASCII class", cost, MaxPatternCost)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return nil, err
	}
	if len(prog.Inst) > maxInsts {
		return nil, fmt.Errorf("pattern is too large (%d instructions, limit %d); reduce counted repetitions like {1000}", len(prog.Inst), maxInsts)
	}
	return regexp.Compile(expr)
}

// blameSet finds which pattern made the RE2 set fail to compile.
func (e *Engine) blameSet(exprs []string, setErr error) error {
	for i, expr := range exprs {
		if _, err := re2.Compile(expr); err != nil {
			ref := e.refs[i]
			id := "?"
			if int(ref.rule) < len(e.rules) {
				id = e.rules[ref.rule].ID
			}
			return fmt.Errorf("rule %s pattern %d %q is rejected by RE2: %w", id, ref.re, expr, err)
		}
	}
	return fmt.Errorf("compiling %d patterns into one matcher: %w", len(exprs), setErr)
}

// RuleSet returns the resolved rules the engine was compiled from.
func (e *Engine) RuleSet() *RuleSet { return e.rs }

// MLActive reports whether the learned detector runs.
func (e *Engine) MLActive() bool { return e.ml >= 0 }

// Patterns returns the number of compiled patterns and keywords.
func (e *Engine) Patterns() int { return len(e.refs) }

// Result is the outcome of one Scan.
type Result struct {
	Findings []bulwark.Finding `json:"findings"`
	// Truncated is set when part of the input was not scanned because it
	// exceeded MaxScanBytes or MaxDecodedBytes.
	Truncated    bool `json:"truncated"`
	BytesScanned int  `json:"bytes_scanned"`
	Fields       int  `json:"fields"`
}

// MaxSeverity returns the most severe finding's severity, or "".
func (r *Result) MaxSeverity() bulwark.Severity {
	var best bulwark.Severity
	for _, f := range r.Findings {
		if f.Severity.Rank() > best.Rank() {
			best = f.Severity
		}
	}
	return best
}

// Blocked reports whether any finding's action is block.
func (r *Result) Blocked() bool {
	for _, f := range r.Findings {
		if f.Action == bulwark.ActionBlock {
			return true
		}
	}
	return false
}

// scanState is the per-Scan budget and output.
type scanState struct {
	res     *Result
	budget  int
	decoded int
}

// layer locates text being scanned: a field, or a decoded segment of it.
type layer struct {
	proto   bulwark.Protocol
	surface bulwark.Surface
	path    string
	depth   int
	// fixed, when set, pins every finding to the span of the outermost
	// encoded segment in the original field text.
	fixed      bool
	start, end int
}

// scanField scans one piece of text from an input.
func (e *Engine) scanField(st *scanState, text string, proto bulwark.Protocol, surface bulwark.Surface, path string) {
	st.res.Fields++
	if len(text) > st.budget {
		cut := st.budget
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		text = text[:cut]
		st.res.Truncated = true
	}
	st.budget -= len(text)
	st.res.BytesScanned += len(text)
	if text == "" {
		return
	}
	first := len(st.res.Findings)
	var key cleanKey
	cacheable := e.clean != nil && len(text) >= cleanCacheMin && !st.res.Truncated
	if cacheable {
		key = e.clean.key(text, proto, surface)
		if e.clean.has(key) {
			return
		}
	}
	e.scanLayer(st, text, layer{proto: proto, surface: surface, path: path})
	if cacheable && len(st.res.Findings) == first && !st.res.Truncated {
		e.clean.add(key)
	}
	found := st.res.Findings[first:]
	sort.SliceStable(found, func(i, j int) bool {
		if found[i].Start != found[j].Start {
			return found[i].Start < found[j].Start
		}
		return found[i].RuleID < found[j].RuleID
	})
}

func (e *Engine) scanLayer(st *scanState, text string, l layer) {
	n := normalize(text)
	first := len(st.res.Findings)
	span := func(s, end int) (int, int) {
		if l.fixed {
			return l.start, l.end
		}
		return n.orig(s), n.origEnd(s, end)
	}
	for _, ev := range n.evasions {
		i, ok := e.byID[ev.rule]
		if !ok || !e.rules[i].applies(l.proto, l.surface) {
			continue
		}
		s, end := ev.start, ev.end
		if l.fixed {
			s, end = l.start, l.end
		}
		e.add(st, first, i, l, s, end, text[ev.start:ev.end], 0)
	}
	e.match(st, first, n, l, span)
	if e.ml >= 0 && e.rules[e.ml].applies(l.proto, l.surface) {
		if score := e.opts.Classifier.Score(n.text); score >= e.rs.ML.Threshold {
			s, end := span(0, len(n.text))
			e.add(st, first, e.ml, l, s, end, n.text, score)
		}
	}
	if l.depth >= e.opts.MaxDecodeDepth {
		return
	}
	var segs []segment
	if n.hidden != "" {
		segs = append(segs, segment{enc: EncTags, start: 0, end: len(n.text), decoded: n.hidden})
	}
	segs = append(segs, findSegments(n.text, e.opts.MinEncodedLen, 32, e.opts.MaxDecodedBytes-st.decoded)...)
	for _, sg := range segs {
		if st.decoded+len(sg.decoded) > e.opts.MaxDecodedBytes {
			st.res.Truncated = true
			break
		}
		st.decoded += len(sg.decoded)
		sub := l
		sub.depth++
		sub.path = l.path + "[decoded:" + sg.enc + "]"
		if !l.fixed {
			sub.fixed = true
			if sg.enc == EncTags && len(n.evasions) > 0 {
				sub.start, sub.end = tagSpan(n.evasions, len(text))
			} else {
				sub.start, sub.end = n.orig(sg.start), n.origEnd(sg.start, sg.end)
			}
		}
		e.scanLayer(st, sg.decoded, sub)
	}
}

func tagSpan(ev []evasion, n int) (int, int) {
	for _, x := range ev {
		if x.rule == RuleTagChars {
			return x.start, x.end
		}
	}
	return 0, n
}

// match runs the set over the normalised text, then the stdlib regexps of
// the rules that hit, for positions.
func (e *Engine) match(st *scanState, first int, n normalized, l layer, span func(int, int) (int, int)) {
	if e.set == nil {
		return
	}
	hits, err := e.set.FindAllStringWithError(n.text, -1)
	if err != nil {
		// The DFA ran out of memory on this input: fall back to the
		// standard library, which is linear time, for every pattern.
		hits = hits[:0]
		for i := range e.refs {
			hits = append(hits, i)
		}
	}
	var ents entities
	for _, h := range hits {
		ref := e.refs[h]
		r := &e.rules[ref.rule]
		if !r.applies(l.proto, l.surface) || e.has(st, first, int(ref.rule), l.path) {
			continue
		}
		if r.entity != 0 {
			for _, en := range ents.of(n.text) {
				if en.Kind == r.entity {
					s, end := span(en.Start, en.End)
					e.add(st, first, int(ref.rule), l, s, end, n.text[en.Start:en.End], 0)
					break
				}
			}
			continue
		}
		loc := r.locate(int(ref.re), n.text)
		if loc == nil {
			continue
		}
		s, end := span(loc[0], loc[1])
		e.add(st, first, int(ref.rule), l, s, end, n.text[loc[0]:loc[1]], 0)
	}
}

// EntityRules are the rules whose matches come from the gazetteer
// named-entity detector (package names) rather than from their patterns:
// persons, places and organisations in prose. A rule with one of these ids
// and kind pii runs the detector when one of its patterns (the gate, a
// capitalised word) hits; the rule's other fields apply as usual.
var EntityRules = map[string]names.Kind{
	"PII-026": names.Person,
	"PII-027": names.Location,
	"PII-028": names.Organization,
}

// entities runs the named-entity detector at most once per text.
type entities struct {
	done bool
	list []names.Entity
}

func (x *entities) of(text string) []names.Entity {
	if !x.done {
		x.list, x.done = names.Find(text), true
	}
	return x.list
}

// locate finds the leftmost-first match of pattern i. It uses the RE2
// compilation of the pattern (built once, on the pattern's first hit) and
// falls back to the standard library if RE2 refuses the expression; both
// implement the same leftmost-first semantics.
func (r *compiledRule) locate(i int, text string) []int {
	if r.filter != nil {
		if all := r.locateAll(i, text, 1); len(all) > 0 {
			return all[0]
		}
		return nil
	}
	return r.re2(i).FindStringIndex(text)
}

// maxFilteredMatches bounds how many matches of a filtered rule are tried
// before the rule is considered not to match.
const maxFilteredMatches = 64

// locateAll returns up to n matches of pattern i (n < 0: all, bounded by
// maxFilteredMatches when the rule has a filter) that pass the rule's
// filter, as [start, end] pairs.
func (r *compiledRule) locateAll(i int, text string, n int) [][]int {
	re := r.re2(i)
	if r.filter == nil {
		return re.FindAllStringIndex(text, n)
	}
	var out [][]int
	var locs [][]int
	if r.filter.needsGroups(r.res[i]) {
		locs = re.FindAllStringSubmatchIndex(text, maxFilteredMatches)
	} else {
		locs = re.FindAllStringIndex(text, maxFilteredMatches)
	}
	for _, loc := range locs {
		if r.filter.accept(r.res[i], text, loc) {
			out = append(out, loc[:2])
			if n > 0 && len(out) >= n {
				break
			}
		}
	}
	return out
}

// re2 returns the RE2 compilation of pattern i, building it on first use;
// if RE2 refuses the expression the stdlib regexp is used instead.
func (r *compiledRule) re2(i int) matcher {
	fast := r.fast[i].Load()
	if fast == nil {
		re, err := re2.Compile(r.res[i].String())
		if err != nil {
			return r.res[i]
		}
		if !r.fast[i].CompareAndSwap(nil, re) {
			fast = r.fast[i].Load()
		} else {
			fast = re
		}
	}
	return fast
}

// matcher is what RE2 and the standard library regexps have in common.
type matcher interface {
	FindStringIndex(s string) []int
	FindAllStringIndex(s string, n int) [][]int
	FindAllStringSubmatchIndex(s string, n int) [][]int
}

func (e *Engine) has(st *scanState, first, rule int, path string) bool {
	id := e.rules[rule].ID
	for _, f := range st.res.Findings[first:] {
		if f.RuleID == id && f.Path == path {
			return true
		}
	}
	return false
}

func (e *Engine) add(st *scanState, first, rule int, l layer, start, end int, matched string, score float64) {
	if e.has(st, first, rule, l.path) {
		return
	}
	r := &e.rules[rule]
	if score == 0 {
		score = r.score
	}
	st.res.Findings = append(st.res.Findings, bulwark.Finding{
		RuleID: r.ID, Title: r.Title, Category: r.Category, Kind: r.Kind,
		Severity: r.Severity, Action: r.Action, Score: score,
		Surface: l.surface, Path: l.path, Start: start, End: end,
		Evidence: evidence(matched, r.Kind == bulwark.KindSecret || r.Kind == bulwark.KindPII || r.Action == bulwark.ActionRedact),
	})
}

// evidence shortens a match for display and masks secrets.
func evidence(s string, mask bool) string {
	const maxLen = 80
	if mask {
		runes := []rune(s)
		keep := min(4, len(runes)/4)
		return string(runes[:keep]) + strings.Repeat("*", min(len(runes)-keep, 12))
	}
	s = maskTokens(s)
	var b strings.Builder
	for _, r := range s {
		if b.Len() >= maxLen {
			b.WriteString("…")
			break
		}
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r < 0x20 || r == 0x7f || isTag(r) || isBidi(r) || isZeroWidth(r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// maskTokens hides what looks like a credential inside the excerpt of a
// non-secret finding (an injection prompt that also carries a key): a run
// of 16 or more token characters mixing letters and digits keeps its first
// four characters only, so evidence never shows a usable secret.
func maskTokens(s string) string {
	isTok := func(c byte) bool {
		return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '+' || c == '/' || c == '='
	}
	var b []byte
	for i := 0; i < len(s); {
		if !isTok(s[i]) {
			if b != nil {
				b = append(b, s[i])
			}
			i++
			continue
		}
		j := i
		letters, digits := false, false
		for j < len(s) && isTok(s[j]) {
			c := s[j]
			letters = letters || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			digits = digits || c >= '0' && c <= '9'
			j++
		}
		if j-i >= 16 && letters && digits {
			if b == nil {
				b = append([]byte(nil), s[:i]...)
			}
			b = append(b, s[i:i+4]...)
			b = append(b, "********"...)
		} else if b != nil {
			b = append(b, s[i:j]...)
		}
		i = j
	}
	if b == nil {
		return s
	}
	return string(b)
}

// ScanText scans one plain text on the given protocol and surface.
func (e *Engine) ScanText(ctx context.Context, text string, proto bulwark.Protocol, surface bulwark.Surface) (*Result, error) {
	return e.Scan(ctx, Input{Protocol: proto, Surface: surface, Format: FormatText, Text: text})
}

// Scan extracts the texts of an input (message contents, tool argument
// values, tool descriptions…) and scans each on its surface.
func (e *Engine) Scan(ctx context.Context, in Input) (*Result, error) {
	fields, err := extract(in, e.opts)
	if err != nil {
		return nil, err
	}
	st := &scanState{res: &Result{}, budget: e.opts.MaxScanBytes}
	for i, f := range fields {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e.scanField(st, f.text, f.proto, f.surface, f.path)
	}
	return st.res, nil
}

// ErrTooLarge is returned for inputs above MaxInputBytes.
var ErrTooLarge = errors.New("input too large")
