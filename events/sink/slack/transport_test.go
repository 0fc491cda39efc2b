package slack

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "5": 5 * time.Second, "0": 0, "-3": 0, "junk": 0, "999999": 24 * time.Hour,
		now.Add(30 * time.Second).Format(http.TimeFormat): 30 * time.Second,
		now.Add(-time.Minute).Format(http.TimeFormat):     0,
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestExcerptAndURL(t *testing.T) {
	if got := excerpt("héllo wörld", 5); got != "héll…" {
		t.Fatal(got)
	}
	if got := excerpt("abc", 5); got != "abc" {
		t.Fatal(got)
	}
	if redact("https://hooks.slack.com/services/T/B/secret") != "https://hooks.slack.com" {
		t.Fatal("path not redacted")
	}
	if validateURL("url", "https://x") != nil || validateURL("url", "x") == nil || validateURL("url", "") == nil {
		t.Fatal("ValidateURL")
	}
	if (TLS{CAPEM: "nope"}).Validate() == nil || (TLS{}).Validate() != nil {
		t.Fatal("TLS.Validate")
	}
}
