package siem

import (
	"strings"
	"testing"
)

func TestPagerDutyRejectsInvalidEvents(t *testing.T) {
	p := NewPagerDuty("R0123456789abcdef0123456789ABCDE")
	hdr := map[string]string{"Content-Type": "application/json"}
	ok := `{"routing_key":"R0123456789abcdef0123456789ABCDE","event_action":"trigger","dedup_key":"d",` +
		`"payload":{"summary":"s","source":"gw","severity":"error","timestamp":"2026-11-22T04:00:00.123Z"}}`
	for name, body := range map[string]string{
		"bad key":        strings.Replace(ok, "R0123", "X0123", 1),
		"bad action":     strings.Replace(ok, `"trigger"`, `"fire"`, 1),
		"bad severity":   strings.Replace(ok, `"error"`, `"high"`, 1),
		"no source":      strings.Replace(ok, `"source":"gw"`, `"source":""`, 1),
		"bad timestamp":  strings.Replace(ok, `2026-11-22T04:00:00.123Z`, `yesterday`, 1),
		"unknown field":  strings.Replace(ok, `"dedup_key"`, `"incident_key"`, 1),
		"long summary":   strings.Replace(ok, `"summary":"s"`, `"summary":"`+strings.Repeat("s", 1025)+`"`, 1),
		"no payload":     `{"routing_key":"R0123456789abcdef0123456789ABCDE","event_action":"trigger"}`,
		"resolve no key": `{"routing_key":"R0123456789abcdef0123456789ABCDE","event_action":"resolve"}`,
	} {
		if w := post(t, p, "/v2/enqueue", hdr, body); w.Code != 400 || !strings.Contains(w.Body.String(), "invalid event") {
			t.Errorf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if w := post(t, p, "/v2/enqueue", hdr, ok); w.Code != 202 || !strings.Contains(w.Body.String(), `"dedup_key":"d"`) {
		t.Fatalf("valid: %d %s", w.Code, w.Body)
	}
	if w := post(t, p, "/v2/enqueue", map[string]string{"Content-Type": "text/plain"}, ok); w.Code != 400 {
		t.Fatalf("content type: %d", w.Code)
	}
	if len(p.Events()) != 1 {
		t.Fatal(p.Events())
	}
}
