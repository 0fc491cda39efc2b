package wire

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "0": 0, "-3": 0, "junk": 0, "999999": 24 * time.Hour,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := RetryAfter(in, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestExcerptAndURL(t *testing.T) {
	if got := Excerpt("héllo wörld", 5); got != "héll…" {
		t.Fatal(got)
	}
	if got := Excerpt("abc", 5); got != "abc" {
		t.Fatal(got)
	}
	if Redact("https://hooks.slack.com/services/T/B/secret") != "https://hooks.slack.com" {
		t.Fatal("path not redacted")
	}
	if ValidateURL("url", "https://x") != nil || ValidateURL("url", "x") == nil || ValidateURL("url", "") == nil {
		t.Fatal("ValidateURL")
	}
	if (TLS{CAPEM: "nope"}).Validate() == nil || (TLS{}).Validate() != nil {
		t.Fatal("TLS.Validate")
	}
}

func TestEnvelope(t *testing.T) {
	ev := bulwark.Event{ID: "1", Time: time.Unix(0, 0), Type: bulwark.EventSystem, Severity: bulwark.SeverityInfo}
	b, _ := json.Marshal(EnvelopeOf(&ev))
	if string(b) != `{"id":"1","time":"1970-01-01T00:00:00Z","type":"system","action":"","severity":"info","subject":"","data":null}` {
		t.Fatal(string(b))
	}
	ev.Data = json.RawMessage(`{"a":`)
	b, _ = json.Marshal(EnvelopeOf(&ev))
	if !json.Valid(b) || !strings.Contains(string(b), `"data":"{\"a\":"`) {
		t.Fatal(string(b))
	}
}
