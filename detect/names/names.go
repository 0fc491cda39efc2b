// Package names finds person names, places and organisations in prose with
// a gazetteer and the words around each candidate, without a statistical
// model: every token is looked up once in a hash map of given names,
// surnames, places and common words (data.txt, generated from the locale
// data of @faker-js/faker, MIT), and a candidate is reported only when its
// context says what it is ("my colleague X", "X said", "moved here from
// X", "I work for X", a given name followed by a capitalised word, …).
//
// The detector is built for redaction of personal data: it prefers
// recall on names in context over tagging every capitalised word, and it
// never reports a word alone that is also an ordinary English word.
package names

//go:generate sh gen/generate.sh

import (
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Kind is the class of an entity.
type Kind uint8

// Entity kinds.
const (
	Person Kind = 1 + iota
	Location
	Organization
)

func (k Kind) String() string {
	switch k {
	case Person:
		return "person"
	case Location:
		return "location"
	case Organization:
		return "organization"
	}
	return "none"
}

// Entity is one finding: a byte span of the text and its kind.
type Entity struct {
	Start, End int
	Kind       Kind
}

// Dictionary flags.
const (
	fGiven   uint8 = 1 << iota // given name
	fSurname                   // surname
	fPlace                     // city, state or county
	fCountry                   // country
	fOrgSfx                    // company legal-entity suffix (Inc, GmbH…)
	fCitySfx                   // suffix of built place names (-town, -ville…)
	fCommon                    // ordinary English word
	fMulti                     // first word of a multi-word place
)

//go:embed data.txt
var data string

var (
	loadOnce sync.Once
	dict     map[string]uint8
)

func load() {
	dict = make(map[string]uint8, 60000)
	for _, line := range strings.Split(data, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		tab := strings.IndexByte(line, '\t')
		if tab < 0 {
			continue
		}
		var f uint8
		for _, c := range line[:tab] {
			switch c {
			case 'g':
				f |= fGiven
			case 's':
				f |= fSurname
			case 'p':
				f |= fPlace
			case 'n':
				f |= fCountry
			case 'o':
				f |= fOrgSfx
			case 'x':
				f |= fCitySfx
			case 'c':
				f |= fCommon
			}
		}
		w := line[tab+1:]
		dict[w] |= f
		if sp := strings.IndexByte(w, ' '); sp > 0 && f&(fPlace|fCountry) != 0 {
			dict[w[:sp]] |= fMulti
		}
	}
	for w, f := range dict {
		if f&fCitySfx != 0 && w != "view" && w != "side" {
			citySuffixes = append(citySuffixes, w)
		}
	}
	for _, w := range strings.Fields(commonWords) {
		dict[w] |= fCommon
	}
}

// commonWords are words that are names or places in some locale but mostly
// ordinary words in English text (and function words, pronouns, months and
// days, which start sentences and headings), added to the generated common
// words. A token with this flag is never reported on its own.
const commonWords = `
a about above after again against all also am an and any are as at be because been before being below between both but by
can could did do does doing down during each few for from further had has have having he her here hers herself him himself
his how i if in into is it its itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them themselves then there these they this
those through to too under until up very was we were what when where which while who whom why will with would you your
yours yourself yourselves let lets please thanks thank hello hi hey dear yes ok okay sure maybe note see also use using
new old good great best first last next one two three four five six seven eight nine ten many much every another
january february march april may june july august september october november december
monday tuesday wednesday thursday friday saturday sunday today tomorrow yesterday
mark bill rose grace hope faith joy jack frank art bob sue pat ray guy rich sunny summer autumn winter spring dawn eve
ivy lily daisy iris ruby amber crystal penny sandy rusty chase hunter mason miles max sterling cash king page lane brook
dale glen wood stone young white black brown green gray grey long short small little hill park bell ball case rule ward
field price cost major lord judge bishop cook baker carter fisher miller porter taylor turner walker warren wells west
north south east central christian church rock star sky river lake bay sea ocean island beach forest mountain valley
god jesus lord allah buddha english french german spanish chinese japanese russian italian american british european
asian african latin arab jewish muslim hindu catholic christmas easter
python java ruby rust go perl swift kotlin scala julia dart lua elixir haskell php sql html css json yaml xml
linux windows android apple google amazon microsoft meta oracle docker kubernetes git github gitlab node react vue angular
string list map set array object class function method type value error exception file data table query index key
model user admin server client system service api app web page site test example sample demo hello world
ai gpt chatgpt claude llm bot assistant human person people man woman boy girl child children kid
mr mrs ms miss dr prof sir madam
`

// Find returns the entities of text, in order, without overlaps.
func Find(text string) []Entity {
	loadOnce.Do(load)
	tb := tokPool.Get().(*tokBuf)
	defer tb.release()
	toks := tb.tokenize(text)
	if len(toks) == 0 {
		return nil
	}
	d := detector{text: text, toks: toks}
	d.run()
	return d.out
}

// tokBuf is the per-scan scratch of the tokenizer, pooled: the token
// slice and the lower-cased forms of the capitalised words.
type tokBuf struct {
	toks  []token
	lower []byte
	offs  []int32 // per token: offset of its lower-cased form in lower, or -1
}

var tokPool = sync.Pool{New: func() any { return new(tokBuf) }}

// maxPooledTokens bounds the token slice kept between scans (~1.3 MB).
const maxPooledTokens = 32 << 10

func (tb *tokBuf) release() {
	if cap(tb.toks) > maxPooledTokens {
		return
	}
	clear(tb.toks) // drop references to the scanned text
	tb.toks = tb.toks[:0]
	tokPool.Put(tb)
}

// Load reads the word lists now rather than on the first Find.
func Load() { loadOnce.Do(load) }

type token struct {
	start, end int
	lower      string // lower-cased, possessive 's removed
	flags      uint8
	looked     bool // flags holds the gazetteer entry (done lazily for lower-case words)
	cap        bool // starts with an upper-case letter
	upper      bool // all upper case (2+ letters)
	sentStart  bool // first word of the text, a line or a sentence
	poss       bool // ends in 's
	hyphen     bool // contains an inner hyphen (Hubbard-Thomas)
	comma      bool // directly followed by a comma
	adjacent   bool // separated from the next token by one space only
}

func isWordRune(r rune) bool {
	if r < utf8.RuneSelf {
		return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
	}
	return unicode.IsLetter(r) || unicode.Is(unicode.Mn, r)
}

func allUpper(w string) bool {
	for _, r := range w {
		if unicode.IsLower(r) {
			return false
		}
	}
	return true
}

func allUpperASCII(w string) bool {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= 'a' && c <= 'z' {
			return false
		}
	}
	return true
}

func appendLowerASCII(dst []byte, w string) []byte {
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		dst = append(dst, c)
	}
	return dst
}

// isWordRuneAt reports whether the rune at text[i:] is a word rune.
func isWordRuneAt(text string, i int) bool {
	if c := text[i]; c < utf8.RuneSelf {
		return isLetterASCII(c)
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	return isWordRune(r)
}

func isLowerASCII(w string) bool {
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= utf8.RuneSelf || c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

func appendLower(dst []byte, w string) []byte {
	for _, r := range w {
		if r < utf8.RuneSelf {
			if r >= 'A' && r <= 'Z' {
				r += 'a' - 'A'
			}
			dst = append(dst, byte(r))
			continue
		}
		dst = utf8.AppendRune(dst, unicode.ToLower(r))
	}
	return dst
}

func isLetterASCII(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// isSentenceMark reports whether r ends a sentence or starts a heading,
// a line or a quotation, so that the next word starts a sentence.
func isSentenceMark(r rune) bool {
	return r == '.' || r == '!' || r == '?' || r == '\n' || r == ':' || r == '"' || r == '“' || r == '•' || r == '*' || r == '#'
}

// tokenize splits text into words of letters with inner hyphens and
// apostrophes. Lower-case words are looked up in the gazetteer only when
// the detector asks (flags); capitalised words, where a name can start,
// at once.
func (tb *tokBuf) tokenize(text string) []token {
	toks := tb.toks[:0]
	if cap(toks) == 0 {
		toks = make([]token, 0, min(len(text)/5+16, maxPooledTokens))
	}
	lower := tb.lower[:0]
	offs := tb.offs[:0]
	sent := true
	i := 0
	for i < len(text) {
		c := text[i]
		if c < utf8.RuneSelf {
			if !isLetterASCII(c) {
				if isSentenceMark(rune(c)) {
					sent = true
				} else if c >= '0' && c <= '9' {
					sent = false
				}
				i++
				continue
			}
		} else if r, n := utf8.DecodeRuneInString(text[i:]); !isWordRune(r) {
			switch {
			case isSentenceMark(r):
				sent = true
			case unicode.IsDigit(r):
				sent = false
			}
			i += n
			continue
		}
		start := i
		hyphen := false
		ascii := true
		for i < len(text) {
			c := text[i]
			if c < utf8.RuneSelf {
				if isLetterASCII(c) {
					i++
					continue
				}
				if c == '-' || c == '\'' {
					if i+1 < len(text) {
						if c2 := text[i+1]; c2 < utf8.RuneSelf && isLetterASCII(c2) || c2 >= utf8.RuneSelf && isWordRuneAt(text, i+1) {
							if c == '-' {
								hyphen = true
							}
							i++
							continue
						}
					}
				}
				break
			}
			r, n := utf8.DecodeRuneInString(text[i:])
			if isWordRune(r) {
				ascii = false
				i += n
				continue
			}
			if r == '’' && i+n < len(text) && isWordRuneAt(text, i+n) {
				ascii = false
				i += n
				continue
			}
			break
		}
		if i < len(text) && text[i] >= '0' && text[i] <= '9' {
			// part of an identifier such as abc123: not a word
			for i < len(text) && (text[i] >= '0' && text[i] <= '9' || isLetterASCII(text[i])) {
				i++
			}
			sent = false
			continue
		}
		w := text[start:i]
		t := token{start: start, end: i, sentStart: sent, hyphen: hyphen}
		if ascii {
			t.cap = w[0] >= 'A' && w[0] <= 'Z'
		} else {
			first, _ := utf8.DecodeRuneInString(w)
			t.cap = unicode.IsUpper(first)
		}
		if t.cap {
			t.looked = true
			if ascii {
				t.upper = len(w) > 1 && allUpperASCII(w)
			} else {
				t.upper = len(w) > 1 && allUpper(w)
			}
			// Look the lower-cased word up without allocating; keep a
			// lower-cased copy only for words the detector knows.
			from := len(lower)
			if ascii {
				lower = appendLowerASCII(lower, w)
			} else {
				lower = appendLower(lower, w)
			}
			scratch := lower[from:]
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
				// Kept in lower; t.lower is set once all are one string.
				lower = lower[:from+len(scratch)]
				offs = append(offs, int32(len(toks)), int32(from), int32(len(lower)))
			} else {
				lower = lower[:from]
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
		}
		if i < len(text) && text[i] == ',' {
			t.comma = true
		}
		toks = append(toks, t)
		sent = false
	}
	if len(offs) > 0 {
		all := string(lower) // one allocation for every lower-cased word
		for k := 0; k < len(offs); k += 3 {
			toks[offs[k]].lower = all[offs[k+1]:offs[k+2]]
		}
	}
	for k := 0; k+1 < len(toks); k++ {
		toks[k].adjacent = toks[k+1].start == toks[k].end+1 && text[toks[k].end] == ' '
	}
	tb.toks, tb.lower, tb.offs = toks, lower, offs
	return toks
}

type detector struct {
	text string
	toks []token
	out  []Entity
}

// flags returns the gazetteer flags of token i, looking a lower-case word
// up on first use.
func (d *detector) flags(i int) uint8 {
	t := &d.toks[i]
	if !t.looked {
		t.flags, t.looked = dict[t.lower], true
	}
	return t.flags
}

// nameish: a capitalised word that is not an ordinary word.
func (d *detector) nameish(i int) bool {
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
func (d *detector) personal(i int) bool {
	return d.nameish(i) && d.toks[i].flags&(fGiven|fSurname) != 0
}

// word is the lower-cased word i, or "" when it is outside the text or
// written in capitals (SQL keywords and constants are not prose).
func (d *detector) word(i int) string {
	if i < 0 || i >= len(d.toks) || d.toks[i].upper {
		return ""
	}
	return d.toks[i].lower
}

func (d *detector) emit(from, to int, k Kind) {
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
func (d *detector) extend(i, max int) int {
	j := i
	for j+1 < len(d.toks) && j-i+1 < max && d.toks[j].adjacent && !d.toks[j].comma && !d.toks[j].poss && d.nameish(j+1) {
		j++
	}
	return j
}

var (
	relations = set(`kid kids son sons daughter daughters wife husband partner boyfriend girlfriend fiance fiancé fiancée
		colleague colleagues coworker co-worker boss manager friend friends brother brothers sister sisters mom mum mother dad
		father parents cousin uncle aunt nephew niece grandson granddaughter grandma grandmother grandpa grandfather neighbour
		neighbor roommate flatmate tenant landlord landlady doctor therapist lawyer teacher student patient client employee
		assistant baby child stepson stepdaughter spouse ex mentor supervisor`)
	owners     = set(`my your his her our their`)
	speechNext = set(`said says shouted shouts told tells asked asks replied replies whispered wrote writes answered yelled
		explained added noted admitted insisted smiled laughed spent began begins joined founded`)
	speechPrev = set(`said says told asked ask tell thank thanks dear hi hello hey starring featuring feat ft married meet met
		call called email emailed text texted contact contacted visit visited interview interviewed`)
	personPrev = set(`with by to`)
	placePrev  = set(`in from at near to around outside across into via`)
	moveVerbs  = set(`live lives lived living moved move moving born raised grew grow based relocated relocating
		returned return returning travelled traveled travel travelling traveling arrived arrive arriving flew fly flying
		drove drive driving stay stayed staying staying visit visited visiting vacation vacationed reside resides resided
		located headquartered`)
	employPrev = set(`work works worked working job jobs employed employer intern interned interning internship joined join
		joining hired year years month months career position role`)
	orgHeads   = set(`university college school institute academy hospital clinic bank`)
	vocativeNx = set(`can could would will please i do did are is have let thanks thank`)
)

// contextWords are the words the rules look at around a candidate.
var contextWords = func() map[string]bool {
	m := map[string]bool{"of": true, "and": true, "here": true, "there": true}
	for _, s := range []map[string]bool{relations, owners, speechNext, speechPrev, personPrev, placePrev, moveVerbs, employPrev, orgHeads, vocativeNx} {
		for w := range s {
			m[w] = true
		}
	}
	return m
}()

func set(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

func (d *detector) run() {
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
		if relations[prev] && owners[prev2] || relations[prev] && owners[d.word(i-3)] && d.flags(i-2)&fCommon != 0 {
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

// multiPlace returns the last token of a multi-word gazetteer place
// starting at i, or i.
func (d *detector) multiPlace(i int) int {
	if d.toks[i].flags&fMulti == 0 {
		return i
	}
	best := i
	var buf [64]byte
	key := append(buf[:0], d.toks[i].lower...)
	for j := i + 1; j < len(d.toks) && j < i+4 && d.toks[j-1].adjacent; j++ {
		key = append(key, ' ')
		key = appendLower(key, d.toks[j].lower)
		if dict[string(key)]&(fPlace|fCountry) != 0 {
			best = j
		}
	}
	return best
}

// hyphenNames reports whether a hyphenated word is two capitalised names,
// at least one of them a known surname or given name (Hubbard-Thomas).
func (d *detector) hyphenNames(t *token) bool {
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
func (d *detector) citySuffix(w string) bool {
	for _, sfx := range citySuffixes {
		if len(w) >= len(sfx)+3 && strings.HasSuffix(w, sfx) {
			return true
		}
	}
	return false
}

// citySuffixes are the gazetteer's city-name suffixes, without those that
// end many ordinary words (overview, outside).
var citySuffixes []string
