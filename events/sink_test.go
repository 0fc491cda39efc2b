package events

import (
	"errors"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

func TestRouteWants(t *testing.T) {
	alert := &bulwark.Event{Type: bulwark.EventAlert, Severity: bulwark.SeverityHigh, Category: "Guardrails"}
	auth := &bulwark.Event{Type: bulwark.EventAuth, Severity: bulwark.SeverityLow}
	for _, tc := range []struct {
		name  string
		route Route
		ev    *bulwark.Event
		want  bool
	}{
		{"no filters", Route{}, auth, true},
		{"type in", Route{Types: []bulwark.EventType{bulwark.EventAlert}}, alert, true},
		{"type out", Route{Types: []bulwark.EventType{bulwark.EventAlert}}, auth, false},
		{"severity at", Route{MinSeverity: bulwark.SeverityHigh}, alert, true},
		{"severity below", Route{MinSeverity: bulwark.SeverityMedium}, auth, false},
		{"category in", Route{Categories: []string{"Guardrails"}}, alert, true},
		{"category out", Route{Categories: []string{"MCP Tool Changes"}}, alert, false},
		{"category ignores non-alerts", Route{Categories: []string{"MCP Tool Changes"}}, auth, true},
	} {
		if got := tc.route.Wants(tc.ev); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	b := New(nil, nil)
	b.SetRoutes([]Route{{Sink: "slack", MinSeverity: bulwark.SeverityHigh}, {Sink: "siem"}})
	if got := b.sinksFor(auth); len(got) != 1 || got[0] != "siem" {
		t.Fatalf("sinks for a low auth event: %v", got)
	}
	if got := b.sinksFor(alert); len(got) != 2 {
		t.Fatalf("sinks for a high alert: %v", got)
	}
}

func TestHTTPFailure(t *testing.T) {
	for _, tc := range []struct {
		status    int
		ok        bool
		permanent bool
	}{{200, true, false}, {204, true, false}, {400, false, true}, {401, false, true}, {408, false, false}, {429, false, false}, {500, false, false}, {503, false, false}} {
		err := HTTPFailure(tc.status, time.Second, "x")
		var de *DeliveryError
		switch {
		case tc.ok && err != nil:
			t.Errorf("%d: %v", tc.status, err)
		case !tc.ok && (!errors.As(err, &de) || de.Permanent != tc.permanent):
			t.Errorf("%d: %v", tc.status, err)
		}
	}
}
