package siemhttp

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/fake/siem"
)

// FuzzBodies: whatever the events hold, every body fits max_body_bytes,
// reads back under the receiver's strict framing, and the bodies together
// carry every event once, in order.
func FuzzBodies(f *testing.F) {
	f.Add(uint8(0), uint16(3), "subject", `{"evidence":"x"}`, uint16(100))
	f.Add(uint8(1), uint16(40), "a\nb\u2028", `{"blob":"`+strings.Repeat("y", 5000)+`"}`, uint16(3000))
	f.Add(uint8(2), uint16(1), "\x00", `not json`, uint16(0))
	f.Add(uint8(3), uint16(200), "é\t|=\\", `{"user":"a=b"}`, uint16(60000))
	f.Fuzz(func(t *testing.T, fi uint8, n uint16, subject, data string, pad uint16) {
		fmtName := Formats[int(fi)%len(Formats)]
		s, err := New(Config{Name: "f", URL: "https://siem.example/", Format: fmtName, MaxBodyBytes: MinBody})
		if err != nil {
			t.Fatal(err)
		}
		count := int(n)%200 + 1
		evs := make([]bulwark.Event, count)
		for i := range evs {
			evs[i] = bulwark.Event{ID: "ev-" + strconv.Itoa(i), Time: time.Unix(int64(i), 0), Type: bulwark.EventAlert,
				Severity: bulwark.SeverityLow, Subject: subject + strings.Repeat("p", int(pad)%(i+1)*100%20000), Data: json.RawMessage(data)}
		}
		bodies, err := s.(*sink).bodies(evs)
		if err != nil {
			if strings.Contains(err.Error(), "more than max_body_bytes") {
				return // a single event over the limit (JSON only: lines are bounded)
			}
			t.Fatal(err)
		}
		next := 0
		for _, b := range bodies {
			if len(b) > MinBody {
				t.Fatalf("body of %d bytes", len(b))
			}
			recs, err := siem.ParseLines(fmtName, b)
			if err != nil {
				t.Fatalf("%s body rejected: %v", fmtName, err)
			}
			for _, r := range recs {
				if r.ID != "ev-"+strconv.Itoa(next) {
					t.Fatalf("record %q, want ev-%d", r.ID, next)
				}
				next++
			}
		}
		if next != count {
			t.Fatalf("%d of %d events", next, count)
		}
	})
}
