package integrations_test

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/fake/siem"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/bulwarkhq/bulwark/secret"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

func fieldOf(t *testing.T, err error) string {
	t.Helper()
	var be *bulwark.Error
	if err == nil {
		t.Fatal("want a validation error, got nil")
	}
	if !asError(err, &be) || be.Code != bulwark.CodeUnprocessable {
		t.Fatalf("want a validation error, got %v", err)
	}
	fe := be.Fields
	if len(fe) == 0 {
		t.Fatalf("no field in %v", err)
	}
	return fe[0].Field
}

func TestBuildMapsSettingsAndSecrets(t *testing.T) {
	cases := []struct {
		name      string
		kind      bulwark.IntegrationKind
		settings  string
		secrets   map[string]string
		wantField string // "" when it builds
	}{
		{"splunk ok", bulwark.IntegrationSplunk, `{"url":"https://splunk.example:8088","index":"main"}`, map[string]string{"token": "abc"}, ""},
		{"splunk no token", bulwark.IntegrationSplunk, `{"url":"https://splunk.example:8088"}`, nil, "secrets.token"},
		{"splunk token in settings", bulwark.IntegrationSplunk, `{"url":"https://x","token":"abc"}`, nil, "settings.token"},
		{"splunk bad url", bulwark.IntegrationSplunk, `{"url":"ftp://x"}`, map[string]string{"token": "abc"}, "settings.url"},
		{"splunk unknown field", bulwark.IntegrationSplunk, `{"url":"https://x","colour":"red"}`, map[string]string{"token": "abc"}, "settings.colour"},
		{"splunk wrong secret", bulwark.IntegrationSplunk, `{"url":"https://x"}`, map[string]string{"token": "abc", "password": "x"}, "secrets.password"},
		{"slack ok", bulwark.IntegrationSlack, `{}`, map[string]string{"webhook_url": "https://hooks.slack.com/services/T/B/X"}, ""},
		{"slack missing url", bulwark.IntegrationSlack, `{}`, nil, "secrets.webhook_url"},
		{"webhook ok with rotation", bulwark.IntegrationWebhook, `{"url":"https://soar.example/hook","headers":{"X-Api-Key":"k"}}`,
			map[string]string{"secrets": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"}, ""},
		{"webhook no secret", bulwark.IntegrationWebhook, `{"url":"https://soar.example/hook"}`, nil, "secrets.secrets"},
		{"webhook bad secret", bulwark.IntegrationWebhook, `{"url":"https://soar.example/hook"}`, map[string]string{"secrets": "nope"}, "secrets.secrets[0]"},
		{"name in settings", bulwark.IntegrationSlack, `{"name":"x"}`, nil, "settings.name"},
		{"webhook secret headers and format", bulwark.IntegrationWebhook, `{"url":"https://soar.example/hook","format":"ocsf","headers":{"X-Tenant":"acme"}}`,
			map[string]string{"secrets": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret_headers": "Authorization: Bearer abc\nX-Api-Key: k"}, ""},
		{"webhook bad secret header", bulwark.IntegrationWebhook, `{"url":"https://soar.example/hook"}`,
			map[string]string{"secrets": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "secret_headers": "Host: x"}, "secrets.secret_headers"},
		{"webhook bad format", bulwark.IntegrationWebhook, `{"url":"https://soar.example/hook","format":"cef"}`,
			map[string]string{"secrets": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "settings.format"},
		{"splunk ack", bulwark.IntegrationSplunk, `{"url":"https://splunk.example:8088","ack":true,"channel":"0AC0F4B2-1C5A-4E5B-9D2E-3B5A6C7D8E9F","ack_timeout":10000000000}`, map[string]string{"token": "abc"}, ""},
		{"splunk ack without channel", bulwark.IntegrationSplunk, `{"url":"https://splunk.example:8088","ack":true}`, map[string]string{"token": "abc"}, "settings.ack"},
		{"splunk ecs", bulwark.IntegrationSplunk, `{"url":"https://splunk.example:8088","format":"ecs"}`, map[string]string{"token": "abc"}, ""},
		{"elastic api key", bulwark.IntegrationElastic, `{"url":"https://es.example:9200","index":"bulwark-{yyyy.MM.dd}","format":"ocsf"}`, map[string]string{"api_key": "a2V5"}, ""},
		{"elastic basic", bulwark.IntegrationElastic, `{"url":"https://es.example:9200","username":"bulwark"}`, map[string]string{"password": "pw"}, ""},
		{"elastic no auth", bulwark.IntegrationElastic, `{"url":"http://localhost:9200"}`, nil, ""},
		{"elastic password without user", bulwark.IntegrationElastic, `{"url":"https://es.example:9200"}`, map[string]string{"password": "pw"}, "settings.username"},
		{"elastic key in settings", bulwark.IntegrationElastic, `{"url":"https://es.example:9200","api_key":"x"}`, nil, "settings.api_key"},
		{"elastic bad index", bulwark.IntegrationElastic, `{"url":"https://es.example:9200","index":"Events"}`, nil, "settings.index"},
		{"pagerduty ok", bulwark.IntegrationPagerDuty, `{"source":"gw1"}`, map[string]string{"routing_key": "R0123456789abcdef0123456789ABCDE"}, ""},
		{"pagerduty short key", bulwark.IntegrationPagerDuty, `{}`, map[string]string{"routing_key": "abc"}, "secrets.routing_key"},
		{"pagerduty no key", bulwark.IntegrationPagerDuty, `{}`, nil, "secrets.routing_key"},
		{"teams ok", bulwark.IntegrationTeams, `{}`, map[string]string{"webhook_url": "https://prod-01.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=y"}, ""},
		{"teams missing url", bulwark.IntegrationTeams, `{}`, nil, "secrets.webhook_url"},
		{"syslog ok", bulwark.IntegrationSyslog, `{"address":"qradar.example:6514","format":"leef","facility":"local3"}`, nil, ""},
		{"syslog udp", bulwark.IntegrationSyslog, `{"address":"10.0.0.5:514","transport":"udp","max_message":1400}`, nil, ""},
		{"syslog no address", bulwark.IntegrationSyslog, `{}`, nil, "settings.address"},
		{"syslog bad address", bulwark.IntegrationSyslog, `{"address":"tcp://siem:514"}`, nil, "settings.address"},
		{"syslog bad format", bulwark.IntegrationSyslog, `{"address":"siem:514","format":"xml"}`, nil, "settings.format"},
		{"syslog tls on udp", bulwark.IntegrationSyslog, `{"address":"siem:514","transport":"udp","tls":{"insecure_skip_verify":true}}`, nil, "settings.tls"},
		{"syslog bad ca", bulwark.IntegrationSyslog, `{"address":"siem:6514","tls":{"ca_pem":"x"}}`, nil, "settings.tls.ca_pem"},
		{"siem_http qradar leef", bulwark.IntegrationSIEMHTTP, `{"url":"https://qradar.example:12469/","format":"leef","max_body_bytes":1048576}`, nil, ""},
		{"siem_http json with secrets", bulwark.IntegrationSIEMHTTP, `{"url":"https://collector.example/ingest","format":"ndjson","body_format":"ocsf","username":"bulwark","headers":{"X-Tenant":"acme"}}`,
			map[string]string{"password": "pw", "secret_headers": "X-Api-Key: k"}, ""},
		{"siem_http no format", bulwark.IntegrationSIEMHTTP, `{"url":"https://qradar.example:12469/"}`, nil, "settings.format"},
		{"siem_http password without user", bulwark.IntegrationSIEMHTTP, `{"url":"https://q.example/","format":"cef"}`, map[string]string{"password": "pw"}, "settings.username"},
		{"siem_http password in settings", bulwark.IntegrationSIEMHTTP, `{"url":"https://q.example/","format":"cef","password":"pw"}`, nil, "settings.password"},
		{"siem_http bad secret header", bulwark.IntegrationSIEMHTTP, `{"url":"https://q.example/","format":"json"}`, map[string]string{"secret_headers": "Host: x"}, "secrets.secret_headers"},
		{"siem_http body_format with lines", bulwark.IntegrationSIEMHTTP, `{"url":"https://q.example/","format":"leef","body_format":"ecs"}`, nil, "settings.body_format"},
		{"syslog has no secrets", bulwark.IntegrationSyslog, `{"address":"siem:6514"}`, map[string]string{"token": "x"}, "secrets.token"},
		{"email ok", bulwark.IntegrationEmail, `{"host":"smtp.example.com","username":"bulwark","from":"Bulwark <bulwark@example.com>","to":["soc@example.com"],"digest_threshold":10}`,
			map[string]string{"password": "pw"}, ""},
		{"email relay without auth", bulwark.IntegrationEmail, `{"host":"localhost","security":"none","from":"bulwark@example.com","to":["soc@example.com"]}`, nil, ""},
		{"email password in settings", bulwark.IntegrationEmail, `{"host":"smtp.example.com","password":"pw","from":"a@example.com","to":["b@example.com"]}`, nil, "settings.password"},
		{"email username without password", bulwark.IntegrationEmail, `{"host":"smtp.example.com","username":"u","from":"a@example.com","to":["b@example.com"]}`, nil, "secrets.password"},
		{"email password in clear", bulwark.IntegrationEmail, `{"host":"smtp.example.com","security":"none","username":"u","from":"a@example.com","to":["b@example.com"]}`,
			map[string]string{"password": "pw"}, "settings.security"},
		{"email bad recipient", bulwark.IntegrationEmail, `{"host":"smtp.example.com","from":"a@example.com","to":["b@example.com","soc"]}`, nil, "settings.to[1]"},
		{"email no from", bulwark.IntegrationEmail, `{"host":"smtp.example.com","to":["b@example.com"]}`, nil, "settings.from"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i := &bulwark.Integration{Name: "dest", Kind: tc.kind, Settings: json.RawMessage(tc.settings),
				Types: []bulwark.EventType{bulwark.EventAlert}, MinSeverity: bulwark.SeverityHigh}
			s, r, err := integrations.Build(i, tc.secrets)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("Build: %v", err)
				}
				if s.Name() != "dest" || r.Sink != "dest" || r.MinSeverity != bulwark.SeverityHigh || len(r.Types) != 1 {
					t.Fatalf("sink %q route %+v", s.Name(), r)
				}
				return
			}
			if got := fieldOf(t, err); got != tc.wantField {
				t.Fatalf("field %q, want %q (%v)", got, tc.wantField, err)
			}
		})
	}
}

type memRouter struct{ routes []events.Route }

func (m *memRouter) SetRoutes(r []events.Route) { m.routes = r }

// TestSplunkEndToEnd: an enabled splunk integration in the store, loaded by
// the Manager, receives an alert published through the Bus via the
// Dispatcher; Test delivers a synthetic event and reports the exact error.
func TestSplunkEndToEnd(t *testing.T) {
	ctx := t.Context()
	db := storetest.OpenSQLite(t)
	ring, err := secret.NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	hec := siem.NewHEC("hec-token")
	srv := httptest.NewServer(hec)
	t.Cleanup(srv.Close)
	t.Cleanup(hec.Close)

	bus := events.New(db, nil)
	disp := events.NewDispatcher(events.DispatchOptions{Store: db, Publisher: bus,
		PollInterval: 10 * time.Millisecond, DeliverTimeout: 2 * time.Second, Lease: 5 * time.Second})
	t.Cleanup(func() { disp.Stop(context.Background()) })
	m := integrations.New(integrations.Options{Store: db, Keyring: ring, Dispatcher: disp, Router: bus})

	sealed, err := ring.EncryptString(`{"token":"hec-token"}`, bulwark.IntegrationSecretsAD)
	if err != nil {
		t.Fatal(err)
	}
	in := &bulwark.Integration{Name: "soc-splunk", Kind: bulwark.IntegrationSplunk, Enabled: true,
		Types: []bulwark.EventType{bulwark.EventAlert}, MinSeverity: bulwark.SeverityMedium,
		Settings: json.RawMessage(`{"url":"` + srv.URL + `","index":"security"}`), Secrets: sealed}
	if err := db.CreateIntegration(ctx, in); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := disp.Health()["soc-splunk"]; !ok {
		t.Fatalf("dispatcher has no soc-splunk sink: %v (errors %v)", disp.Health(), m.Errors())
	}

	// Filtered out by the route: a system event and a low alert.
	if _, err := bus.Publish(ctx, bulwark.Event{Type: bulwark.EventSystem, Action: "system.start", Subject: "started"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Publish(ctx, bulwark.Event{Type: bulwark.EventAlert, Severity: bulwark.SeverityLow, Subject: "low", Category: "Other"}); err != nil {
		t.Fatal(err)
	}
	ev, err := bus.Publish(ctx, bulwark.Event{Type: bulwark.EventAlert, Severity: bulwark.SeverityHigh, Category: "Guardrails",
		Subject: "Prompt injection blocked"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(hec.Events()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	got := hec.Events()
	if len(got) != 1 {
		t.Fatalf("HEC received %d events, want 1 (errors %v)", len(got), hec.Errors())
	}
	if got[0].Index != "security" || !strings.Contains(string(got[0].Event), ev.ID) {
		t.Fatalf("HEC event %+v does not carry alert %s", got[0], ev.ID)
	}
	// The receiver has the event before the dispatcher has counted it.
	for disp.Health()["soc-splunk"].Sent == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if h := disp.Health()["soc-splunk"]; h.Sent != 1 || h.State != events.Healthy {
		t.Fatalf("health %+v", h)
	}

	// Test connection: straight through Deliver.
	if err := m.Test(ctx, in.ID); err != nil {
		t.Fatalf("Test: %v", err)
	}
	if n := len(hec.Events()); n != 2 {
		t.Fatalf("after Test HEC has %d events, want 2", n)
	}
	bad, _ := ring.EncryptString(`{"token":"wrong"}`, bulwark.IntegrationSecretsAD)
	in.Secrets = bad
	if err := db.UpdateIntegration(ctx, in, in.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	err = m.Test(ctx, in.ID)
	var de *events.DeliveryError
	if !asError(err, &de) || !de.Permanent || de.Status != 403 {
		t.Fatalf("Test with a wrong token: %v", err)
	}

	// Disabling removes the sink and the route.
	in.Enabled = false
	if err := db.UpdateIntegration(ctx, in, in.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := disp.Health()["soc-splunk"]; ok {
		t.Fatal("disabled integration still delivered")
	}
}

func TestReloadSkipsBrokenIntegration(t *testing.T) {
	ctx := t.Context()
	db := storetest.OpenSQLite(t)
	r := &memRouter{}
	disp := events.NewDispatcher(events.DispatchOptions{Store: db})
	t.Cleanup(func() { disp.Stop(context.Background()) })
	m := integrations.New(integrations.Options{Store: db, Dispatcher: disp, Router: r})
	for _, i := range []*bulwark.Integration{
		{Name: "broken", Kind: bulwark.IntegrationSplunk, Enabled: true, Settings: json.RawMessage(`{"url":"https://x"}`), Secrets: "garbage"},
		{Name: "nosecret", Kind: bulwark.IntegrationSplunk, Enabled: true, Settings: json.RawMessage(`{"url":"https://x"}`)},
	} {
		if err := db.CreateIntegration(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if len(r.routes) != 0 || len(m.Errors()) != 2 {
		t.Fatalf("routes %v errors %v", r.routes, m.Errors())
	}
}
