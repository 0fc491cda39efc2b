package names

// Reference implementation: the tokenizer and detector as they were before
// the allocation-free rewrite, kept to check that both find the same
// entities.

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

func refFind(text string) []Entity {
	loadOnce.Do(load)
	toks := refTokenize(text)
	if len(toks) == 0 {
		return nil
	}
	d := refDetector{text: text, toks: toks}
	d.run()
	return d.out
}

type refToken struct {
	start, end int
	lower      string // lower-cased, possessive 's removed
	flags      uint8
	cap        bool // starts with an upper-case letter
	upper      bool // all upper case (2+ letters)
	sentStart  bool // first word of the text, a line or a sentence
	poss       bool // ends in 's
	hyphen     bool // contains an inner hyphen (Hubbard-Thomas)
	comma      bool // directly followed by a comma
	adjacent   bool // separated from the next refToken by one space only
}

// refTokenize splits text into words of letters with inner hyphens and
// apostrophes.
func refTokenize(text string) []refToken {
	toks := make([]refToken, 0, len(text)/8+1)
	var buf [64]byte
	scratch := buf[:0]
	sent := true
	i := 0
	for i < len(text) {
		r, n := utf8.DecodeRuneInString(text[i:])
		if !isWordRune(r) {
			switch {
			case r == '.' || r == '!' || r == '?' || r == '\n' || r == ':' || r == '"' || r == '“' || r == '•' || r == '*' || r == '#':
				sent = true
			case unicode.IsDigit(r):
				sent = false
			}
			i += n
			continue
		}
		start := i
		hyphen := false
		for i < len(text) {
			r, n := utf8.DecodeRuneInString(text[i:])
			if isWordRune(r) {
				i += n
				continue
			}
			if r == '-' || r == '\'' || r == '’' {
				r2, _ := utf8.DecodeRuneInString(text[i+n:])
				if i+n < len(text) && isWordRune(r2) {
					if r == '-' {
						hyphen = true
					}
					i += n
					continue
				}
			}
			break
		}
		if i < len(text) && unicode.IsDigit(rune(text[i])) {
			// part of an identifier such as abc123: not a word
			for i < len(text) && (text[i] < utf8.RuneSelf && (unicode.IsDigit(rune(text[i])) || unicode.IsLetter(rune(text[i])))) {
				i++
			}
			sent = false
			continue
		}
		w := text[start:i]
		t := refToken{start: start, end: i, sentStart: sent, hyphen: hyphen}
		first, _ := utf8.DecodeRuneInString(w)
		t.cap = unicode.IsUpper(first)
		if t.cap {
			t.upper = len(w) > 1 && allUpper(w)
			// Look the lower-cased word up without allocating; keep a
			// lower-cased copy only for words the refDetector knows.
			scratch = appendLower(scratch[:0], w)
			if n := len(scratch); n > 3 && (scratch[n-1] == 's' && (scratch[n-2] == '\'' || n > 4 && string(scratch[n-4:n-1]) == "’")) {
				t.poss = true
				if scratch[n-2] == '\'' {
					scratch = scratch[:n-2]
				} else {
					scratch = scratch[:n-4]
				}
			}
			t.flags = dict[string(scratch)]
			if t.flags != 0 || contextWords[string(scratch)] || t.hyphen {
				t.lower = string(scratch)
			} else {
				t.lower = w
			}
		} else {
			t.lower = w
			if n := len(w); n > 3 && w[n-1] == 's' && (w[n-2] == '\'' || n > 4 && w[n-4:n-1] == "’") {
				t.poss = true
				t.lower = strings.TrimSuffix(strings.TrimSuffix(w, "'s"), "’s")
			}
			if !isLowerASCII(t.lower) {
				t.lower = strings.ToLower(t.lower)
			}
			t.flags = dict[t.lower]
		}
		if i < len(text) && text[i] == ',' {
			t.comma = true
		}
		toks = append(toks, t)
		sent = false
	}
	for k := 0; k+1 < len(toks); k++ {
		toks[k].adjacent = toks[k+1].start == toks[k].end+1 && text[toks[k].end] == ' '
	}
	return toks
}

type refDetector struct {
	text string
	toks []refToken
	out  []Entity
}

// nameish: a capitalised word that is not an ordinary word.
func (d *refDetector) nameish(i int) bool {
	if i < 0 || i >= len(d.toks) {
		return false
	}
	t := &d.toks[i]
	if !t.cap || t.flags&fCommon != 0 || len(t.lower) < 2 {
		return false
	}
	if t.upper && (len(t.lower) < 5 || t.flags&(fPlace|fCountry) == 0) {
		return false // acronyms and constants: API, NASA, AIRPORTS
	}
	return true
}

// personal: a name-like word the gazetteer knows as a given name or surname.
func (d *refDetector) personal(i int) bool {
	return d.nameish(i) && d.toks[i].flags&(fGiven|fSurname) != 0
}

// word is the lower-cased word i, or "" when it is outside the text or
// written in capitals (SQL keywords and constants are not prose).
func (d *refDetector) word(i int) string {
	if i < 0 || i >= len(d.toks) || d.toks[i].upper {
		return ""
	}
	return d.toks[i].lower
}

func (d *refDetector) emit(from, to int, k Kind) {
	s, e := d.toks[from].start, d.toks[to].end
	if d.toks[to].poss {
		e -= len("'s")
		if strings.HasSuffix(d.text[:d.toks[to].end], "’s") {
			e = d.toks[to].end - len("’s")
		}
	}
	if n := len(d.out); n > 0 && d.out[n-1].End > s {
		return
	}
	d.out = append(d.out, Entity{Start: s, End: e, Kind: k})
}

// extend returns the last index of the run of name-like words starting at
// i that are separated by single spaces (at most max words).
func (d *refDetector) extend(i, max int) int {
	j := i
	for j+1 < len(d.toks) && j-i+1 < max && d.toks[j].adjacent && !d.toks[j].comma && !d.toks[j].poss && d.nameish(j+1) {
		j++
	}
	return j
}

func (d *refDetector) run() {
	toks := d.toks
	for i := 0; i < len(toks); i++ {
		t := &toks[i]
		if !t.cap {
			continue
		}
		if n := len(d.out); n > 0 && d.out[n-1].End > t.start {
			continue
		}
		prev, prev2 := d.word(i-1), d.word(i-2)
		next := d.word(i + 1)
		singleGapPrev := i > 0 && toks[i-1].adjacent

		// "University of X Y" and other institutions named after a place.
		if orgHeads[t.lower] && next == "of" && d.nameish(i+2) {
			d.emit(i, d.extend(i+2, 3), Organization)
			i = d.extend(i+2, 3)
			continue
		}
		if !d.nameish(i) {
			continue
		}
		// Multi-word place from the gazetteer (Aliso Viejo, New South Wales).
		if j := d.multiPlace(i); j > i && (placePrev[prev] || moveVerbs[prev]) {
			d.emit(i, j, Location)
			i = j
			continue
		}
		// X Inc, X GmbH, X Group: organisation with a legal-entity suffix.
		if j := d.extend(i, 4); j > i && toks[j].flags&fOrgSfx != 0 && !toks[j].upper {
			d.emit(i, j, Organization)
			i = j
			continue
		}
		// Surname-Surname or "Surname, Surname and Surname": firm names.
		if t.hyphen && d.hyphenNames(t) {
			d.emit(i, i, Organization)
			continue
		}
		if t.comma && d.personal(i) && d.personal(i+1) && next != "" && d.word(i+2) == "and" && d.personal(i+3) {
			d.emit(i, i+3, Organization)
			i += 3
			continue
		}
		// Given name followed by a capitalised word: Megan Payne.
		if t.flags&fGiven != 0 && t.adjacent && !t.comma && !t.poss && d.nameish(i+1) &&
			(toks[i+1].flags&fSurname != 0 || toks[i+1].flags&(fPlace|fCountry|fOrgSfx) == 0) {
			j := d.extend(i, 3)
			d.emit(i, j, Person)
			i = j
			continue
		}
		// Employment: I work for X, a year at X, joined X.
		if (prev == "for" || prev == "at" || prev == "by") && employPrev[prev2] || employPrev[prev] && (prev == "joined" || prev == "join" || prev == "joining") {
			j := d.extend(i, 4)
			d.emit(i, j, Organization)
			i = j
			continue
		}
		// Residence and travel: moved here from X, I live in X, returned to X.
		if placePrev[prev] && (moveVerbs[prev2] || prev2 == "here" && moveVerbs[d.word(i-3)] || prev2 == "there" && moveVerbs[d.word(i-3)]) {
			j := d.extend(i, 3)
			d.emit(i, j, Location)
			i = j
			continue
		}
		// A gazetteer place, or a word built like one (Blaketown), after a
		// place preposition.
		if placePrev[prev] && singleGapPrev && !toks[i-1].cap &&
			(t.flags&(fPlace|fCountry) != 0 && t.flags&(fGiven) == 0 || d.citySuffix(t.lower)) {
			j := d.extend(i, 3)
			d.emit(i, j, Location)
			i = j
			continue
		}
		// Relations: my kid Mali, Sumaya's kid.
		if t.poss && relations[next] && !t.sentStart || t.poss && relations[next] && t.flags&(fGiven|fSurname) != 0 {
			d.emit(i, i, Person)
			continue
		}
		if relations[prev] && owners[prev2] || relations[prev] && owners[d.word(i-3)] && toks[i-2].flags&fCommon != 0 {
			j := d.extend(i, 3)
			d.emit(i, j, Person)
			i = j
			continue
		}
		// Speech and address: says Eklund, said Honoré, Duqyaha shouted.
		if speechPrev[prev] && singleGapPrev || speechNext[next] && t.adjacent && !t.comma {
			j := d.extend(i, 3)
			d.emit(i, j, Person)
			i = j
			continue
		}
		// Vocative at the start of a sentence: "Jakobine, can I …".
		if t.sentStart && t.comma && vocativeNx[next] && t.flags&fPlace == 0 && !strings.HasSuffix(t.lower, "ly") {
			d.emit(i, i, Person)
			continue
		}
		// A known given name or surname after a person preposition: to
		// James, with Okafor, by Sandberg.
		if personPrev[prev] && singleGapPrev && !t.sentStart && d.personal(i) && t.flags&(fPlace|fCountry) == 0 {
			j := d.extend(i, 3)
			d.emit(i, j, Person)
			i = j
			continue
		}
	}
}

// multiPlace returns the last refToken of a multi-word gazetteer place
// starting at i, or i.
func (d *refDetector) multiPlace(i int) int {
	if d.toks[i].flags&fMulti == 0 {
		return i
	}
	best := i
	key := d.toks[i].lower
	for j := i + 1; j < len(d.toks) && j < i+4 && d.toks[j-1].adjacent; j++ {
		key += " " + strings.ToLower(d.toks[j].lower)
		if dict[key]&(fPlace|fCountry) != 0 {
			best = j
		}
	}
	return best
}

// hyphenNames reports whether a hyphenated word is two capitalised names,
// at least one of them a known surname or given name (Hubbard-Thomas).
func (d *refDetector) hyphenNames(t *refToken) bool {
	w := d.text[t.start:t.end]
	if t.poss {
		return false
	}
	parts := strings.Split(w, "-")
	if len(parts) != 2 {
		return false
	}
	known := false
	for _, p := range parts {
		r, _ := utf8.DecodeRuneInString(p)
		f := dict[strings.ToLower(p)]
		if !unicode.IsUpper(r) || f&fCommon != 0 || len(p) < 3 || strings.ToUpper(p) == p {
			return false
		}
		if f&(fSurname|fGiven) != 0 {
			known = true
		}
	}
	return known
}

// citySuffix reports whether w looks like a built place name (Blaketown,
// Riverville): a longer word ending in a city-name suffix.
func (d *refDetector) citySuffix(w string) bool {
	for _, sfx := range citySuffixes {
		if len(w) >= len(sfx)+3 && strings.HasSuffix(w, sfx) {
			return true
		}
	}
	return false
}
