package syslog

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark"
)

// FuzzMessage checks the message invariants for any event: at most
// max_message bytes, valid UTF-8, one line, an intact header, and JSON
// formats still JSON after shortening.
func FuzzMessage(f *testing.F) {
	f.Add("cef", 480, "subject", `{"evidence":"x"}`, "id-1")
	f.Add("json", 2048, "ü\\\n", `{"findings":[{"a":"`+string(bytes.Repeat([]byte("b"), 3000))+`"}]}`, "id")
	f.Add("leef", 500, "\t|", `not json`, "")
	f.Fuzz(func(t *testing.T, format string, max int, subject, data, id string) {
		if _, ok := encoders[format]; !ok {
			return
		}
		max = MinMessage + (max%4000+4000)%4000
		if format != CEF && format != LEEF {
			max += MinJSONMessage - MinMessage
		}
		s, err := NewSink(Config{Name: "f", Address: "127.0.0.1:514", Transport: UDP, Format: format, MaxMessage: max, Hostname: "h"})
		if err != nil {
			t.Fatal(err)
		}
		ev := bulwark.Event{ID: id, Time: time.Unix(1, 0), Type: bulwark.EventAlert, Severity: bulwark.SeverityLow,
			Subject: subject, Data: json.RawMessage(data)}
		m, err := s.(*sink).message(&ev)
		if err != nil {
			t.Fatal(err)
		}
		if len(m) > max || !utf8.Valid(m) || bytes.ContainsAny(m, "\r\n") {
			t.Fatalf("%d bytes (max %d): %q", len(m), max, m)
		}
		hdr := []byte("<165>1 1970-01-01T00:00:01.000Z h bulwark ")
		if !bytes.HasPrefix(m, hdr) {
			t.Fatalf("header %q", m)
		}
		_, body, _ := bytes.Cut(m, []byte(" alert - "))
		if format != CEF && format != LEEF && !json.Valid(body) {
			t.Fatalf("invalid JSON %q", body)
		}
		if format == CEF && (len(body)-len(bytes.TrimRight(body, `\`)))%2 == 1 {
			t.Fatalf("dangling escape %q", body)
		}
	})
}
