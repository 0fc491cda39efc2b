package detect

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Evasion rule ids produced by the normaliser itself.
const (
	RuleTagChars    = "ENC-001" // Unicode tag characters (invisible ASCII)
	RuleANSI        = "ENC-002" // ANSI terminal escape sequences
	RuleZeroWidth   = "ENC-003" // zero-width characters inside words
	RuleBidi        = "ENC-004" // bidirectional override / isolate controls
	RuleMixedScript = "ENC-005" // Latin words spelt with Cyrillic/Greek look-alikes
)

// evasion is one evasion signal, with its span in the original text.
type evasion struct {
	rule       string
	start, end int
}

// normalized is a text after normalisation with a map back to the
// original: offs[i] is the original byte offset of normalised byte i, and
// offs[len(text)] is the original length. offs is nil when the text is
// unchanged.
type normalized struct {
	text     string
	offs     []int32
	evasions []evasion
	// hidden is the ASCII text smuggled in Unicode tag characters, if any.
	hidden string
}

// orig maps a normalised byte offset to an offset in the original text.
func (n *normalized) orig(i int) int {
	if n.offs == nil {
		return i
	}
	if i >= len(n.offs) {
		i = len(n.offs) - 1
	}
	return int(n.offs[i])
}

// origEnd maps the exclusive end of a normalised span to the original.
// The end is the original offset just after the last byte of the span.
func (n *normalized) origEnd(start, end int) int {
	if n.offs == nil || end <= start {
		return n.orig(end)
	}
	last := n.orig(end - 1)
	o := n.orig(end)
	if o <= last {
		// Several normalised bytes come from one original segment.
		o = last + 1
	}
	return o
}

// simple reports whether s needs no normalisation at all: printable ASCII
// and ordinary whitespace, without ESC.
func simple(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x80 || c == 0x1b {
			return false
		}
	}
	return true
}

func isZeroWidth(r rune) bool {
	switch r {
	case 0x200B, 0x200C, 0x200D, 0x2060, 0x2061, 0x2062, 0x2063, 0x2064, 0xFEFF, 0x180E, 0x00AD, 0x034F:
		return true
	}
	return false
}

func isBidi(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069 || r == 0x200E || r == 0x200F || r == 0x061C
}

// isBidiOverride: the controls that reorder text (Trojan Source), as
// opposed to the marks that ordinary right-to-left text uses.
func isBidiOverride(r rune) bool {
	return r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

func isTag(r rune) bool { return r >= 0xE0000 && r <= 0xE007F }

// ansiLen returns the length of the ANSI escape sequence at s[0] == ESC.
func ansiLen(s string) int {
	if len(s) < 2 {
		return 1
	}
	switch s[1] {
	case '[': // CSI: parameters, intermediates, final byte
		i := 2
		for i < len(s) && s[i] >= 0x30 && s[i] <= 0x3f {
			i++
		}
		for i < len(s) && s[i] >= 0x20 && s[i] <= 0x2f {
			i++
		}
		if i < len(s) && s[i] >= 0x40 && s[i] <= 0x7e {
			i++
		}
		return i
	case ']', 'P', '_', '^': // OSC, DCS, APC, PM: up to BEL or ST, bounded
		for i := 2; i < len(s) && i < 4096; i++ {
			if s[i] == 0x07 {
				return i + 1
			}
			if s[i] == 0x1b && i+1 < len(s) && s[i+1] == '\\' {
				return i + 2
			}
		}
		return min(len(s), 4096)
	default:
		if s[1] >= 0x40 && s[1] <= 0x5f || s[1] >= 0x60 && s[1] <= 0x7e {
			return 2
		}
		return 1
	}
}

// confusables folds common Cyrillic and Greek look-alikes to Latin.
var confusables = map[rune]rune{
	// Cyrillic lower case
	'а': 'a', 'в': 'b', 'е': 'e', 'к': 'k', 'м': 'm', 'н': 'h', 'о': 'o', 'р': 'p', 'с': 'c', 'т': 't',
	'у': 'y', 'х': 'x', 'ѕ': 's', 'і': 'i', 'ј': 'j', 'ԁ': 'd', 'ԛ': 'q', 'ԝ': 'w', 'ҡ': 'k', 'ӏ': 'l',
	'ɡ': 'g', 'ո': 'n', 'ս': 'u',
	// Cyrillic upper case
	'А': 'A', 'В': 'B', 'Е': 'E', 'К': 'K', 'М': 'M', 'Н': 'H', 'О': 'O', 'Р': 'P', 'С': 'C', 'Т': 'T',
	'У': 'Y', 'Х': 'X', 'Ѕ': 'S', 'І': 'I', 'Ј': 'J', 'Ԁ': 'D', 'Ԛ': 'Q', 'Ԝ': 'W', 'Ү': 'Y',
	// Greek
	'α': 'a', 'ο': 'o', 'ν': 'v', 'ρ': 'p', 'ι': 'i', 'κ': 'k', 'υ': 'u', 'ε': 'e', 'τ': 't', 'χ': 'x',
	'Α': 'A', 'Β': 'B', 'Ε': 'E', 'Ζ': 'Z', 'Η': 'H', 'Ι': 'I', 'Κ': 'K', 'Μ': 'M', 'Ν': 'N', 'Ο': 'O',
	'Ρ': 'P', 'Τ': 'T', 'Υ': 'Y', 'Χ': 'X',
}

// normalize returns s after invalid UTF-8 replacement, removal of ANSI
// escapes, tag characters, zero-width and bidi controls (each recorded as
// an evasion where it signals one), NFKC and confusable folding.
func normalize(s string) normalized {
	if simple(s) {
		return normalized{text: s}
	}
	// Pass 1: strip invisible and control sequences, repair UTF-8.
	buf := make([]byte, 0, len(s))
	offs := make([]int32, 0, len(s)+1)
	var ev []evasion
	var hidden []byte
	addEv := func(rule string, start, end int) {
		// Merge with the previous signal of the same rule when adjacent.
		if n := len(ev); n > 0 && ev[n-1].rule == rule && ev[n-1].end >= start-8 {
			ev[n-1].end = end
			return
		}
		ev = append(ev, evasion{rule, start, end})
	}
	prevLetter := false
	for i := 0; i < len(s); {
		c := s[i]
		if c == 0x1b {
			n := ansiLen(s[i:])
			addEv(RuleANSI, i, i+n)
			i += n
			continue
		}
		if c < utf8.RuneSelf {
			buf = append(buf, c)
			offs = append(offs, int32(i))
			prevLetter = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			buf = utf8.AppendRune(buf, utf8.RuneError)
			for range utf8.RuneLen(utf8.RuneError) {
				offs = append(offs, int32(i))
			}
			prevLetter = false
		case isTag(r):
			if r >= 0xE0020 && r <= 0xE007E && len(hidden) < 64<<10 {
				hidden = append(hidden, byte(r-0xE0000))
			}
			addEv(RuleTagChars, i, i+size)
		case isZeroWidth(r):
			if r != 0x200D && r != 0x200C && prevLetter {
				nr, _ := utf8.DecodeRuneInString(s[i+size:])
				if unicode.IsLetter(nr) {
					addEv(RuleZeroWidth, i, i+size)
				}
			}
		case isBidi(r):
			if isBidiOverride(r) {
				addEv(RuleBidi, i, i+size)
			}
		default:
			buf = append(buf, s[i:i+size]...)
			for range size {
				offs = append(offs, int32(i))
			}
			prevLetter = unicode.IsLetter(r)
		}
		i += size
	}
	offs = append(offs, int32(len(s)))
	s1 := string(buf)

	// Pass 2: NFKC segment by segment, folding confusables, and noting
	// words that mix Latin letters with look-alikes.
	out := make([]byte, 0, len(s1)+16)
	offs2 := make([]int32, 0, len(s1)+17)
	var it norm.Iter
	it.InitString(norm.NFKC, s1)
	wordStart, latin, fold := -1, false, false
	endWord := func(end int) {
		if wordStart >= 0 && latin && fold {
			addEv(RuleMixedScript, wordStart, end)
		}
		wordStart, latin, fold = -1, false, false
	}
	for !it.Done() {
		pos := it.Pos()
		seg := it.Next()
		o := offs[pos]
		for j := 0; j < len(seg); {
			r, size := utf8.DecodeRune(seg[j:])
			j += size
			if f, ok := confusables[r]; ok {
				if wordStart < 0 {
					wordStart = int(o)
				}
				fold = true
				out = append(out, byte(f))
				offs2 = append(offs2, o)
				continue
			}
			switch {
			case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'):
				if wordStart < 0 {
					wordStart = int(o)
				}
				latin = true
			case unicode.IsLetter(r) || unicode.Is(unicode.Mn, r):
				if wordStart < 0 {
					wordStart = int(o)
				}
			default:
				endWord(int(o))
			}
			out = utf8.AppendRune(out, r)
			for range utf8.RuneLen(r) {
				offs2 = append(offs2, o)
			}
		}
	}
	endWord(len(s))
	offs2 = append(offs2, int32(len(s)))
	sortEvasions(ev)
	return normalized{text: string(out), offs: offs2, evasions: ev, hidden: string(hidden)}
}

func sortEvasions(ev []evasion) {
	// Insertion sort: the list is short and nearly sorted.
	for i := 1; i < len(ev); i++ {
		for j := i; j > 0 && ev[j].start < ev[j-1].start; j-- {
			ev[j], ev[j-1] = ev[j-1], ev[j]
		}
	}
}
