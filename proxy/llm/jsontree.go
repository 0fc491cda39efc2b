package llm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
)

// MaxDepth is how deeply objects and arrays may nest in a body. Real
// requests stay far below it; the limit bounds the work a hostile body
// can cause.
const MaxDepth = 64

type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kObject
	kArray
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an object", "an array"}[k]
}

// node is one JSON value. Objects keep their keys in document order and
// numbers keep their literal text, so a re-encoded body differs from the
// original only where it was changed (and in insignificant whitespace).
type node struct {
	kind kind
	b    bool
	str  string   // string value, or the literal of a number
	keys []string // object keys, parallel to vals
	vals []*node  // object values or array items
}

func (n *node) get(key string) *node {
	if n == nil || n.kind != kObject {
		return nil
	}
	for i, k := range n.keys {
		if k == key {
			return n.vals[i]
		}
	}
	return nil
}

// getString returns the string at key, or "" when it is absent or no string.
func (n *node) getString(key string) string {
	if v := n.get(key); v != nil && v.kind == kString {
		return v.str
	}
	return ""
}

// set replaces the value at key, or appends key when it is absent.
func (n *node) set(key string, v *node) {
	for i, k := range n.keys {
		if k == key {
			n.vals[i] = v
			return
		}
	}
	n.keys = append(n.keys, key)
	n.vals = append(n.vals, v)
}

// insertAfter adds key after the key named after (or first when after is
// absent); key must not exist yet.
func (n *node) insertAfter(after, key string, v *node) {
	at := 0
	for i, k := range n.keys {
		if k == after {
			at = i + 1
		}
	}
	n.keys = append(n.keys[:at], append([]string{key}, n.keys[at:]...)...)
	n.vals = append(n.vals[:at], append([]*node{v}, n.vals[at:]...)...)
}

func str(s string) *node { return &node{kind: kString, str: s} }

// parseError is a body that is not JSON, or not JSON we accept.
func parseError(data []byte, off int64, format string, args ...any) error {
	line, col := lineCol(data, int(off))
	msg := fmt.Sprintf(format, args...)
	return &bulwark.Error{
		Code:    bulwark.CodeInvalid,
		Message: fmt.Sprintf("invalid JSON at line %d, column %d (byte offset %d): %s", line, col, off, msg),
	}
}

func lineCol(data []byte, off int) (int, int) {
	off = min(max(off, 0), len(data))
	line := 1 + bytes.Count(data[:off], []byte{'\n'})
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return line, col
}

// parseJSON decodes data into a tree. Numbers are kept as their literal
// (json.Decoder.UseNumber). Duplicate object keys are refused: parsers
// disagree on which one wins, and a gateway that scanned the first while
// the provider reads the last would be bypassed.
//
// A body is read by a single-pass scanner (fastParser) that builds the same
// tree as encoding/json's token stream; a body it does not accept is read
// again by the token-by-token decoder (parseJSONTokens), which gives the
// error its message and position. FuzzParseJSONMatchesTokens holds the
// two together.
func parseJSON(data []byte) (*node, error) {
	if n, ok := parseFast(data); ok {
		return n, nil
	}
	return parseJSONTokens(data)
}

// parseJSONTokens is parseJSON with encoding/json's Decoder.Token.
func parseJSONTokens(data []byte) (*node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := jsonParser{dec: dec, data: data}
	root, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, parseError(data, dec.InputOffset(), "unexpected data after the top-level value")
	}
	return root, nil
}

type jsonParser struct {
	dec  *json.Decoder
	data []byte
}

func (p *jsonParser) token() (json.Token, error) {
	t, err := p.dec.Token()
	if err == nil {
		return t, nil
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, parseError(p.data, int64(len(p.data)), "the document ends early (unclosed object, array or string)")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, parseError(p.data, se.Offset, "%s", strings.TrimPrefix(se.Error(), "json: "))
	}
	return nil, parseError(p.data, p.dec.InputOffset(), "%s", strings.TrimPrefix(err.Error(), "json: "))
}

func (p *jsonParser) value(depth int) (*node, error) {
	off := p.dec.InputOffset()
	t, err := p.token()
	if err != nil {
		return nil, err
	}
	return p.fromToken(t, off, depth)
}

func (p *jsonParser) fromToken(t json.Token, off int64, depth int) (*node, error) {
	switch v := t.(type) {
	case json.Delim:
		if depth+1 > MaxDepth {
			return nil, parseError(p.data, off, "nested deeper than %d levels", MaxDepth)
		}
		if v == '{' {
			return p.object(depth + 1)
		}
		if v == '[' {
			return p.array(depth + 1)
		}
		return nil, parseError(p.data, off, "unexpected %q", rune(v))
	case string:
		return &node{kind: kString, str: v}, nil
	case json.Number:
		return &node{kind: kNumber, str: string(v)}, nil
	case bool:
		return &node{kind: kBool, b: v}, nil
	case nil:
		return &node{kind: kNull}, nil
	}
	return nil, parseError(p.data, off, "unexpected token %v", t)
}

func (p *jsonParser) object(depth int) (*node, error) {
	n := &node{kind: kObject}
	for {
		off := p.dec.InputOffset()
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		if t == json.Delim('}') {
			return n, nil
		}
		key, ok := t.(string)
		if !ok {
			return nil, parseError(p.data, off, "expected an object key")
		}
		if n.get(key) != nil {
			return nil, parseError(p.data, off, "duplicate key %q", key)
		}
		v, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.keys = append(n.keys, key)
		n.vals = append(n.vals, v)
	}
}

func (p *jsonParser) array(depth int) (*node, error) {
	n := &node{kind: kArray}
	for {
		off := p.dec.InputOffset()
		t, err := p.token()
		if err != nil {
			return nil, err
		}
		if t == json.Delim(']') {
			return n, nil
		}
		v, err := p.fromToken(t, off, depth)
		if err != nil {
			return nil, err
		}
		n.vals = append(n.vals, v)
	}
}

// fastParser reads a JSON document in one pass. Strings without escapes,
// numbers and keys are substrings of one copy of the document; nodes come
// from slabs. It reports only whether the document is accepted: errors are
// described by parseJSONTokens.
type fastParser struct {
	data []byte
	s    string // data as a string
	i    int
	slab []node
	// keys and vals are the stacks of the open containers' members,
	// copied to exact-size slices when a container closes.
	keys []string
	vals []*node
	buf  []byte // unescaping scratch
}

func parseFast(data []byte) (*node, bool) {
	p := fastParser{data: data, s: string(data)}
	root, ok := p.value(0)
	if !ok {
		return nil, false
	}
	p.ws()
	return root, p.i == len(data)
}

func (p *fastParser) ws() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) node(k kind) *node {
	if len(p.slab) == cap(p.slab) {
		p.slab = make([]node, 0, min(max(2*cap(p.slab), 8), 256))
	}
	p.slab = p.slab[:len(p.slab)+1]
	n := &p.slab[len(p.slab)-1]
	n.kind = k
	return n
}

func (p *fastParser) value(depth int) (*node, bool) {
	p.ws()
	if p.i >= len(p.data) {
		return nil, false
	}
	switch c := p.data[p.i]; {
	case c == '{' || c == '[':
		if depth+1 > MaxDepth {
			return nil, false
		}
		p.i++
		if c == '{' {
			return p.object(depth + 1)
		}
		return p.array(depth + 1)
	case c == '"':
		str, ok := p.string()
		if !ok {
			return nil, false
		}
		n := p.node(kString)
		n.str = str
		return n, true
	case c == 't':
		return p.literal("true", kBool, true)
	case c == 'f':
		return p.literal("false", kBool, false)
	case c == 'n':
		return p.literal("null", kNull, false)
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		if !p.number() {
			return nil, false
		}
		n := p.node(kNumber)
		n.str = p.s[start:p.i]
		return n, true
	}
	return nil, false
}

func (p *fastParser) literal(lit string, k kind, b bool) (*node, bool) {
	if !strings.HasPrefix(p.s[p.i:], lit) {
		return nil, false
	}
	p.i += len(lit)
	n := p.node(k)
	n.b = b
	return n, true
}

// number consumes -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (p *fastParser) number() bool {
	d := p.data
	i := p.i
	if d[i] == '-' {
		i++
	}
	if i >= len(d) {
		return false
	}
	switch {
	case d[i] == '0':
		i++
	case d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return false
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return false
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	p.i = i
	return true
}

// string reads the string at p.i (its opening quote) and returns its
// value as encoding/json decodes it.
func (p *fastParser) string() (string, bool) {
	d := p.data
	start := p.i + 1
	i := start
	plain := true // no escapes, ASCII only
	for {
		if i >= len(d) {
			return "", false
		}
		c := d[i]
		if c == '"' {
			break
		}
		if c < 0x20 {
			return "", false
		}
		if c == '\\' || c >= utf8.RuneSelf {
			plain = false
			if c == '\\' {
				i++ // the escaped byte cannot be the closing quote
			}
		}
		i++
	}
	p.i = i + 1
	raw := d[start:i]
	if plain || bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return p.s[start:i], true
	}
	return p.unquote(raw)
}

// unquote decodes the escapes of a string body as encoding/json does:
// invalid UTF-8 and lone surrogates become U+FFFD.
func (p *fastParser) unquote(s []byte) (string, bool) {
	b := p.buf[:0]
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			if r+1 >= len(s) {
				return "", false
			}
			switch s[r+1] {
			case '"', '\\', '/':
				b = append(b, s[r+1])
			case 'b':
				b = append(b, '\b')
			case 'f':
				b = append(b, '\f')
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u':
				rr := getu4(s[r:])
				if rr < 0 {
					return "", false
				}
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						b = utf8.AppendRune(b, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				b = utf8.AppendRune(b, rr)
				continue
			default:
				return "", false
			}
			r += 2
		case c < utf8.RuneSelf:
			b = append(b, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			b = utf8.AppendRune(b, rr)
		}
	}
	p.buf = b
	return string(b), true
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

func (p *fastParser) object(depth int) (*node, bool) {
	base, vbase := len(p.keys), len(p.vals)
	defer func() { p.keys, p.vals = p.keys[:base], p.vals[:vbase] }()
	p.ws()
	if p.i < len(p.data) && p.data[p.i] == '}' {
		p.i++
		return p.node(kObject), true
	}
	for {
		p.ws()
		if p.i >= len(p.data) || p.data[p.i] != '"' {
			return nil, false
		}
		key, ok := p.string()
		if !ok {
			return nil, false
		}
		for _, k := range p.keys[base:] {
			if k == key {
				return nil, false // duplicate key
			}
		}
		p.ws()
		if p.i >= len(p.data) || p.data[p.i] != ':' {
			return nil, false
		}
		p.i++
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		p.keys = append(p.keys, key)
		p.vals = append(p.vals, v)
		p.ws()
		if p.i >= len(p.data) {
			return nil, false
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			n := p.node(kObject)
			n.keys = append([]string(nil), p.keys[base:]...)
			n.vals = append([]*node(nil), p.vals[vbase:]...)
			return n, true
		default:
			return nil, false
		}
	}
}

func (p *fastParser) array(depth int) (*node, bool) {
	base := len(p.vals)
	defer func() { p.vals = p.vals[:base] }()
	p.ws()
	if p.i < len(p.data) && p.data[p.i] == ']' {
		p.i++
		return p.node(kArray), true
	}
	for {
		v, ok := p.value(depth)
		if !ok {
			return nil, false
		}
		p.vals = append(p.vals, v)
		p.ws()
		if p.i >= len(p.data) {
			return nil, false
		}
		switch p.data[p.i] {
		case ',':
			p.i++
		case ']':
			p.i++
			n := p.node(kArray)
			n.vals = append([]*node(nil), p.vals[base:]...)
			return n, true
		default:
			return nil, false
		}
	}
}

// appendJSON writes n compactly.
func appendJSON(dst []byte, n *node) []byte {
	switch n.kind {
	case kNull:
		return append(dst, "null"...)
	case kBool:
		return strconv.AppendBool(dst, n.b)
	case kNumber:
		return append(dst, n.str...)
	case kString:
		return appendString(dst, n.str)
	case kObject:
		dst = append(dst, '{')
		for i, k := range n.keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, k)
			dst = append(dst, ':')
			dst = appendJSON(dst, n.vals[i])
		}
		return append(dst, '}')
	case kArray:
		dst = append(dst, '[')
		for i, v := range n.vals {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSON(dst, v)
		}
		return append(dst, ']')
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Unlike encoding/json it leaves
// <, > and & alone: the bodies go to APIs, not into HTML.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but end lines in JavaScript.
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// keyPath renders an object key as a path segment: bare when it is an
// identifier, quoted in brackets otherwise, exactly as the detect package
// writes its finding paths, so findings and Parts can be matched by path.
func keyPath(k string) string {
	ident := k != ""
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			ident = false
			break
		}
	}
	if ident {
		return k
	}
	return "[" + strconv.Quote(k) + "]"
}

// join appends a key or index segment to a path.
func join(base, seg string) string {
	if base == "" {
		return seg
	}
	if seg == "" || seg[0] == '[' {
		return base + seg
	}
	return base + "." + seg
}

func index(base string, i int) string { return base + "[" + strconv.Itoa(i) + "]" }

// resolve finds the node at path (the syntax join and keyPath produce).
func resolve(root *node, path string) (*node, error) {
	n := root
	p := path
	for p != "" {
		if p[0] == '.' {
			p = p[1:]
		}
		if p == "" {
			break
		}
		if p[0] == '[' {
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return nil, fmt.Errorf("bad path %q", path)
			}
			seg := p[1:end]
			if seg != "" && seg[0] == '"' {
				// A quoted key: find the closing quote that is followed by ']'.
				q, rest, err := unquotePrefix(p[1:])
				if err != nil || rest == "" || rest[0] != ']' {
					return nil, fmt.Errorf("bad path %q", path)
				}
				n = n.get(q)
				p = rest[1:]
			} else {
				i, err := strconv.Atoi(seg)
				if err != nil || n == nil || n.kind != kArray || i < 0 || i >= len(n.vals) {
					return nil, fmt.Errorf("path %q: no element %s", path, seg)
				}
				n = n.vals[i]
				p = p[end+1:]
			}
		} else {
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			n = n.get(p[:end])
			p = p[end:]
		}
		if n == nil {
			return nil, fmt.Errorf("path %q not found", path)
		}
	}
	return n, nil
}

// unquotePrefix unquotes the Go-quoted string at the start of s.
func unquotePrefix(s string) (string, string, error) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			u, err := strconv.Unquote(s[:i+1])
			return u, s[i+1:], err
		}
	}
	return "", "", errors.New("unterminated quote")
}
