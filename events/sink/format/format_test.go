package format_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func init() { format.Version = "1.2.3" }

// Events shaped like the gateway's: a policy alert and a proxy status change.
var samples = map[string]bulwark.Event{
	"alert": {
		ID: "0f6b1d8e-3c1a-4f6e-9a51-6d2f0c7b9e11", Time: time.Date(2026, 11, 22, 4, 0, 0, 123e6, time.UTC),
		Type: bulwark.EventAlert, Action: "policy.block", Severity: bulwark.SeverityHigh, Category: "Guardrails",
		Actor: "alice", Subject: "Blocked Prompt injection (PI-001) from alice on proxy openai",
		Data: json.RawMessage(`{"request_id":"req-1","proxy":"openai","group":"eng","group_id":3,"user":"alice",
			"user_email":"alice@example.com","policy":"llm-standard","key_id":7,"model":"gpt-4o-mini","api":"openai.chat",
			"rule_id":"PI-001","title":"Prompt injection","kind":"injection","surface":"request","path":"messages[0].content",
			"evidence":"ignore previous ***","action":"block","status":403,"source_ip":"192.0.2.10","findings":["PI-001"]}`),
	},
	"proxy_status": {
		ID: "7c9e6679-7425-40de-944b-e07fc1f90ae7", Time: time.Date(2026, 11, 22, 4, 5, 0, 0, time.UTC),
		Type: bulwark.EventProxyStatus, Action: "proxy.error", Severity: bulwark.SeverityHigh, Actor: "gateway",
		Subject: "Proxy openai is error: listen tcp :9001: address already in use",
		Data:    json.RawMessage(`{"proxy":"openai","state":"error","previous":"running","reason":"listen tcp :9001: address already in use","addr":":9001"}`),
	},
}

func TestGolden(t *testing.T) {
	for _, f := range format.Formats {
		for name, ev := range samples {
			t.Run(f+"/"+name, func(t *testing.T) {
				b, err := format.Body(f, &ev)
				if err != nil {
					t.Fatal(err)
				}
				got, _ := json.MarshalIndent(b, "", "  ")
				got = append(got, '\n')
				path := filepath.Join("testdata", f+"_"+name+".json")
				if *update {
					if err := os.WriteFile(path, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s differs (go test -update to rewrite):\n%s", path, got)
				}
			})
		}
	}
}

func TestNativeIsTheEnvelope(t *testing.T) {
	ev := samples["alert"]
	a, _ := format.Marshal("", &ev)
	b, _ := format.Marshal(format.Native, &ev)
	c, _ := json.Marshal(wire.EnvelopeOf(&ev))
	if !bytes.Equal(a, c) || !bytes.Equal(b, c) {
		t.Fatalf("native differs from wire.EnvelopeOf:\n%s\n%s", b, c)
	}
}

func TestMappings(t *testing.T) {
	get := func(m map[string]any, path string) any {
		var v any = m
		for _, k := range strings.Split(path, ".") {
			mm, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = mm[k]
		}
		return v
	}
	cases := []struct {
		f      string
		ev     bulwark.Event
		checks map[string]any
	}{
		{format.OCSF, bulwark.Event{ID: "a", Type: bulwark.EventAuth, Action: "auth.login", Severity: bulwark.SeverityInfo, Actor: "vera",
			Data: json.RawMessage(`{"result":"failure","source_ip":"2001:db8::1"}`)},
			map[string]any{"class_uid": 3002.0, "type_uid": 300201.0, "status_id": 2.0, "user.name": "vera", "src_endpoint.ip": "2001:db8::1", "severity_id": 1.0}},
		{format.OCSF, bulwark.Event{ID: "b", Type: bulwark.EventConfig, Action: "user.create", Severity: bulwark.SeverityInfo},
			map[string]any{"class_uid": 0.0, "type_uid": 99.0, "activity_name": "user.create"}},
		{format.OCSF, bulwark.Event{ID: "c", Type: bulwark.EventSystem, Action: "system.start", Severity: bulwark.SeverityCritical},
			map[string]any{"class_uid": 6002.0, "type_uid": 600203.0, "severity_id": 5.0, "app.name": "Bulwark Gateway"}},
		{format.OCSF, bulwark.Event{ID: "d", Type: bulwark.EventAlert, Action: "policy.redact", Severity: bulwark.SeverityLow,
			Data: json.RawMessage(`"not an object"`)},
			map[string]any{"disposition_id": 99.0, "severity_id": 2.0, "unmapped.data.value": "not an object", "finding_info.uid": "d"}},
		{format.ECS, bulwark.Event{ID: "e", Type: bulwark.EventAuth, Action: "auth.logout", Severity: bulwark.SeverityInfo, Actor: "vera",
			Data: json.RawMessage(`{"result":"success","source_ip":"not-an-ip"}`)},
			map[string]any{"event.category": []any{"authentication"}, "event.type": []any{"end"}, "event.outcome": "success",
				"source": nil, "bulwark.data.result": "success", "user.name": "vera"}},
		{format.ECS, bulwark.Event{ID: "f", Type: bulwark.EventConfig, Action: "proxy.delete", Severity: bulwark.SeverityMedium, Data: json.RawMessage(`{bad`)},
			map[string]any{"event.type": []any{"deletion"}, "event.severity": 3.0, "bulwark.data.value": "{bad", "event.kind": "event"}},
	}
	for _, tc := range cases {
		b, err := format.Marshal(tc.f, &tc.ev)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		for path, want := range tc.checks {
			got, _ := json.Marshal(get(m, path))
			w, _ := json.Marshal(want)
			if !bytes.Equal(got, w) {
				t.Errorf("%s %s %s: got %s, want %s", tc.f, tc.ev.ID, path, got, w)
			}
		}
	}
}

func TestValidate(t *testing.T) {
	if format.Validate("format", "") != nil || format.Validate("format", "ocsf") != nil {
		t.Fatal("valid format refused")
	}
	if err := format.Validate("format", "cef"); err == nil || !strings.HasPrefix(err.Error(), "format must be one of native, ecs, ocsf") {
		t.Fatal(err)
	}
	if _, err := format.Body("cef", &bulwark.Event{}); err == nil {
		t.Fatal("unknown format accepted")
	}
}

// FuzzBody: any data, in any format, gives valid JSON and no panic.
func FuzzBody(f *testing.F) {
	f.Add([]byte(`{"user":1,"source_ip":"::1","title":null}`), "alert")
	f.Add([]byte(`[1,2]`), "auth")
	f.Fuzz(func(t *testing.T, data []byte, typ string) {
		ev := bulwark.Event{ID: "x", Type: bulwark.EventType(typ), Action: "a.b", Severity: bulwark.SeverityHigh, Data: data}
		for _, fm := range format.Formats {
			b, err := format.Marshal(fm, &ev)
			if err != nil || !json.Valid(b) {
				t.Fatalf("%s: %v %s", fm, err, b)
			}
		}
	})
}
