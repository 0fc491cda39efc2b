package cef_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events/sink/cef"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func init() { cef.Version = "1.4.0" }

var at = time.Date(2026, 11, 22, 4, 0, 0, 123e6, time.UTC)

// cases are the events of the golden files testdata/<name>.cef and .leef.
var cases = []struct {
	name string
	ev   bulwark.Event
}{
	{"alert", bulwark.Event{
		ID: "0f6b1d8e-3c1a-4f6e-9a51-6d2f0c7b9e11", Time: at, Type: bulwark.EventAlert, Action: "policy.block",
		Severity: bulwark.SeverityHigh, Category: "Guardrails", Actor: "alice",
		Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai",
		Data: json.RawMessage(`{"proxy":"openai","group":"eng","user":"alice","user_email":"alice@example.com",
			"source_ip":"192.0.2.10","model":"gpt-4o-mini","policy":"standard,pii","rule_id":"PI-001",
			"title":"Prompt injection","evidence":"ignore previous ***","action":"block","request_id":"req-42",
			"findings":[{"rule_id":"PI-001"}]}`),
	}},
	{"auth", bulwark.Event{
		ID: "7a1c", Time: at, Type: bulwark.EventAuth, Action: "auth.login_failed", Severity: bulwark.SeverityMedium,
		Actor: "bob", Subject: "Login failed for bob", Data: json.RawMessage(`{"source_ip":"::ffff:198.51.100.7"}`),
	}},
	{"hostile", bulwark.Event{
		ID: "id=1|2", Time: at, Type: bulwark.EventAlert, Action: "policy.monitor", Severity: bulwark.SeverityCritical,
		Category: "Cat|egory=\\x", Actor: "eve",
		Subject: "line one\nline two\r\tpipe | equals = back \\ \x00\x1b[31m bad \xff utf8 \u2028sep",
		Data: json.RawMessage(`{"title":"Title | with \\ pipe\nand newline","rule_id":"R|1\\","user":"e=ve\tx",
			"source_ip":"not-an-ip","evidence":"a=b\\c\nd","policy":"p\u0085q"}`),
	}},
	{"minimal", bulwark.Event{Type: bulwark.EventSystem, Severity: "bogus", Data: json.RawMessage(`"not an object"`)}},
}

func TestGolden(t *testing.T) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for ext, enc := range map[string]func(*bulwark.Event) string{"cef": cef.CEF, "leef": cef.LEEF} {
				got := enc(&c.ev)
				checkLine(t, got)
				path := filepath.Join("testdata", c.name+"."+ext)
				if *update {
					if err := os.WriteFile(path, []byte(got+"\n"), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if got+"\n" != string(want) {
					t.Errorf("%s:\n got %q\nwant %q", path, got, strings.TrimSuffix(string(want), "\n"))
				}
			}
		})
	}
}

func TestCEFFields(t *testing.T) {
	hdr, ext := parseCEF(t, cef.CEF(&cases[0].ev))
	want := []string{"CEF:0", "Bulwark", "Bulwark AI Security Gateway", "1.4.0", "PI-001", "Prompt injection", "8"}
	if strings.Join(hdr, "|") != strings.Join(want, "|") {
		t.Fatalf("header %q", hdr)
	}
	for k, v := range map[string]string{
		"rt": "1795320000123", "externalId": "0f6b1d8e-3c1a-4f6e-9a51-6d2f0c7b9e11", "cat": "alert", "act": "block",
		"suser": "alice", "src": "192.0.2.10", "dproc": "gpt-4o-mini", "cs1Label": "policy", "cs1": "standard,pii",
		"cs2Label": "category", "cs2": "Guardrails", "cs3": "openai", "cs4": "eng", "cs5": "ignore previous ***", "cs6": "req-42",
	} {
		if ext[k] != v {
			t.Errorf("%s = %q, want %q", k, ext[k], v)
		}
	}

	hdr, ext = parseCEF(t, cef.CEF(&cases[2].ev))
	if hdr[4] != `R|1\` || hdr[5] != "Title | with \\ pipe and newline" || hdr[6] != "10" {
		t.Errorf("hostile header %q", hdr)
	}
	if ext["externalId"] != "id=1|2" || ext["cs2"] != "Cat|egory=\\x" || ext["cs5"] != "a=b\\c\nd" || ext["suser"] != "e=ve x" {
		t.Errorf("hostile extension %q", ext)
	}
	if _, ok := ext["src"]; ok {
		t.Error("src must be left out when the source is not an IP address")
	}
	if !strings.HasPrefix(ext["msg"], "line one\nline two\r pipe | equals = back \\") || !strings.Contains(ext["msg"], "\uFFFD") {
		t.Errorf("msg %q", ext["msg"])
	}
}

func TestLEEFFields(t *testing.T) {
	hdr, attrs := parseLEEF(t, cef.LEEF(&cases[1].ev))
	if strings.Join(hdr, "|") != "LEEF:2.0|Bulwark|Bulwark AI Security Gateway|1.4.0|auth.login_failed|x09" {
		t.Fatalf("header %q", hdr)
	}
	for k, v := range map[string]string{
		"devTime": "2026-11-22T04:00:00.123+0000", "devTimeFormat": "yyyy-MM-dd'T'HH:mm:ss.SSSZ", "cat": "auth",
		"sev": "5", "usrName": "bob", "src": "198.51.100.7", "identSrc": "198.51.100.7", "eventId": "7a1c",
	} {
		if attrs[k] != v {
			t.Errorf("%s = %q, want %q", k, attrs[k], v)
		}
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000-0700", attrs["devTime"]); err != nil {
		t.Error(err)
	}
	hdr, attrs = parseLEEF(t, cef.LEEF(&cases[2].ev))
	if hdr[4] != "R_1_" || attrs["usrName"] != "e=ve x" || attrs["cat"] != "Cat|egory=\\x" || attrs["evidence"] != "a=b\\c d" {
		t.Errorf("hostile %q %q", hdr, attrs)
	}
	if _, attrs = parseLEEF(t, cef.LEEF(&cases[3].ev)); attrs["sev"] != "1" || attrs["cat"] != "system" {
		t.Errorf("minimal %q", attrs)
	}
}

func TestSeverityScales(t *testing.T) {
	for _, c := range []struct {
		s         bulwark.Severity
		cef, sysl int
	}{
		{bulwark.SeverityCritical, 10, 2}, {bulwark.SeverityHigh, 8, 3}, {bulwark.SeverityMedium, 5, 4},
		{bulwark.SeverityLow, 3, 5}, {bulwark.SeverityInfo, 1, 6}, {"", 0, 6},
	} {
		if cef.Severity(c.s) != c.cef || cef.SyslogSeverity(c.s) != c.sysl {
			t.Errorf("%q: cef %d syslog %d", c.s, cef.Severity(c.s), cef.SyslogSeverity(c.s))
		}
	}
}

func TestLongValuesAreCut(t *testing.T) {
	long := strings.Repeat("é", 5000)
	ev := bulwark.Event{Type: bulwark.EventAlert, Subject: long, Data: json.RawMessage(`{"evidence":"` + long + `"}`)}
	_, ext := parseCEF(t, cef.CEF(&ev))
	if n := utf8.RuneCountInString(ext["msg"]); n != 1023 {
		t.Errorf("msg %d runes", n)
	}
	if n := utf8.RuneCountInString(ext["cs5"]); n != 2000 {
		t.Errorf("evidence %d runes", n)
	}
}

func checkLine(t testing.TB, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("invalid UTF-8: %q", s)
	}
	if strings.ContainsAny(s, "\r\n\u2028\u2029") {
		t.Fatalf("line break in %q", s)
	}
}

// parseCEF is an independent reading of a CEF line: seven header fields
// split on unescaped pipes, then key=value pairs where a key is the word
// before an unescaped "=".
func parseCEF(t testing.TB, line string) ([]string, map[string]string) {
	t.Helper()
	var hdr []string
	var cur strings.Builder
	i := 0
	for ; i < len(line) && len(hdr) < 7; i++ {
		switch c := line[i]; {
		case c == '\\' && i+1 < len(line):
			i++
			if line[i] != '\\' && line[i] != '|' {
				t.Fatalf("bad header escape \\%c in %q", line[i], line)
			}
			cur.WriteByte(line[i])
		case c == '|':
			hdr = append(hdr, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	if len(hdr) != 7 {
		t.Fatalf("%d header fields in %q", len(hdr), line)
	}
	ext := map[string]string{}
	rest := line[i:]
	// Positions of unescaped '='.
	var eqs []int
	for j := 0; j < len(rest); j++ {
		if rest[j] == '\\' {
			j++
			continue
		}
		if rest[j] == '=' {
			eqs = append(eqs, j)
		}
	}
	keyStart := func(eq int) int { return strings.LastIndexByte(rest[:eq], ' ') + 1 }
	for n, eq := range eqs {
		key := rest[keyStart(eq):eq]
		end := len(rest)
		if n+1 < len(eqs) {
			end = keyStart(eqs[n+1]) - 1
		}
		if end < eq+1 {
			t.Fatalf("empty value for %s in %q", key, line)
		}
		raw := rest[eq+1 : end]
		var v strings.Builder
		for j := 0; j < len(raw); j++ {
			if raw[j] != '\\' {
				v.WriteByte(raw[j])
				continue
			}
			j++
			if j == len(raw) {
				t.Fatalf("dangling backslash in %q", line)
			}
			switch raw[j] {
			case '\\', '=':
				v.WriteByte(raw[j])
			case 'n':
				v.WriteByte('\n')
			case 'r':
				v.WriteByte('\r')
			default:
				t.Fatalf("bad extension escape \\%c in %q", raw[j], line)
			}
		}
		if _, dup := ext[key]; dup {
			t.Fatalf("duplicate key %s in %q", key, line)
		}
		ext[key] = v.String()
	}
	return hdr, ext
}

// parseLEEF splits a LEEF 2.0 line into its six header fields and its
// attributes, using the delimiter the header declares.
func parseLEEF(t testing.TB, line string) ([]string, map[string]string) {
	t.Helper()
	parts := strings.SplitN(line, "|", 7)
	if len(parts) != 7 || parts[0] != "LEEF:2.0" || parts[5] != "x09" {
		t.Fatalf("header of %q", line)
	}
	attrs := map[string]string{}
	if parts[6] == "" {
		return parts[:6], attrs
	}
	for _, kv := range strings.Split(parts[6], "\t") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" || v == "" {
			t.Fatalf("attribute %q in %q", kv, line)
		}
		if _, dup := attrs[k]; dup {
			t.Fatalf("duplicate key %s in %q", k, line)
		}
		attrs[k] = v
	}
	return parts[:6], attrs
}

// oneLine is what a value becomes when the format cannot carry a control.
func oneLine(s string, keepBreaks bool) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if keepBreaks && (r == '\n' || r == '\r') {
			return r
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}

func FuzzEncoders(f *testing.F) {
	for _, c := range cases {
		f.Add(c.ev.ID, c.ev.Action, c.ev.Category, c.ev.Actor, c.ev.Subject, string(c.ev.Data))
	}
	f.Add("a", "b", "c", "d", "x\\", `{"rule_id":"|","title":"\\","user":"="}`)
	f.Fuzz(func(t *testing.T, id, action, category, actor, subject, data string) {
		if utf8.RuneCountInString(subject) > 1000 {
			return // the cut is tested above; here the values must survive whole
		}
		ev := bulwark.Event{ID: id, Time: at, Type: bulwark.EventAlert, Action: action, Severity: bulwark.SeverityLow,
			Category: category, Actor: actor, Subject: subject, Data: json.RawMessage(data)}

		line := cef.CEF(&ev)
		checkLine(t, line)
		hdr, ext := parseCEF(t, line)
		if hdr[0] != "CEF:0" || hdr[1] != cef.Vendor || hdr[6] != "3" {
			t.Fatalf("header %q", hdr)
		}
		if subject != "" && ext["msg"] != oneLine(subject, true) {
			t.Fatalf("msg %q from %q", ext["msg"], subject)
		}

		line = cef.LEEF(&ev)
		checkLine(t, line)
		hdr, attrs := parseLEEF(t, line)
		if hdr[1] != cef.Vendor || attrs["sev"] != "3" || attrs["devTimeFormat"] != cef.LEEFDevTimeFormat {
			t.Fatalf("leef %q %q", hdr, attrs)
		}
		if subject != "" && attrs["msg"] != oneLine(subject, false) {
			t.Fatalf("msg %q from %q", attrs["msg"], subject)
		}
	})
}
