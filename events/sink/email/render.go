package email

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	htmltemplate "html/template"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	texttemplate "text/template"
	"unicode"

	"github.com/bulwarkhq/bulwark"
)

// Rendering limits: mail clients cope with far more, but an alert mail is
// read by a person and the console has the rest.
const (
	maxSubject     = 200  // runes
	maxField       = 500  // runes of one field value
	maxDescription = 2000 // runes
	maxEvidence    = 1000 // runes of (already masked) evidence
	maxDigestTitle = 200  // runes of a title in a digest
)

// AlertPrefix starts the subject of every alert mail and of digests holding
// an alert, so mail rules can route them.
const AlertPrefix = "[AI Security Alert]"

//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	htmlT = htmltemplate.Must(htmltemplate.New("").ParseFS(templateFS, "templates/*.html.tmpl"))
	textT = texttemplate.Must(texttemplate.New("").Funcs(texttemplate.FuncMap{"add": func(a, b int) int { return a + b }}).
		ParseFS(templateFS, "templates/*.txt.tmpl"))
)

// rendered is one message's content.
type rendered struct {
	Subject   string
	MessageID string // local part; the sink adds "@" and the From domain
	EventID   string // "" for a digest
	Severity  string // lower case, for the X-Bulwark-Severity header
	HTML      string
	Text      string
}

// field is one labelled value of an event.
type field struct{ Label, Value string }

// item is one event as the templates show it. Every string is plain text:
// html/template escapes it in the HTML body.
type item struct {
	ID          string
	Alert       bool
	Kind        string // "Security alert", "Auth event", …
	Severity    string // "High"
	Banner      htmltemplate.CSS
	Badge       htmltemplate.CSS
	Title       string
	Description string
	Fields      []field
	Evidence    string
	Link        string // the alert in the console, when console_url is set
}

// digestView is a digest as the templates show it.
type digestView struct {
	Subject string
	Count   int
	Highest string
	Banner  htmltemplate.CSS
	Counts  string // "2 Critical, 1 High"
	Items   []item
	Link    string // the console's alert list
}

type eventView struct {
	Subject string
	Item    item
}

// colours of the severity banner (the Slack sink's palette).
var colours = map[bulwark.Severity]string{
	bulwark.SeverityCritical: "#B42318", bulwark.SeverityHigh: "#F04438", bulwark.SeverityMedium: "#F79009",
	bulwark.SeverityLow: "#2E90FA", bulwark.SeverityInfo: "#667085",
}

var severities = []bulwark.Severity{bulwark.SeverityCritical, bulwark.SeverityHigh, bulwark.SeverityMedium,
	bulwark.SeverityLow, bulwark.SeverityInfo}

var typeLabels = map[bulwark.EventType]string{
	bulwark.EventAlert: "Security alert", bulwark.EventProxyStatus: "Proxy status", bulwark.EventAuth: "Auth",
	bulwark.EventConfig: "Config", bulwark.EventSystem: "System", bulwark.EventIntegrationHealth: "Integration health",
}

// SeverityLabel is s capitalised ("critical" → "Critical"); "" is Info.
func SeverityLabel(s bulwark.Severity) string {
	v := oneLine(string(s), 20)
	if v == "" {
		return "Info"
	}
	r := []rune(strings.ToLower(v))
	r[0] = unicode.ToUpper(r[0])
	return string(r)
}

func typeLabel(t bulwark.EventType) string {
	if l, ok := typeLabels[t]; ok {
		return l
	}
	if l := oneLine(string(t), 40); l != "" {
		return l
	}
	return "Event"
}

// Subject is the subject line of ev's own message:
// "[AI Security Alert] High: Prompt injection" for an alert,
// "[Bulwark Auth] Medium: Login failed for alice" for other events. It
// holds no control characters, so it cannot inject headers.
func Subject(ev *bulwark.Event) string {
	title := titleOf(ev, dataOf(ev))
	if ev.Type == bulwark.EventAlert {
		return cleanSubject(AlertPrefix + " " + SeverityLabel(ev.Severity) + ": " + title)
	}
	return cleanSubject("[Bulwark " + typeLabel(ev.Type) + "] " + SeverityLabel(ev.Severity) + ": " + title)
}

// DigestSubject is the subject of a digest of evs:
// "[AI Security Alert] Digest: 12 events (highest: Critical)".
func DigestSubject(evs []bulwark.Event) string {
	prefix := "[Bulwark]"
	for i := range evs {
		if evs[i].Type == bulwark.EventAlert {
			prefix = AlertPrefix
			break
		}
	}
	return cleanSubject(prefix + " Digest: " + strconv.Itoa(len(evs)) + " events (highest: " + SeverityLabel(highest(evs)) + ")")
}

func highest(evs []bulwark.Event) bulwark.Severity {
	var h bulwark.Severity
	for i := range evs {
		if h == "" || evs[i].Severity.Rank() > h.Rank() {
			h = evs[i].Severity
		}
	}
	return h
}

// cleanSubject makes s one header-safe line: control characters (CR and LF
// included) and bidirectional overrides become spaces, runs of white space
// one space, and it is cut to maxSubject runes.
func cleanSubject(s string) string { return oneLine(s, maxSubject) }

// oneLine is s on one line, without control or bidi-override characters,
// cut to n runes.
func oneLine(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || isBidi(r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
	return cut(strings.Join(strings.Fields(s), " "), n)
}

// multiLine keeps line breaks and tabs but drops other control and bidi
// characters, and cuts s to n runes.
func multiLine(s string, n int) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\t':
			return r
		case unicode.IsControl(r) || isBidi(r):
			return -1
		}
		return r
	}, s)
	return cut(strings.TrimSpace(s), n)
}

// isBidi reports the explicit directional formatting characters, which can
// make text display in another order than it is (a spoofed rule id).
func isBidi(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// cut shortens s to n runes, marking the cut with "…".
func cut(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if len(s) <= n { // bytes ≥ runes
		return s
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// data is an event's Data as an object (nil when it is not one).
type data map[string]any

func dataOf(ev *bulwark.Event) data {
	var d data
	if len(ev.Data) > 0 {
		_ = json.Unmarshal(ev.Data, &d)
	}
	return d
}

// str is the first non-empty string among keys; other JSON types are not
// shown (the console has them).
func (d data) str(keys ...string) string {
	for _, k := range keys {
		if s, ok := d[k].(string); ok && strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

func titleOf(ev *bulwark.Event, d data) string {
	for _, t := range []string{d.str("title"), ev.Subject, ev.Action} {
		if t = oneLine(t, maxField); t != "" {
			return t
		}
	}
	return "(untitled event)"
}

func (s *sink) consoleLink(path string) string {
	if s.cfg.ConsoleURL == "" {
		return ""
	}
	return strings.TrimRight(s.cfg.ConsoleURL, "/") + path
}

// itemOf maps ev onto the fields the templates show; empty ones are left
// out.
func (s *sink) itemOf(ev *bulwark.Event) item {
	d := dataOf(ev)
	colour := colours[ev.Severity]
	if colour == "" {
		colour = colours[bulwark.SeverityInfo]
	}
	it := item{
		ID: ev.ID, Alert: ev.Type == bulwark.EventAlert, Kind: typeLabel(ev.Type), Severity: SeverityLabel(ev.Severity),
		// Constants of this file, never event text: safe as CSS.
		Banner: htmltemplate.CSS("background-color:" + colour),
		Badge:  htmltemplate.CSS("color:" + colour),
		Title:  titleOf(ev, d),
	}
	if it.Alert {
		it.Kind = "Security alert"
	} else {
		it.Kind += " event"
	}
	if desc := multiLine(ev.Subject, maxDescription); desc != it.Title {
		it.Description = desc
	}
	add := func(label, v string) {
		if v = oneLine(v, maxField); v != "" {
			it.Fields = append(it.Fields, field{label, v})
		}
	}
	join := func(a, b, sep string) string {
		a, b = oneLine(a, maxField), oneLine(b, maxField)
		switch {
		case a == "":
			return b
		case b == "" || a == b:
			return a
		}
		return a + sep + b
	}
	add("Severity", it.Severity)
	add("Category", ev.Category)
	add("Action", d.str("action"))
	add("Status", d.str("status", "state"))
	user := d.str("user", "user_name", "username")
	if email := d.str("user_email", "email"); email != "" && email != user {
		user = join(user, "<"+email+">", " ")
	}
	if user == "" && it.Alert {
		user = ev.Actor
	}
	add("User", user)
	add("Group", d.str("group"))
	if !it.Alert && ev.Actor != "" && ev.Actor != user {
		add("Actor", ev.Actor)
	}
	add("Source IP", d.str("source_ip", "client_ip", "ip"))
	add("Proxy / target", join(d.str("proxy"), d.str("target", "model", "tool"), " → "))
	add("Policy / rule", join(d.str("policy"), d.str("rule_id"), " / "))
	add("Reason", d.str("reason"))
	add("Error", d.str("error"))
	if !ev.Time.IsZero() {
		add("Time", ev.Time.UTC().Format("2006-01-02 15:04:05 UTC"))
	}
	add("Event", join(ev.Action, ev.ID, " · "))
	it.Evidence = multiLine(d.str("evidence", "diff"), maxEvidence)
	if it.Alert && ev.ID != "" {
		it.Link = s.consoleLink("/alerts?alert=" + url.QueryEscape(ev.ID))
	}
	return it
}

var plainID = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// messageID is the stable Message-ID local part of an event: its id when it
// is plain, else a digest of it, so a retried delivery carries the same
// Message-ID and receivers can de-duplicate.
func messageID(ev *bulwark.Event) string {
	if plainID.MatchString(ev.ID) {
		return "bulwark-event-" + ev.ID
	}
	key := ev.ID
	if key == "" {
		key = ev.Time.UTC().String() + "\n" + string(ev.Type) + "\n" + ev.Action + "\n" + ev.Subject
	}
	h := sha256.Sum256([]byte(key))
	return "bulwark-event-" + hex.EncodeToString(h[:16])
}

// digestID is the Message-ID local part of a digest: a digest of its
// events' sorted ids, the same for the same events in any order.
func digestID(evs []bulwark.Event) string {
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = messageID(&evs[i])
	}
	slices.Sort(ids)
	h := sha256.Sum256([]byte(strings.Join(ids, "\n")))
	return "bulwark-digest-" + hex.EncodeToString(h[:16])
}

func (s *sink) renderEvent(ev *bulwark.Event) (*rendered, error) {
	v := eventView{Subject: Subject(ev), Item: s.itemOf(ev)}
	r := &rendered{Subject: v.Subject, MessageID: messageID(ev), EventID: oneLine(ev.ID, 100),
		Severity: strings.ToLower(SeverityLabel(ev.Severity))}
	return r, r.execute("event", v)
}

func (s *sink) renderDigest(evs []bulwark.Event) (*rendered, error) {
	sorted := slices.Clone(evs)
	// Most severe first, then oldest first.
	slices.SortStableFunc(sorted, func(a, b bulwark.Event) int {
		if c := cmp.Compare(b.Severity.Rank(), a.Severity.Rank()); c != 0 {
			return c
		}
		return a.Time.Compare(b.Time)
	})
	h := highest(evs)
	colour := colours[h]
	if colour == "" {
		colour = colours[bulwark.SeverityInfo]
	}
	v := digestView{
		Subject: DigestSubject(evs), Count: len(evs), Highest: SeverityLabel(h),
		Banner: htmltemplate.CSS("background-color:" + colour), Link: s.consoleLink("/alerts"),
	}
	counts := map[bulwark.Severity]int{}
	for i := range evs {
		sev := evs[i].Severity
		if !sev.Valid() {
			sev = bulwark.SeverityInfo // as SeverityLabel shows it
		}
		counts[sev]++
	}
	var parts []string
	for _, sev := range severities {
		if n := counts[sev]; n > 0 {
			parts = append(parts, strconv.Itoa(n)+" "+SeverityLabel(sev))
		}
	}
	v.Counts = strings.Join(parts, ", ")
	for i := range sorted {
		it := s.itemOf(&sorted[i])
		it.Title = cut(it.Title, maxDigestTitle)
		// The severity is in the item's heading already.
		it.Fields = slices.DeleteFunc(it.Fields, func(f field) bool { return f.Label == "Severity" })
		v.Items = append(v.Items, it)
	}
	r := &rendered{Subject: v.Subject, MessageID: digestID(evs), Severity: strings.ToLower(v.Highest)}
	return r, r.execute("digest", v)
}

// execute renders the HTML and text templates named name.
func (r *rendered) execute(name string, v any) error {
	var h, t bytes.Buffer
	if err := htmlT.ExecuteTemplate(&h, name+".html.tmpl", v); err != nil {
		return err
	}
	if err := textT.ExecuteTemplate(&t, name+".txt.tmpl", v); err != nil {
		return err
	}
	r.HTML, r.Text = h.String(), t.String()
	return nil
}
