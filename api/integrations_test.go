package api_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/fake/siem"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/bulwarkhq/bulwark/secret"
)

type routeRecorder struct{ routes []events.Route }

func (r *routeRecorder) SetRoutes(routes []events.Route) { r.routes = routes }

func TestIntegrationsAPI(t *testing.T) {
	hec := siem.NewHEC("hec-secret-token")
	hs := httptest.NewServer(hec)
	t.Cleanup(hs.Close)
	t.Cleanup(hec.Close)
	router := &routeRecorder{}
	e := newTestServer(t, withAPI(func(o *api.Options) {
		disp := events.NewDispatcher(events.DispatchOptions{Store: o.Integrations.(events.OutboxStore)})
		t.Cleanup(func() { disp.Stop(context.Background()) })
		o.IntegrationRuntime = integrations.New(integrations.Options{Store: o.Integrations,
			Keyring: o.Keyring.(*secret.Keyring), Dispatcher: disp, Router: router})
	}))
	e.secret("hec-secret-token")
	e.secret("https://hooks.slack.com/services/T000/B000/XXXX")
	a := e.admin
	mark := e.auditMark()

	// Settings are validated as the sink will use them.
	a.do("POST", "/integrations", map[string]any{"name": "soc", "kind": "splunk", "settings": map[string]any{"url": hs.URL}}).
		wantErr(t, 422, "validation_failed", "secrets.token")
	a.do("POST", "/integrations", map[string]any{"name": "soc", "kind": "splunk", "settings": map[string]any{"url": "ftp://x"},
		"secrets": map[string]string{"token": "hec-secret-token"}}).wantErr(t, 422, "validation_failed", "settings.url")
	a.do("POST", "/integrations", map[string]any{"name": "soc", "kind": "splunk", "settings": map[string]any{"url": hs.URL, "token": "x"}}).
		wantErr(t, 422, "validation_failed", "settings.token")

	r := a.do("POST", "/integrations", map[string]any{"name": "soc", "kind": "splunk", "types": []string{"alert"}, "min_severity": "high",
		"settings": map[string]any{"url": hs.URL, "index": "sec"}, "secrets": map[string]string{"token": "hec-secret-token"}}).want(t, 201)
	id := r.num("id")
	if got := r.list("secrets_set"); len(got) != 1 || got[0] != "token" || r.get("enabled") != true {
		t.Fatalf("created: %s", r.Raw)
	}
	if len(router.routes) != 1 || router.routes[0].Sink != "soc" || router.routes[0].MinSeverity != bulwark.SeverityHigh {
		t.Fatalf("routes after create: %+v", router.routes)
	}
	a.do("POST", "/integrations", map[string]any{"name": "soc", "kind": "slack",
		"secrets": map[string]string{"webhook_url": "https://hooks.slack.com/services/T000/B000/XXXX"}}).wantErr(t, 409, "conflict")

	// Test connection delivers straight to the receiver.
	tr := a.do("POST", fmt.Sprintf("/integrations/%d/test", id), nil).want(t, 200)
	if tr.get("ok") != true || len(hec.Events()) != 1 || !strings.Contains(string(hec.Events()[0].Event), "integration.test") {
		t.Fatalf("test: %s; hec %v", tr.Raw, hec.Events())
	}

	// Update without secrets keeps the token; a stale version is refused.
	got := a.do("GET", fmt.Sprintf("/integrations/%d", id), nil).want(t, 200)
	upd := map[string]any{"name": "soc", "kind": "splunk", "enabled": false, "updated_at": got.str("updated_at"),
		"settings": map[string]any{"url": hs.URL, "index": "other"}}
	u := a.do("PUT", fmt.Sprintf("/integrations/%d", id), upd).want(t, 200)
	if l := u.list("secrets_set"); len(l) != 1 || u.get("enabled") != false || u.str("settings", "index") != "other" {
		t.Fatalf("updated: %s", u.Raw)
	}
	if len(router.routes) != 0 {
		t.Fatalf("disabled integration still routed: %+v", router.routes)
	}
	a.do("PUT", fmt.Sprintf("/integrations/%d", id), upd).wantErr(t, 409, "conflict")
	a.do("POST", fmt.Sprintf("/integrations/%d/test", id), nil).want(t, 200)
	if n := len(hec.Events()); n != 2 {
		t.Fatalf("test of a disabled integration with the kept token: %d events", n)
	}

	// A wrong token: the exact error comes back.
	upd["updated_at"] = u.str("updated_at")
	upd["secrets"] = map[string]string{"token": "wrong"}
	a.do("PUT", fmt.Sprintf("/integrations/%d", id), upd).want(t, 200)
	tr = a.do("POST", fmt.Sprintf("/integrations/%d/test", id), nil).want(t, 200)
	if tr.get("ok") != false || tr.num("status") != 403 || tr.get("permanent") != true || !strings.Contains(tr.str("error"), "403") {
		t.Fatalf("test with a wrong token: %s", tr.Raw)
	}

	// Viewers read, only admins change.
	vera := e.loginAs(e.createUser("vera", bulwark.RoleViewer))
	vera.do("GET", "/integrations", nil).want(t, 200)
	h := vera.do("GET", "/integrations/health", nil).want(t, 200)
	if h.str("items", 0, "name") != "soc" || h.str("items", 0, "state") != "stopped" {
		t.Fatalf("health: %s", h.Raw)
	}
	otto := e.loginAs(e.createUser("otto", bulwark.RoleOperator))
	otto.do("DELETE", fmt.Sprintf("/integrations/%d", id), nil).wantErr(t, 403, "forbidden")

	a.do("DELETE", fmt.Sprintf("/integrations/%d", id), nil).want(t, 204)
	a.do("GET", fmt.Sprintf("/integrations/%d", id), nil).wantErr(t, 404, "not_found")

	var actions []string
	for _, en := range e.auditAfter(mark) {
		if strings.HasPrefix(en.Action, "integration.") {
			actions = append(actions, en.Action+"/"+en.Result)
			if strings.Contains(fmt.Sprint(en.Details), "hec-secret-token") || strings.Contains(fmt.Sprint(en.Details), "wrong") {
				t.Fatalf("audit entry carries a secret: %+v", en)
			}
		}
	}
	want := []string{"integration.create/success", "integration.test/success", "integration.update/success", "integration.test/success",
		"integration.update/success", "integration.test/failure", "integration.delete/success"}
	if !slices.Equal(actions, want) {
		t.Fatalf("audit actions %v, want %v", actions, want)
	}
}
