package sysprompt

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

func TestParseRejectsUnknownVariables(t *testing.T) {
	for _, tc := range []struct {
		tmpl, wantErr string
	}{
		{"Hello {{.User}} of {{.Group}} at {{.Organization}} on {{.Date}} {{.Time}} via {{.Proxy}} ({{.UserEmail}})", ""},
		{"{{if .User}}Hi {{.User}}{{else}}Hi{{end}}", ""},
		{"Hello {{.Username}}", "unknown variable .Username"},
		{"{{with .Team}}x{{end}}", "unknown variable .Team"},
		{"{{.User.Name}}", "unknown variable .User.Name"},
		{"{{.User", "does not parse"},
		{"{{template \"x\"}}", "does not render"},
	} {
		_, err := Parse("p", tc.tmpl)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%q: %v", tc.tmpl, err)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v, want %q", tc.tmpl, err, tc.wantErr)
		}
	}
}

type doc struct{}

func (doc) Len() int                                   { return 0 }
func (doc) Part(int) (string, bulwark.Surface, string) { return "", "", "" }
func (doc) SetText(int, string)                        {}

func TestStagePicksHighestApplicablePriority(t *testing.T) {
	now := func() time.Time { return time.Date(2026, 11, 22, 9, 30, 0, 0, time.UTC) }
	prompts := []*bulwark.SystemPrompt{
		{Name: "all", Template: "general {{.User}}", Priority: 1, Enabled: true},
		{Name: "team", Template: "team {{.Group}} {{.Date}} {{.Time}} {{.Organization}}", Priority: 10, Groups: []string{"blue"}, Enabled: true},
		{Name: "off", Template: "disabled", Priority: 100, Enabled: false},
		{Name: "other-proxy", Template: "other", Priority: 50, Proxies: []string{"anthropic"}, Enabled: true},
	}
	s, err := New(prompts, func() string { return "Acme" }, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		group, want string
	}{
		{"blue", "team blue 2026-11-22 09:30:00 UTC Acme"},
		{"red", "general alice"},
	} {
		x := &inspect.Exchange{Proxy: "openai", Request: doc{}, Group: &bulwark.Group{Name: tc.group}, Key: &bulwark.GatewayKey{User: "alice"}}
		if err := s.Request(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		if x.SystemPrompt != tc.want {
			t.Errorf("group %s: %q, want %q", tc.group, x.SystemPrompt, tc.want)
		}
	}
	if _, err := New([]*bulwark.SystemPrompt{{Name: "bad", Template: "{{.Nope}}", Enabled: true}}, nil, nil); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Fatalf("broken prompt: %v", err)
	}
}
