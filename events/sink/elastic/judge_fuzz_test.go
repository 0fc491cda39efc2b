package elastic

import (
	"errors"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
)

// FuzzJudge: any answer a cluster (or something pretending to be one) sends
// gives nil, a plain retryable error or a *DeliveryError; never a panic, and
// "delivered" only when the answer says errors:false or every item is 2xx/409.
func FuzzJudge(f *testing.F) {
	f.Add([]byte(`{"errors":false,"items":[{"create":{"_id":"a","status":201}}]}`))
	f.Add([]byte(`{"errors":true,"items":[{"create":{"_id":"a","status":409}},{"create":{"_id":"b","status":429,"error":{"type":"x","reason":"y"}}}]}`))
	f.Add([]byte(`{"errors":true,"items":[{"index":{"status":400,"error":{}}}]}`))
	f.Add([]byte(`{"errors":true}`))
	f.Add([]byte(`<html>`))
	evs := []bulwark.Event{{ID: "a"}, {ID: "b"}}
	f.Fuzz(func(t *testing.T, answer []byte) {
		err := judge(evs, answer)
		var de *events.DeliveryError
		if errors.As(err, &de) && de.Err == nil {
			t.Fatal("DeliveryError without a cause")
		}
	})
}

func TestIndexFor(t *testing.T) {
	at := bulwark.Event{}.Time.AddDate(2025, 10, 21) // 2026-11-22
	for in, want := range map[string]string{
		"bulwark-events":              "bulwark-events",
		"bulwark-events-{yyyy.MM.dd}": "bulwark-events-2026.11.22",
		"b-{yyyy-MM}":                 "b-2026-11",
		"{yyyy}_b":                    "2026_b",
	} {
		if got := indexFor(in, at); got != want {
			t.Errorf("%s → %s, want %s", in, got, want)
		}
	}
}
