package detect

import (
	"encoding/base64"
	"encoding/hex"
	"unicode/utf8"
)

// Encodings of decoded segments, as they appear in finding paths.
const (
	EncBase64 = "base64"
	EncHex    = "hex"
	EncURL    = "url"
	EncTags   = "unicode_tags"
)

// segment is an encoded run found in a text and its decoded form.
type segment struct {
	enc        string
	start, end int // in the text that was searched
	decoded    string
}

// byteClass holds, per byte, whether it is a base64 (standard or URL-safe)
// or hex digit: findSegments looks at every byte of every scanned text.
var byteClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_' {
			t[c] |= classB64
		}
		if c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' {
			t[c] |= classHex
		}
	}
	return t
}()

const (
	classB64 = 1 << iota
	classHex
)

func isB64(c byte) bool { return byteClass[c]&classB64 != 0 }

func isHex(c byte) bool { return byteClass[c]&classHex != 0 }

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// printable reports whether b is UTF-8 text worth scanning: valid, and at
// least 85% letters, digits, punctuation and ordinary whitespace.
func printable(b []byte) bool {
	if len(b) == 0 || !utf8.Valid(b) {
		return false
	}
	good, total := 0, 0
	for _, r := range string(b) {
		total++
		if r == '\n' || r == '\t' || r == '\r' || r >= 0x20 && r != 0x7f && (r < 0x80 || r >= 0xa0) && r != utf8.RuneError {
			good++
		}
	}
	return good*100 >= total*85
}

// decodeBase64 decodes standard or URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, bool) {
	for len(s) > 0 && s[len(s)-1] == '=' {
		s = s[:len(s)-1]
	}
	if len(s)%4 == 1 {
		s = s[:len(s)-1]
	}
	enc := base64.RawStdEncoding
	for i := 0; i < len(s); i++ {
		if s[i] == '-' || s[i] == '_' {
			enc = base64.RawURLEncoding
			break
		}
	}
	b, err := enc.DecodeString(s)
	return b, err == nil
}

// findSegments returns the base64, hex and URL-encoded runs of s of at
// least minLen characters whose decoded form is printable text, up to max
// segments and maxBytes decoded bytes in total.
func findSegments(s string, minLen, maxSegs, maxBytes int) []segment {
	var segs []segment
	used := 0
	add := func(enc string, start, end int, b []byte) bool {
		if used+len(b) > maxBytes || len(segs) >= maxSegs {
			return false
		}
		used += len(b)
		segs = append(segs, segment{enc, start, end, string(b)})
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		// \xNN escapes
		if c == '\\' && i+3 < len(s) && s[i+1] == 'x' && isHex(s[i+2]) && isHex(s[i+3]) {
			j := i
			var b []byte
			for j+3 < len(s) && s[j] == '\\' && s[j+1] == 'x' && isHex(s[j+2]) && isHex(s[j+3]) {
				b = append(b, unhex(s[j+2])<<4|unhex(s[j+3]))
				j += 4
			}
			if len(b)*4 >= minLen && printable(b) && !add(EncHex, i, j, b) {
				return segs
			}
			i = j
			continue
		}
		// URL encoding: a run of non-space characters with at least two %XX escapes.
		if c == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			start := i
			for start > 0 && s[start-1] > ' ' && s[start-1] != '"' && s[start-1] != '\'' {
				start--
			}
			end := i
			escapes := 0
			for end < len(s) && s[end] > ' ' && s[end] != '"' && s[end] != '\'' {
				if s[end] == '%' && end+2 < len(s) && isHex(s[end+1]) && isHex(s[end+2]) {
					escapes++
					end += 3
					continue
				}
				end++
			}
			if escapes >= 2 && end-start >= minLen/2 {
				b := make([]byte, 0, end-start)
				for k := start; k < end; k++ {
					if s[k] == '%' && k+2 < end && isHex(s[k+1]) && isHex(s[k+2]) {
						b = append(b, unhex(s[k+1])<<4|unhex(s[k+2]))
						k += 2
						continue
					}
					b = append(b, s[k])
				}
				if printable(b) && !add(EncURL, start, end, b) {
					return segs
				}
				i = end
				continue
			}
		}
		if !isB64(c) {
			i++
			continue
		}
		j := i
		allHex := true
		for j < len(s) && isB64(s[j]) {
			allHex = allHex && isHex(s[j])
			j++
		}
		end := j
		for end < len(s) && end-j < 2 && s[end] == '=' {
			end++
		}
		if j-i >= minLen {
			run := s[i:j]
			done := false
			if allHex && len(run)%2 == 0 {
				if b, err := hex.DecodeString(run); err == nil && printable(b) {
					if !add(EncHex, i, j, b) {
						return segs
					}
					done = true
				}
			}
			if !done {
				if b, ok := decodeBase64(run); ok && printable(b) {
					if !add(EncBase64, i, end, b) {
						return segs
					}
				}
			}
		}
		i = end
	}
	return segs
}
