package siem

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestHECAck(t *testing.T) {
	const ch = "0AC0F4B2-1C5A-4E5B-9D2E-3B5A6C7D8E9F"
	h := NewHEC("tok")
	h.Ack = true
	h.AckAfter = 1
	hdr := map[string]string{"Authorization": "Splunk tok", "Content-Type": "application/json", "X-Splunk-Request-Channel": ch}
	ev := `{"time":1.5,"event":{"id":"a"}}`
	for want := range 2 {
		w := post(t, h, "/services/collector/event", hdr, ev)
		var a struct {
			Code  int    `json:"code"`
			AckID *int64 `json:"ackId"`
		}
		if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &a) != nil || a.AckID == nil || *a.AckID != int64(want) {
			t.Fatalf("event %d: %d %s", want, w.Code, w.Body)
		}
	}
	noChannel := map[string]string{"Authorization": "Splunk tok", "Content-Type": "application/json"}
	if w := post(t, h, "/services/collector/event", noChannel, ev); w.Code != 400 {
		t.Fatalf("no channel with ack on: %d", w.Code)
	}
	ack := func(rx *HEC, path string, hdr map[string]string, body string) (int, map[string]bool) {
		t.Helper()
		w := post(t, rx, path, hdr, body)
		var a struct {
			Acks map[string]bool `json:"acks"`
		}
		_ = json.Unmarshal(w.Body.Bytes(), &a)
		return w.Code, a.Acks
	}
	q := "/services/collector/ack?channel=" + ch
	auth := map[string]string{"Authorization": "Splunk tok"}
	if code, a := ack(h, q, auth, `{"acks":[0,1,7]}`); code != 200 || a["0"] || a["1"] || a["7"] || len(a) != 3 {
		t.Fatalf("first query: %d %v", code, a)
	}
	if code, a := ack(h, q, auth, `{"acks":[0]}`); code != 200 || !a["0"] {
		t.Fatalf("second query: %d %v", code, a)
	}
	// Read as true once, then forgotten; the channel may come as a header.
	if code, a := ack(h, "/services/collector/ack", hdr, `{"acks":[0,1]}`); code != 200 || a["0"] || !a["1"] || h.PendingAcks() != 0 {
		t.Fatalf("third query: %d %v", code, a)
	}
	for name, tc := range map[string]struct {
		path, body string
		hdr        map[string]string
		want       int
	}{
		"no token":        {q, `{"acks":[0]}`, nil, 401},
		"bad token":       {q, `{"acks":[0]}`, map[string]string{"Authorization": "Splunk x"}, 403},
		"no channel":      {"/services/collector/ack", `{"acks":[0]}`, auth, 400},
		"bad channel":     {"/services/collector/ack?channel=abc", `{"acks":[0]}`, auth, 400},
		"channels differ": {q, `{"acks":[0]}`, map[string]string{"Authorization": "Splunk tok", "X-Splunk-Request-Channel": "11111111-2222-3333-4444-555555555555"}, 400},
		"not a list":      {q, `{"acks":0}`, auth, 400},
		"empty list":      {q, `{"acks":[]}`, auth, 400},
		"unknown field":   {q, `{"acks":[0],"x":1}`, auth, 400},
		"negative id":     {q, `{"acks":[-1]}`, auth, 400},
		"string id":       {q, `{"acks":["0"]}`, auth, 400},
	} {
		if code, _ := ack(h, tc.path, tc.hdr, tc.body); code != tc.want {
			t.Errorf("%s: %d, want %d", name, code, tc.want)
		}
	}
	if h.AckPolls() != 3 {
		t.Fatalf("polls %d", h.AckPolls())
	}

	never := NewHEC("tok")
	never.Ack, never.NeverAck = true, true
	post(t, never, "/services/collector/event", hdr, ev)
	for range 3 {
		if code, a := ack(never, q, auth, `{"acks":[0]}`); code != 200 || a["0"] {
			t.Fatalf("never: %d %v", code, a)
		}
	}

	off := NewHEC("tok")
	if w := post(t, off, "/services/collector/event", hdr, ev); w.Code != 200 || strings.Contains(w.Body.String(), "ackId") {
		t.Fatalf("ack off answer: %s", w.Body)
	}
	if w := post(t, off, q, auth, `{"acks":[0]}`); w.Code != 400 || !json.Valid(w.Body.Bytes()) {
		t.Fatalf("ack off: %d %s", w.Code, w.Body)
	}
}
