package siem

import (
	"bytes"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Body formats Lines accepts, named as the siem_http sink names them.
const (
	LinesLEEF   = "leef"   // LEEF 2.0 lines, text/plain
	LinesCEF    = "cef"    // CEF:0 lines, text/plain
	LinesNDJSON = "ndjson" // one JSON object per line, application/x-ndjson
	LinesJSON   = "json"   // a JSON array of objects, application/json
)

// LineRecord is one event Lines accepted.
type LineRecord struct {
	// Raw is the line (or the array element) as sent.
	Raw string
	// Header holds the header fields of a CEF line (7, "CEF:0" first) or
	// of a LEEF line (6, "LEEF:2.0" first), unescaped.
	Header []string
	// Fields are the CEF extension or the LEEF attributes, unescaped.
	Fields map[string]string
	// JSON is the object of the JSON formats.
	JSON json.RawMessage
	// ID is the event id: CEF externalId, LEEF eventId, or the JSON "id",
	// "event.id" (ECS) or "metadata.uid" (OCSF).
	ID string
}

// Lines is an HTTP collector of events: a QRadar HTTP Receiver log source
// splitting a POST into LEEF lines, a collector taking CEF lines, or a
// JSON-over-HTTP receiver. It requires POST, the format's Content-Type
// (text/plain for lines, UTF-8 if a charset is given), the configured
// auth, and strict framing: valid UTF-8, every record ended by "\n" (no
// CR, no blank line), each line a CEF or LEEF 2.0 record per ParseCEF or
// ParseLEEF, or a JSON object per line; a JSON array of objects for json.
// It answers 200 with an empty body, 401/403 for auth, 413 over MaxBody,
// 415 for a wrong content type and 400 (with the reason as text) for bad
// framing.
type Lines struct {
	faults
	format     string
	user, pass string
	// RequireHeaders must be present with exactly these values (an API key
	// in a secret header); a missing or wrong one answers 403.
	RequireHeaders map[string]string
	// MaxBody, when set, answers 413 to larger bodies.
	MaxBody int

	records []LineRecord
	batches []int
	headers []http.Header
}

// NewLines accepts bodies in format (LinesLEEF, LinesCEF, LinesNDJSON or
// LinesJSON) without auth; see WithBasic and RequireHeaders.
func NewLines(format string) *Lines {
	switch format {
	case LinesLEEF, LinesCEF, LinesNDJSON, LinesJSON:
	default:
		panic("siem: unknown lines format " + format)
	}
	return &Lines{faults: newFaults(), format: format}
}

// WithBasic requires HTTP basic credentials.
func (l *Lines) WithBasic(user, pass string) *Lines { l.user, l.pass = user, pass; return l }

// Records are the events accepted, in order.
func (l *Lines) Records() []LineRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]LineRecord(nil), l.records...)
}

// Batches are the number of events of each accepted request, in order.
func (l *Lines) Batches() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]int(nil), l.batches...)
}

// Headers are the headers of each accepted request, in order.
func (l *Lines) Headers() []http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]http.Header(nil), l.headers...)
}

func linesAnswer(w http.ResponseWriter, status int) {
	http.Error(w, http.StatusText(status), status)
}

func (l *Lines) fail(w http.ResponseWriter, status int, msg string) {
	l.reject(msg)
	http.Error(w, msg, status)
}

func (l *Lines) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if l.inject(w, r, linesAnswer) {
		return
	}
	if r.Method != http.MethodPost {
		l.fail(w, http.StatusMethodNotAllowed, "method "+r.Method)
		return
	}
	if l.user != "" {
		user, pass, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="lines"`)
			l.fail(w, http.StatusUnauthorized, "no basic credentials")
			return
		}
		if subtle.ConstantTimeCompare([]byte(user), []byte(l.user)) != 1 || subtle.ConstantTimeCompare([]byte(pass), []byte(l.pass)) != 1 {
			l.fail(w, http.StatusForbidden, "wrong basic credentials")
			return
		}
	}
	for k, v := range l.RequireHeaders {
		if got := r.Header.Values(k); len(got) != 1 || got[0] != v {
			l.fail(w, http.StatusForbidden, "header "+k+" missing or wrong")
			return
		}
	}
	if err := l.contentType(r.Header.Get("Content-Type")); err != nil {
		l.fail(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	limit := int64(64 << 20)
	if l.MaxBody > 0 {
		limit = int64(l.MaxBody)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, limit+1))
	if err != nil {
		l.fail(w, http.StatusBadRequest, "reading body: "+err.Error())
		return
	}
	if int64(len(body)) > limit {
		l.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body over %d bytes", limit))
		return
	}
	recs, err := ParseLines(l.format, body)
	if err != nil {
		l.fail(w, http.StatusBadRequest, err.Error())
		return
	}
	l.mu.Lock()
	l.records = append(l.records, recs...)
	l.batches = append(l.batches, len(recs))
	l.headers = append(l.headers, r.Header.Clone())
	l.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

func (l *Lines) contentType(v string) error {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		return fmt.Errorf("content-type %q: %w", v, err)
	}
	want := map[string]string{LinesLEEF: "text/plain", LinesCEF: "text/plain", LinesNDJSON: "application/x-ndjson", LinesJSON: "application/json"}[l.format]
	if mt != want {
		return fmt.Errorf("content-type %s, want %s", mt, want)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("charset %s, want utf-8", cs)
	}
	return nil
}

// ParseLines reads a request body in format strictly and returns its
// records; the error names the record (1-based) and what is wrong.
func ParseLines(format string, body []byte) ([]LineRecord, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("body is not valid UTF-8")
	}
	if len(body) == 0 {
		return nil, errors.New("empty body")
	}
	if format == LinesJSON {
		return parseJSONArray(body)
	}
	if body[len(body)-1] != '\n' {
		return nil, errors.New(`last record is not ended by "\n"`)
	}
	var out []LineRecord
	for n, line := range strings.Split(string(body[:len(body)-1]), "\n") {
		rec, err := parseLine(format, line)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", n+1, err)
		}
		out = append(out, rec)
	}
	return out, nil
}

func parseLine(format, line string) (LineRecord, error) {
	rec := LineRecord{Raw: line}
	if line == "" {
		return rec, errors.New("blank line")
	}
	if strings.ContainsRune(line, '\r') {
		return rec, errors.New("CR in line (records end with a bare LF)")
	}
	var err error
	switch format {
	case LinesCEF:
		rec.Header, rec.Fields, err = ParseCEF(line)
		rec.ID = rec.Fields["externalId"]
	case LinesLEEF:
		rec.Header, rec.Fields, err = ParseLEEF(line)
		rec.ID = rec.Fields["eventId"]
	default:
		rec.JSON, rec.ID, err = jsonObject([]byte(line))
	}
	return rec, err
}

func parseJSONArray(body []byte) ([]LineRecord, error) {
	var elems []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&elems); err != nil {
		return nil, fmt.Errorf("body is not a JSON array: %w", err)
	}
	if dec.More() {
		return nil, errors.New("data after the JSON array")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON array")
	}
	if elems == nil {
		return nil, errors.New("body is null, not a JSON array")
	}
	if len(elems) == 0 {
		return nil, errors.New("empty JSON array")
	}
	out := make([]LineRecord, len(elems))
	for n, e := range elems {
		obj, id, err := jsonObject(e)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", n+1, err)
		}
		out[n] = LineRecord{Raw: string(e), JSON: obj, ID: id}
	}
	return out, nil
}

// jsonObject checks that b is one JSON object and finds its event id.
func jsonObject(b []byte) (json.RawMessage, string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(b, &obj); err != nil || obj == nil {
		return nil, "", fmt.Errorf("not a JSON object: %.80s", b)
	}
	var doc struct {
		ID    string `json:"id"`
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
		Metadata struct {
			UID string `json:"uid"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(b, &doc) // shapes differ by format; missing ids stay ""
	id := doc.ID
	if id == "" {
		id = doc.Event.ID
	}
	if id == "" {
		id = doc.Metadata.UID
	}
	return json.RawMessage(b), id, nil
}

// lineControl reports characters no CEF or LEEF line may hold raw.
func lineControl(r rune) bool {
	return r < 0x20 && r != '\t' || r == 0x7f || r == '\u2028' || r == '\u2029'
}

// ParseCEF reads one CEF:0 line, written from the CEF specification
// independently of the encoder: seven header fields split on unescaped
// "|" (only \\ and \| escapes allowed), a severity of 0-10 or
// Low/Medium/High/Very-High, then key=value pairs whose key is the word
// before an unescaped "=" and whose value allows the \\, \=, \n and \r
// escapes. Keys must be unique.
func ParseCEF(line string) ([]string, map[string]string, error) {
	if !utf8.ValidString(line) {
		return nil, nil, errors.New("CEF: invalid UTF-8")
	}
	if !strings.HasPrefix(line, "CEF:0|") {
		return nil, nil, errors.New(`CEF: line does not start with "CEF:0|"`)
	}
	if i := strings.IndexFunc(line, func(r rune) bool { return lineControl(r) || r == '\t' }); i >= 0 {
		return nil, nil, fmt.Errorf("CEF: control character at byte %d", i)
	}
	var hdr []string
	var cur strings.Builder
	i := 0
	for ; i < len(line) && len(hdr) < 7; i++ {
		switch c := line[i]; c {
		case '\\':
			if i+1 == len(line) || (line[i+1] != '\\' && line[i+1] != '|') {
				return nil, nil, fmt.Errorf("CEF: bad escape in header field %d", len(hdr)+1)
			}
			i++
			cur.WriteByte(line[i])
		case '|':
			hdr = append(hdr, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if len(hdr) != 7 {
		return nil, nil, fmt.Errorf("CEF: %d header fields, want 7", len(hdr))
	}
	for n, f := range hdr[1:6] {
		if f == "" {
			return nil, nil, fmt.Errorf("CEF: header field %d is empty", n+2)
		}
	}
	switch sev := hdr[6]; sev {
	case "Unknown", "Low", "Medium", "High", "Very-High":
	default:
		if v, err := strconv.Atoi(sev); err != nil || v < 0 || v > 10 {
			return nil, nil, fmt.Errorf("CEF: severity %q is not 0-10", sev)
		}
	}
	ext, err := parseCEFExtension(line[i:])
	if err != nil {
		return nil, nil, err
	}
	return hdr, ext, nil
}

func parseCEFExtension(rest string) (map[string]string, error) {
	ext := map[string]string{}
	if rest == "" {
		return ext, nil
	}
	var eqs []int // positions of unescaped '='
	for j := 0; j < len(rest); j++ {
		switch rest[j] {
		case '\\':
			j++
		case '=':
			eqs = append(eqs, j)
		}
	}
	if len(eqs) == 0 {
		return nil, errors.New("CEF: extension without key=value")
	}
	keyStart := func(eq int) int { return strings.LastIndexByte(rest[:eq], ' ') + 1 }
	if keyStart(eqs[0]) != 0 {
		return nil, errors.New("CEF: text before the first extension key")
	}
	for n, eq := range eqs {
		key := rest[keyStart(eq):eq]
		if !cefKey(key) {
			return nil, fmt.Errorf("CEF: bad extension key %q", key)
		}
		end := len(rest)
		if n+1 < len(eqs) {
			end = keyStart(eqs[n+1]) - 1
		}
		if end <= eq+1 {
			return nil, fmt.Errorf("CEF: empty value for %s", key)
		}
		var v strings.Builder
		raw := rest[eq+1 : end]
		for j := 0; j < len(raw); j++ {
			if raw[j] != '\\' {
				v.WriteByte(raw[j])
				continue
			}
			j++
			if j == len(raw) {
				return nil, fmt.Errorf("CEF: dangling backslash in %s", key)
			}
			switch raw[j] {
			case '\\', '=':
				v.WriteByte(raw[j])
			case 'n':
				v.WriteByte('\n')
			case 'r':
				v.WriteByte('\r')
			default:
				return nil, fmt.Errorf("CEF: bad escape \\%c in %s", raw[j], key)
			}
		}
		if _, dup := ext[key]; dup {
			return nil, fmt.Errorf("CEF: duplicate key %s", key)
		}
		ext[key] = v.String()
	}
	return ext, nil
}

func cefKey(k string) bool {
	if k == "" {
		return false
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// ParseLEEF reads one LEEF 2.0 line: "LEEF:2.0|vendor|product|version|
// event id|delimiter|attributes", where the delimiter is one character or
// its hex code (x09, 0x09) and attributes are key=value pairs separated
// by it. LEEF has no escaping, so header fields hold no "|" and values no
// delimiter; keys must be unique and non-empty.
func ParseLEEF(line string) ([]string, map[string]string, error) {
	if !utf8.ValidString(line) {
		return nil, nil, errors.New("LEEF: invalid UTF-8")
	}
	parts := strings.SplitN(line, "|", 7)
	if len(parts) != 7 || parts[0] != "LEEF:2.0" {
		return nil, nil, errors.New(`LEEF: header is not "LEEF:2.0|vendor|product|version|event id|delimiter|"`)
	}
	for n, f := range parts[1:5] {
		if f == "" {
			return nil, nil, fmt.Errorf("LEEF: header field %d is empty", n+2)
		}
		if strings.IndexFunc(f, lineControl) >= 0 || strings.ContainsRune(f, '\t') {
			return nil, nil, fmt.Errorf("LEEF: control character in header field %d", n+2)
		}
	}
	delim, err := leefDelimiter(parts[5])
	if err != nil {
		return nil, nil, err
	}
	attrs := map[string]string{}
	if parts[6] == "" {
		return parts[:6], attrs, nil
	}
	for _, kv := range strings.Split(parts[6], string(delim)) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || strings.ContainsAny(k, " \t|") {
			return nil, nil, fmt.Errorf("LEEF: attribute %.60q is not key=value", kv)
		}
		if strings.IndexFunc(v, lineControl) >= 0 || strings.ContainsRune(v, '\t') && delim != '\t' {
			return nil, nil, fmt.Errorf("LEEF: control character in %s", k)
		}
		if _, dup := attrs[k]; dup {
			return nil, nil, fmt.Errorf("LEEF: duplicate key %s", k)
		}
		attrs[k] = v
	}
	return parts[:6], attrs, nil
}

func leefDelimiter(f string) (rune, error) {
	hex := strings.TrimPrefix(strings.TrimPrefix(f, "0"), "x")
	if (strings.HasPrefix(f, "x") || strings.HasPrefix(f, "0x")) && len(hex) >= 2 && len(hex) <= 4 {
		v, err := strconv.ParseUint(hex, 16, 32)
		if err != nil || v == 0 {
			return 0, fmt.Errorf("LEEF: delimiter %q is not a hex code", f)
		}
		return rune(v), nil
	}
	if utf8.RuneCountInString(f) == 1 && f != "=" {
		r, _ := utf8.DecodeRuneInString(f)
		return r, nil
	}
	return 0, fmt.Errorf("LEEF: delimiter %q is not one character or xHH", f)
}
