// Package cef owns the one-line SIEM encodings of an event: ArcSight's
// Common Event Format (CEF:0) and QRadar's Log Event Extended Format
// (LEEF:2.0), with their escaping, field limits and severity scales. The
// syslog sink frames these lines; an HTTP sink can send them as they are.
// Every line is valid UTF-8 with no line break, whatever the event holds.
package cef

import (
	"encoding/json"
	"net/netip"
	"runtime/debug"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
)

// Vendor and Product identify Bulwark in both headers; SIEM parsers key
// their mappings on them, so they never change.
const (
	Vendor  = "Bulwark"
	Product = "Bulwark AI Security Gateway"
)

// Version is the product version written in the headers. It is the main
// module's version from the build information ("dev" for local builds);
// the command may overwrite it at start-up, before any event is encoded.
var Version = buildVersion()

func buildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// Severity maps a Bulwark severity onto CEF's 0–10 scale, whose bands are
// 0–3 low, 4–6 medium, 7–8 high and 9–10 very high. An unknown severity
// is 0. LEEF's sev uses the same numbers (its scale is 1–10, so unknown is
// 1 there).
func Severity(s bulwark.Severity) int {
	switch s {
	case bulwark.SeverityCritical:
		return 10
	case bulwark.SeverityHigh:
		return 8
	case bulwark.SeverityMedium:
		return 5
	case bulwark.SeverityLow:
		return 3
	case bulwark.SeverityInfo:
		return 1
	}
	return 0
}

// SyslogSeverity maps a Bulwark severity onto RFC 5424's severity codes:
// critical 2 (Critical), high 3 (Error), medium 4 (Warning), low 5
// (Notice), info and unknown 6 (Informational).
func SyslogSeverity(s bulwark.Severity) int {
	switch s {
	case bulwark.SeverityCritical:
		return 2
	case bulwark.SeverityHigh:
		return 3
	case bulwark.SeverityMedium:
		return 4
	case bulwark.SeverityLow:
		return 5
	}
	return 6
}

// details are the event fields both formats carry, taken from the
// event's Data object (alerts and audit events) with the event's own
// fields as fall-backs.
type details struct {
	signature, name, action, user, email, group, src, proxy, target, policy, category, evidence, request string
}

// Field length limits, in runes. ArcSight truncates longer values anyway;
// cutting here keeps a message inside a syslog receiver's size limit.
const (
	maxHeader   = 512
	maxValue    = 1023
	maxEvidence = 2000
)

func detailsOf(ev *bulwark.Event) details {
	var data map[string]json.RawMessage
	_ = json.Unmarshal(ev.Data, &data) // not an object: only the event's own fields are used
	str := func(keys ...string) string {
		for _, k := range keys {
			var s string
			if raw, ok := data[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
				return s
			}
		}
		return ""
	}
	d := details{
		name: str("title"), action: str("action"), user: str("user", "user_name", "username"),
		email: str("user_email", "email"), group: str("group"), proxy: str("proxy"),
		target: str("target", "model", "tool"), policy: str("policy"), category: ev.Category,
		evidence: str("evidence"), request: str("request_id"),
	}
	// The most specific stable identifier a SIEM can map: the rule for
	// alerts, else what happened (auth.login_failed), else the class.
	d.signature = firstOf(str("rule_id"), ev.Action, string(ev.Type), "event")
	d.name = firstOf(d.name, ev.Subject, ev.Action, string(ev.Type))
	d.action = firstOf(d.action, ev.Action)
	if d.user == "" {
		d.user = firstOf(ev.Actor, d.email)
	}
	// src must be an address: a receiver rejects or mis-indexes anything else.
	if ip, err := netip.ParseAddr(str("source_ip", "client_ip", "ip", "remote_addr")); err == nil {
		d.src = ip.Unmap().String()
	}
	return d
}

func firstOf(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// clean makes s valid UTF-8 and cuts it to n runes.
func clean(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

// control reports characters that have no place in a one-line record: C0
// and C1 controls, DEL and the Unicode line and paragraph separators.
func control(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == '\u2028' || r == '\u2029'
}

// CEF renders ev as one CEF:0 line:
//
//	CEF:0|Bulwark|Bulwark AI Security Gateway|<version>|<signature>|<name>|<severity>|<extension>
//
// The signature is the rule id of an alert, else the event action, else
// its type; the name is the alert title, else the subject. The extension
// carries rt (epoch ms), externalId (event id), cat (event type), act,
// suser, src, dproc (model or tool), msg (subject) and cs1–cs6 with their
// labels: policy, category, proxy, group, evidence, requestId.
func CEF(ev *bulwark.Event) string {
	d := detailsOf(ev)
	var b strings.Builder
	b.WriteString("CEF:0")
	for _, h := range []string{Vendor, Product, Version, d.signature, d.name} {
		b.WriteByte('|')
		cefHeader(&b, clean(h, maxHeader))
	}
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(Severity(ev.Severity)))
	b.WriteByte('|')
	first := true
	ext := func(key, v string, limit int) {
		if v == "" {
			return
		}
		if !first {
			b.WriteByte(' ')
		}
		first = false
		b.WriteString(key)
		b.WriteByte('=')
		cefValue(&b, clean(v, limit))
	}
	if !ev.Time.IsZero() {
		ext("rt", strconv.FormatInt(ev.Time.UnixMilli(), 10), maxValue)
	}
	ext("externalId", ev.ID, maxValue)
	ext("cat", string(ev.Type), maxValue)
	ext("act", d.action, maxValue)
	ext("suser", d.user, maxValue)
	ext("src", d.src, maxValue)
	ext("dproc", d.target, maxValue)
	ext("msg", ev.Subject, maxValue)
	n := 0
	custom := func(label, v string, limit int) {
		n++
		if v == "" {
			return
		}
		ext("cs"+strconv.Itoa(n)+"Label", label, maxValue)
		ext("cs"+strconv.Itoa(n), v, limit)
	}
	custom("policy", d.policy, maxValue)
	custom("category", d.category, maxValue)
	custom("proxy", d.proxy, maxValue)
	custom("group", d.group, maxValue)
	custom("evidence", d.evidence, maxEvidence)
	custom("requestId", d.request, maxValue)
	return b.String()
}

// cefHeader escapes a header field: backslash and pipe are escaped; line
// breaks and other controls, which the header cannot carry, become spaces.
func cefHeader(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r == '\\' || r == '|':
			b.WriteByte('\\')
			b.WriteRune(r)
		case control(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
}

// cefValue escapes an extension value: backslash and equals sign are
// escaped, CR and LF become \r and \n (CEF's multi-line encoding), other
// controls become spaces.
func cefValue(b *strings.Builder, s string) {
	for _, r := range s {
		switch {
		case r == '\\' || r == '=':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case control(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
}

// LEEFDevTimeFormat is the Java date pattern of LEEF's devTime.
const LEEFDevTimeFormat = "yyyy-MM-dd'T'HH:mm:ss.SSSZ"

// leefDevTime is LEEFDevTimeFormat in Go's notation.
const leefDevTime = "2006-01-02T15:04:05.000-0700"

// LEEF renders ev as one LEEF:2.0 line with a tab between attributes,
// declared in the header as x09:
//
//	LEEF:2.0|Bulwark|Bulwark AI Security Gateway|<version>|<event id>|x09|devTime=…<TAB>devTimeFormat=…<TAB>…
//
// The event id (QRadar's QID key) is the rule id of an alert, else the
// event action, else its type. LEEF has no escaping, so values never hold
// a tab or any other control character (they become spaces), and header
// fields never hold a pipe or a backslash, which some parsers read as an
// escape (they become "_").
func LEEF(ev *bulwark.Event) string {
	d := detailsOf(ev)
	var b strings.Builder
	b.WriteString("LEEF:2.0")
	for _, h := range []string{Vendor, Product, Version, d.signature} {
		b.WriteByte('|')
		for _, r := range clean(h, maxHeader) {
			if r == '|' || r == '\\' || control(r) {
				r = '_'
			}
			b.WriteRune(r)
		}
	}
	b.WriteString("|x09|")
	first := true
	attr := func(key, v string, limit int) {
		if v == "" {
			return
		}
		if !first {
			b.WriteByte('\t')
		}
		first = false
		b.WriteString(key)
		b.WriteByte('=')
		for _, r := range clean(v, limit) {
			if control(r) {
				r = ' '
			}
			b.WriteRune(r)
		}
	}
	if !ev.Time.IsZero() {
		attr("devTime", ev.Time.UTC().Format(leefDevTime), maxValue)
		attr("devTimeFormat", LEEFDevTimeFormat, maxValue)
	}
	attr("cat", firstOf(d.category, string(ev.Type)), maxValue)
	attr("sev", strconv.Itoa(max(Severity(ev.Severity), 1)), maxValue)
	attr("usrName", d.user, maxValue)
	attr("src", d.src, maxValue)
	attr("identSrc", d.src, maxValue)
	attr("policy", d.policy, maxValue)
	attr("resource", d.target, maxValue)
	attr("eventId", ev.ID, maxValue)
	attr("eventType", string(ev.Type), maxValue)
	attr("eventAction", ev.Action, maxValue)
	attr("action", d.action, maxValue)
	attr("name", d.name, maxHeader)
	attr("msg", ev.Subject, maxValue)
	attr("proxy", d.proxy, maxValue)
	attr("group", d.group, maxValue)
	attr("email", d.email, maxValue)
	attr("evidence", d.evidence, maxEvidence)
	attr("requestId", d.request, maxValue)
	return b.String()
}
