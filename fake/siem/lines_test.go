package siem

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events/sink/cef"
)

// The encoders' golden files are the lines the parsers must read.
func TestParsersReadTheEncodersGoldenLines(t *testing.T) {
	for _, name := range []string{"alert", "auth", "hostile", "minimal"} {
		for ext, parse := range map[string]func(string) ([]string, map[string]string, error){"cef": ParseCEF, "leef": ParseLEEF} {
			b, err := os.ReadFile(filepath.Join("..", "..", "events", "sink", "cef", "testdata", name+"."+ext))
			if err != nil {
				t.Fatal(err)
			}
			hdr, fields, err := parse(strings.TrimSuffix(string(b), "\n"))
			if err != nil {
				t.Fatalf("%s.%s: %v", name, ext, err)
			}
			if hdr[1] != cef.Vendor || hdr[2] != cef.Product || len(fields) == 0 {
				t.Fatalf("%s.%s: %q %v", name, ext, hdr, fields)
			}
		}
	}
	_, ext, _ := ParseCEF("CEF:0|Bulwark|P|1|R\\|1\\\\|T|10|externalId=id\\=1|2 msg=a\\nb suser=e\\=ve x")
	if ext["externalId"] != "id=1|2" || ext["msg"] != "a\nb" || ext["suser"] != "e=ve x" {
		t.Fatalf("unescaping: %q", ext)
	}
}

func TestParseCEFRejects(t *testing.T) {
	for name, line := range map[string]string{
		"not CEF":           "LEEF:2.0|a|b|c|d|x09|k=v",
		"version 1":         "CEF:1|a|b|c|d|e|5|k=v",
		"six header fields": "CEF:0|a|b|c|d|5|k=v",
		"empty vendor":      "CEF:0||b|c|d|e|5|k=v",
		"bad severity":      "CEF:0|a|b|c|d|e|11|k=v",
		"header escape":     `CEF:0|a|b\=|c|d|e|5|k=v`,
		"value escape":      `CEF:0|a|b|c|d|e|5|k=a\tb`,
		"dangling":          `CEF:0|a|b|c|d|e|5|k=a\`,
		"duplicate key":     "CEF:0|a|b|c|d|e|5|k=a k=b",
		"empty value":       "CEF:0|a|b|c|d|e|5|k= j=b",
		"text before key":   "CEF:0|a|b|c|d|e|5|junk k=v",
		"no pairs":          "CEF:0|a|b|c|d|e|5|junk",
		"tab":               "CEF:0|a|b|c|d|e|5|k=a\tb",
		"control":           "CEF:0|a|b|c|d|e|5|k=a\x1bb",
		"invalid UTF-8":     "CEF:0|a|b|c|d|e|5|k=\xff",
		"bad key":           "CEF:0|a|b|c|d|e|5|k!=v",
	} {
		if _, _, err := ParseCEF(line); err == nil {
			t.Errorf("%s: accepted %q", name, line)
		}
	}
	if _, _, err := ParseCEF("CEF:0|a|b|c|d|e|Very-High|"); err != nil {
		t.Errorf("named severity, no extension: %v", err)
	}
}

func TestParseLEEFRejects(t *testing.T) {
	for name, line := range map[string]string{
		"LEEF 1.0":      "LEEF:1.0|a|b|c|d|k=v",
		"no delimiter":  "LEEF:2.0|a|b|c|d|k=v",
		"bad delimiter": "LEEF:2.0|a|b|c|d|xZZ|k=v",
		"empty product": "LEEF:2.0|a||c|d|x09|k=v",
		"not key=value": "LEEF:2.0|a|b|c|d|x09|k=v\tjunk",
		"empty key":     "LEEF:2.0|a|b|c|d|x09|=v",
		"duplicate":     "LEEF:2.0|a|b|c|d|x09|k=v\tk=w",
		"control":       "LEEF:2.0|a|b|c|d|x09|k=v\x00",
		"tab in header": "LEEF:2.0|a|b\t|c|d|x09|k=v",
		"invalid UTF-8": "LEEF:2.0|a|b|c|d|x09|k=\xfe",
	} {
		if _, _, err := ParseLEEF(line); err == nil {
			t.Errorf("%s: accepted %q", name, line)
		}
	}
	for _, line := range []string{"LEEF:2.0|a|b|c|d|^|k=v^j=w", "LEEF:2.0|a|b|c|d|0x5E|k=v^j=w"} {
		if _, attrs, err := ParseLEEF(line); err != nil || attrs["j"] != "w" {
			t.Errorf("%q: %v %v", line, attrs, err)
		}
	}
}

func TestParseLinesFraming(t *testing.T) {
	leef := "LEEF:2.0|a|b|c|d|x09|eventId=1\n"
	obj := `{"id":"e1","type":"alert"}`
	cases := []struct {
		name, format, body string
		want               int // records; -1: rejected
	}{
		{"leef", LinesLEEF, leef + leef, 2},
		{"no final newline", LinesLEEF, strings.TrimSuffix(leef, "\n"), -1},
		{"blank line", LinesLEEF, leef + "\n" + leef, -1},
		{"CRLF", LinesLEEF, strings.ReplaceAll(leef, "\n", "\r\n"), -1},
		{"cef in leef", LinesLEEF, "CEF:0|a|b|c|d|e|5|k=v\n", -1},
		{"empty", LinesCEF, "", -1},
		{"ndjson", LinesNDJSON, obj + "\n" + obj + "\n", 2},
		{"ndjson array line", LinesNDJSON, "[" + obj + "]\n", -1},
		{"ndjson broken", LinesNDJSON, `{"id":` + "\n", -1},
		{"ndjson two per line", LinesNDJSON, obj + obj + "\n", -1},
		{"json array", LinesJSON, "[" + obj + "," + obj + "]", 2},
		{"json array trailing", LinesJSON, "[" + obj + "]" + obj, -1},
		{"json object", LinesJSON, obj, -1},
		{"json empty array", LinesJSON, "[]", -1},
		{"json scalar element", LinesJSON, "[1]", -1},
		{"invalid UTF-8", LinesNDJSON, `{"id":"` + "\xff" + `"}` + "\n", -1},
	}
	for _, tc := range cases {
		recs, err := ParseLines(tc.format, []byte(tc.body))
		switch {
		case tc.want < 0 && err == nil:
			t.Errorf("%s: accepted", tc.name)
		case tc.want >= 0 && (err != nil || len(recs) != tc.want):
			t.Errorf("%s: %d records, %v", tc.name, len(recs), err)
		}
	}
	recs, _ := ParseLines(LinesJSON, []byte(`[{"event":{"id":"ecs-1"}},{"metadata":{"uid":"ocsf-1"}},{"id":"n-1"}]`))
	if recs[0].ID != "ecs-1" || recs[1].ID != "ocsf-1" || recs[2].ID != "n-1" {
		t.Fatalf("ids %+v", recs)
	}
}

func TestLinesReceiver(t *testing.T) {
	ev := bulwark.Event{ID: "ev-1", Time: time.Unix(1700000000, 0), Type: bulwark.EventAlert, Severity: bulwark.SeverityHigh,
		Subject: "Blocked", Data: json.RawMessage(`{"rule_id":"PI-001"}`)}
	line := cef.LEEF(&ev) + "\n"
	l := NewLines(LinesLEEF).WithBasic("qradar", "pw")
	l.RequireHeaders = map[string]string{"X-Api-Key": "k"}
	l.MaxBody = 4096
	ok := map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Api-Key": "k"}
	with := func(extra map[string]string, drop ...string) map[string]string {
		h := map[string]string{}
		for k, v := range ok {
			h[k] = v
		}
		for k, v := range extra {
			h[k] = v
		}
		for _, k := range drop {
			delete(h, k)
		}
		return h
	}
	req := func(h map[string]string, user, pass, body string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		for k, v := range h {
			r.Header.Set(k, v)
		}
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		return r
	}
	cases := []struct {
		name       string
		hdr        map[string]string
		user, pass string
		body       string
		want       int
	}{
		{"accepted", ok, "qradar", "pw", line, 200},
		{"no credentials", ok, "", "", line, 401},
		{"wrong password", ok, "qradar", "nope", line, 403},
		{"missing header", with(nil, "X-Api-Key"), "qradar", "pw", line, 403},
		{"json content type", with(map[string]string{"Content-Type": "application/json"}), "qradar", "pw", line, 415},
		{"latin-1", with(map[string]string{"Content-Type": "text/plain; charset=iso-8859-1"}), "qradar", "pw", line, 415},
		{"too large", ok, "qradar", "pw", strings.Repeat(line, 20), 413},
		{"bad line", ok, "qradar", "pw", "hello\n", 400},
	}
	for _, tc := range cases {
		w := &recorder{header: http.Header{}}
		l.ServeHTTP(w, req(tc.hdr, tc.user, tc.pass, tc.body))
		if w.code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, w.code, tc.want)
		}
	}
	recs := l.Records()
	if len(recs) != 1 || recs[0].ID != "ev-1" || recs[0].Header[4] != "PI-001" || recs[0].Fields["sev"] != "8" {
		t.Fatalf("records %+v", recs)
	}
	if len(l.Errors()) != len(cases)-1 || l.Batches()[0] != 1 || l.Headers()[0].Get("X-Api-Key") != "k" {
		t.Fatalf("errors %q batches %v", l.Errors(), l.Batches())
	}
	l.Inject(Throttle, 1)
	w := &recorder{header: http.Header{}}
	l.ServeHTTP(w, req(ok, "qradar", "pw", line))
	if w.code != 429 || w.header.Get("Retry-After") != "1" {
		t.Fatalf("throttle: %d %v", w.code, w.header)
	}
}

// recorder is a minimal ResponseWriter (httptest's would do; this keeps
// the status of the first WriteHeader only, like net/http).
type recorder struct {
	header http.Header
	code   int
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = 200
	}
	return len(b), nil
}
func (r *recorder) WriteHeader(code int) {
	if r.code == 0 {
		r.code = code
	}
}

// FuzzParseLines: no body panics the parsers, and whatever the event holds,
// the encoders' lines read back with their id.
func FuzzParseLines(f *testing.F) {
	f.Add("cef", "CEF:0|a|b|c|d|e|5|k=v\n", "id", "subject", `{"title":"t"}`)
	f.Add("leef", "LEEF:2.0|a|b|c|d|x09|k=v\n", "id=1|2", "x\ty\n", `{"rule_id":"R|1\\"}`)
	f.Add("ndjson", "{}\n", "", "\u2028", `not json`)
	f.Add("json", "[{}]", "é", "\\", `{"user":"a=b"}`)
	f.Fuzz(func(t *testing.T, format, body, id, subject, data string) {
		switch format {
		case LinesCEF, LinesLEEF, LinesNDJSON, LinesJSON:
		default:
			return
		}
		_, _ = ParseLines(format, []byte(body))
		ev := bulwark.Event{ID: id, Time: time.Unix(1, 0), Type: bulwark.EventAlert, Severity: bulwark.SeverityLow,
			Subject: subject, Data: json.RawMessage(data)}
		wantID := strings.ToValidUTF8(id, "\uFFFD")
		if format == LinesCEF {
			recs, err := ParseLines(format, []byte(cef.CEF(&ev)+"\n"))
			if err != nil {
				t.Fatalf("CEF line rejected: %v", err)
			}
			if len(wantID) < 200 && strings.IndexFunc(wantID, func(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f || r == '\u2028' || r == '\u2029' }) < 0 && recs[0].ID != wantID {
				t.Fatalf("externalId %q, want %q", recs[0].ID, wantID)
			}
		}
		if format == LinesLEEF {
			if _, err := ParseLines(format, []byte(cef.LEEF(&ev)+"\n")); err != nil {
				t.Fatalf("LEEF line rejected: %v", err)
			}
		}
	})
}
