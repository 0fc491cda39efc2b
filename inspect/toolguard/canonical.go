package toolguard

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
)

// Limits on one definition.
const (
	// MaxDefinitionBytes is the largest definition Canonical accepts.
	MaxDefinitionBytes = 1 << 20
	// MaxDepth is the deepest nesting of objects and arrays accepted.
	MaxDepth = 64
)

// keptFields are the members of a definition that define its behaviour, by
// kind. Everything else is dropped before hashing:
//
//   - _meta is protocol metadata (progress tokens, vendor and UI hints) that
//     servers may change freely and that is not part of what the model is
//     told; pinning it would quarantine tools for no reason.
//   - icons are display only and often carry CDN URLs that change.
//   - execution (task support) says how a client invokes a tool, not what it does.
//   - a resource's size and annotations (lastModified, priority) change
//     with its content, not with its behaviour.
//
// A resource template is a resource whose identity is its uriTemplate.
var keptFields = map[bulwark.ToolKind][]string{
	bulwark.KindTool:     {"name", "title", "description", "inputSchema", "outputSchema", "annotations"},
	bulwark.KindPrompt:   {"name", "title", "description", "arguments"},
	bulwark.KindResource: {"uri", "uriTemplate", "name", "title", "description", "mimeType"},
}

// Canonical returns the canonical JSON of an MCP tool, prompt or resource
// (template) definition and its name (for resources: the uri, or the
// uriTemplate of a template). Only the members that define behaviour are
// kept (see keptFields); they are written with object keys sorted by their
// UTF-16 code units at every level, no insignificant whitespace, numbers as
// their literal text and strings re-escaped the RFC 8785 (JCS) way: only
// the quote, the backslash and control characters are escaped, the latter
// as \b \t \n \f \r or \u00xx. Invalid UTF-8 becomes U+FFFD.
//
// A definition that is not a JSON object, has a duplicate member name at any
// level, lacks a non-empty string name (uri or uriTemplate for resources),
// is larger than MaxDefinitionBytes or deeper than MaxDepth is an error.
// Canonical is idempotent: Canonical of a canonical definition returns it
// unchanged.
func Canonical(kind bulwark.ToolKind, def json.RawMessage) (canon json.RawMessage, name string, err error) {
	fields, ok := keptFields[kind]
	if !ok {
		return nil, "", fmt.Errorf("unknown kind %q", kind)
	}
	if len(def) > MaxDefinitionBytes {
		return nil, "", fmt.Errorf("definition is %d bytes, the limit is %d", len(def), MaxDefinitionBytes)
	}
	if !json.Valid(def) {
		return nil, "", errors.New("definition is not valid JSON")
	}
	p := parser{data: def}
	p.skipSpace()
	if p.peek() != '{' {
		return nil, "", errors.New("definition is not a JSON object")
	}
	ms, err := p.object(1)
	if err != nil {
		return nil, "", err
	}
	kept := ms[:0]
	for _, m := range ms {
		if slices.Contains(fields, m.key) {
			kept = append(kept, m)
		}
	}
	switch kind {
	case bulwark.KindResource:
		uri, hasURI := lookup(kept, "uri")
		tmpl, hasTmpl := lookup(kept, "uriTemplate")
		switch {
		case hasURI && hasTmpl:
			return nil, "", errors.New("resource has both uri and uriTemplate")
		case hasURI:
			name, err = nameOf(uri, "uri")
		case hasTmpl:
			name, err = nameOf(tmpl, "uriTemplate")
		default:
			err = errors.New("resource has no uri or uriTemplate")
		}
	default:
		m, has := lookup(kept, "name")
		if !has {
			err = fmt.Errorf("%s has no name", kind)
		} else {
			name, err = nameOf(m, "name")
		}
	}
	if err != nil {
		return nil, "", err
	}
	return writeObject(make([]byte, 0, len(def)), kept), name, nil
}

// Hash returns the hex SHA-256 of a canonical definition.
func Hash(canon json.RawMessage) string {
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

func lookup(ms []member, key string) (member, bool) {
	for _, m := range ms {
		if m.key == key {
			return m, true
		}
	}
	return member{}, false
}

func nameOf(m member, field string) (string, error) {
	if !m.isString || m.str == "" {
		return "", fmt.Errorf("%s must be a non-empty string", field)
	}
	return m.str, nil
}

// canonicalValue returns the canonical JSON of any JSON value (all members kept).
func canonicalValue(data []byte) ([]byte, error) {
	if len(data) > MaxDefinitionBytes*4 {
		return nil, errors.New("too large")
	}
	if !json.Valid(data) {
		return nil, errors.New("not valid JSON")
	}
	p := parser{data: data}
	return p.value(nil, 0)
}

// member is one object member with its value in canonical form.
type member struct {
	key      string
	val      []byte
	isString bool
	str      string // the decoded value when isString
}

// parser reads JSON that json.Valid has accepted, so it only needs to be
// safe, not to report syntax errors precisely.
type parser struct {
	data []byte
	pos  int
}

var errSyntax = errors.New("malformed JSON")

func (p *parser) peek() byte {
	if p.pos < len(p.data) {
		return p.data[p.pos]
	}
	return 0
}

func (p *parser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// value appends the canonical form of the value at pos to dst.
func (p *parser) value(dst []byte, depth int) ([]byte, error) {
	p.skipSpace()
	switch c := p.peek(); {
	case c == '{':
		ms, err := p.object(depth + 1)
		if err != nil {
			return nil, err
		}
		return writeObject(dst, ms), nil
	case c == '[':
		if depth+1 > MaxDepth {
			return nil, fmt.Errorf("nested deeper than %d", MaxDepth)
		}
		p.pos++
		dst = append(dst, '[')
		p.skipSpace()
		if p.peek() == ']' {
			p.pos++
			return append(dst, ']'), nil
		}
		for n := 0; ; n++ {
			if n > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = p.value(dst, depth+1); err != nil {
				return nil, err
			}
			p.skipSpace()
			switch p.peek() {
			case ',':
				p.pos++
			case ']':
				p.pos++
				return append(dst, ']'), nil
			default:
				return nil, errSyntax
			}
		}
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return appendString(dst, s), nil
	case c == '-' || c >= '0' && c <= '9':
		start := p.pos
		for p.pos < len(p.data) && bytes.IndexByte([]byte("+-.eE0123456789"), p.data[p.pos]) >= 0 {
			p.pos++
		}
		return append(dst, p.data[start:p.pos]...), nil
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(p.data[p.pos:], []byte(lit)) {
				p.pos += len(lit)
				return append(dst, lit...), nil
			}
		}
		return nil, errSyntax
	}
}

// object reads an object at pos and returns its members sorted by key.
// Duplicate keys are an error: parsers disagree on which one wins, so a
// definition could show the model one text and Bulwark another.
func (p *parser) object(depth int) ([]member, error) {
	if depth > MaxDepth {
		return nil, fmt.Errorf("nested deeper than %d", MaxDepth)
	}
	p.pos++ // {
	var ms []member
	p.skipSpace()
	if p.peek() == '}' {
		p.pos++
		return ms, nil
	}
	for {
		p.skipSpace()
		if p.peek() != '"' {
			return nil, errSyntax
		}
		key, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.peek() != ':' {
			return nil, errSyntax
		}
		p.pos++
		p.skipSpace()
		m := member{key: key}
		if p.peek() == '"' {
			s, err := p.str()
			if err != nil {
				return nil, err
			}
			m.isString, m.str, m.val = true, s, appendString(nil, s)
		} else if m.val, err = p.value(nil, depth); err != nil {
			return nil, err
		}
		ms = append(ms, m)
		p.skipSpace()
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			slices.SortFunc(ms, func(a, b member) int { return compareUTF16(a.key, b.key) })
			for i := 1; i < len(ms); i++ {
				if ms[i].key == ms[i-1].key {
					return nil, fmt.Errorf("duplicate member %q", ms[i].key)
				}
			}
			return ms, nil
		default:
			return nil, errSyntax
		}
	}
}

// str reads a string token and returns its decoded value.
func (p *parser) str() (string, error) {
	start := p.pos
	p.pos++ // opening quote
	escaped := false
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case '\\':
			escaped = true
			p.pos += 2
			continue
		case '"':
			p.pos++
			raw := p.data[start:p.pos]
			body := raw[1 : len(raw)-1]
			if !escaped && utf8.Valid(body) {
				return string(body), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", errSyntax
			}
			return s, nil
		}
		p.pos++
	}
	return "", errSyntax
}

func writeObject(dst []byte, ms []member) []byte {
	dst = append(dst, '{')
	for i, m := range ms {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, m.key)
		dst = append(dst, ':')
		dst = append(dst, m.val...)
	}
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendString writes s (valid UTF-8) as a JSON string the JCS way.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// compareUTF16 orders strings by their UTF-16 code units, as RFC 8785
// sorts member names. It differs from byte order only for characters above
// U+FFFF against characters in U+E000–U+FFFF.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua, ub := utf16Units(ra), utf16Units(rb)
			if ua[0] != ub[0] {
				return int(ua[0]) - int(ub[0])
			}
			return int(ua[1]) - int(ub[1])
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

func utf16Units(r rune) [2]uint16 {
	if r >= 0x10000 {
		hi, lo := utf16.EncodeRune(r)
		return [2]uint16{uint16(hi), uint16(lo)}
	}
	return [2]uint16{uint16(r), 0}
}
