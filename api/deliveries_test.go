package api_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/bulwarkhq/bulwark/secret"
)

func TestIntegrationKinds(t *testing.T) {
	e := newTestServer(t)
	vera := e.loginAs(e.createUser("vera", bulwark.RoleViewer))
	r := vera.do("GET", "/integrations/kinds", nil).want(t, 200)
	kinds := map[string][]any{}
	for _, k := range r.list("items") {
		m := k.(map[string]any)
		kinds[m["kind"].(string)], _ = m["fields"].([]any)
	}
	for _, k := range bulwark.IntegrationKinds {
		if _, ok := kinds[string(k)]; !ok {
			t.Errorf("kind %s missing from %s", k, r.Raw)
		}
	}
	var token map[string]any
	for _, f := range kinds["splunk"] {
		if f.(map[string]any)["name"] == "token" {
			token = f.(map[string]any)
		}
	}
	if token["secret"] != true || token["required"] != true || token["type"] != "string" {
		t.Fatalf("splunk token field: %v", token)
	}
}

func TestIntegrationDeliveriesAndRetry(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusBadRequest)
	var got atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Webhook-Signature") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s := int(status.Load())
		if s < 300 {
			got.Add(1)
		}
		w.WriteHeader(s)
	}))
	t.Cleanup(recv.Close)
	e := newTestServer(t, withAPI(func(o *api.Options) {
		disp := events.NewDispatcher(events.DispatchOptions{Store: o.Integrations.(events.OutboxStore), PollInterval: 20 * time.Millisecond})
		t.Cleanup(func() { disp.Stop(context.Background()) })
		o.IntegrationRuntime = integrations.New(integrations.Options{Store: o.Integrations,
			Keyring: o.Keyring.(*secret.Keyring), Dispatcher: disp, Router: &routeRecorder{}})
	}))
	const key = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	e.secret(key)
	a := e.admin
	mark := e.auditMark()
	id := a.do("POST", "/integrations", map[string]any{"name": "soar", "kind": "webhook",
		"settings": map[string]any{"url": recv.URL}, "secrets": map[string]string{"secrets": key}}).want(t, 201).num("id")

	// Two events for the integration; the receiver refuses them.
	for n := range 2 {
		ev := &bulwark.Event{Type: bulwark.EventAlert, Action: "alert.test", Severity: bulwark.SeverityHigh, Subject: fmt.Sprintf("alert %d", n)}
		if err := e.db.RecordEvent(t.Context(), ev, nil, []string{"soar"}); err != nil {
			t.Fatal(err)
		}
	}
	path := fmt.Sprintf("/integrations/%d/deliveries", id)
	dead := waitDeliveries(t, a, path+"?status=dead", 2)
	if dead.str("items", 0, "status") != "dead" || dead.str("items", 0, "subject") != "alert 1" ||
		!strings.Contains(dead.str("items", 0, "last_error"), "400") || dead.num("items", 0, "attempts") != 1 {
		t.Fatalf("dead letters: %s", dead.Raw)
	}
	h := a.do("GET", "/integrations/health", nil).want(t, 200)
	if h.str("items", 0, "state") != "failed" || h.num("items", 0, "dead_lettered") != 2 {
		t.Fatalf("health after dead letters: %s", h.Raw)
	}

	// Neither ids nor all, or both: refused.
	a.do("POST", path+"/retry", map[string]any{}).wantErr(t, 422, "validation_failed", "ids")
	a.do("POST", path+"/retry", map[string]any{"all": true, "ids": []int64{1}}).wantErr(t, 422, "validation_failed", "ids")
	otto := e.loginAs(e.createUser("otto", bulwark.RoleOperator))
	otto.do("POST", path+"/retry", map[string]any{"all": true}).wantErr(t, 403, "forbidden")
	otto.do("GET", path, nil).wantErr(t, 403, "forbidden")
	a.do("GET", "/integrations/999/deliveries", nil).wantErr(t, 404, "not_found")

	// The receiver is fixed: one dead letter retried by id, then the rest.
	status.Store(http.StatusNoContent)
	r := a.do("POST", path+"/retry", map[string]any{"ids": []int64{dead.num("items", 1, "id"), 999999}}).want(t, 200)
	if r.num("retried") != 1 {
		t.Fatalf("retry one: %s", r.Raw)
	}
	waitDeliveries(t, a, path+"?status=delivered", 1)
	if r := a.do("POST", path+"/retry", map[string]any{"all": true}).want(t, 200); r.num("retried") != 1 {
		t.Fatalf("retry all: %s", r.Raw)
	}
	all := waitDeliveries(t, a, path+"?status=delivered", 2)
	if all.num("items", 0, "attempts") != 1 || got.Load() != 2 {
		t.Fatalf("delivered after retry: %s (receiver accepted %d)", all.Raw, got.Load())
	}
	if l := a.do("GET", path+"?status=dead", nil).want(t, 200); l.num("total") != 0 {
		t.Fatalf("dead letters left: %s", l.Raw)
	}
	if l := a.do("GET", path+"?limit=1&offset=1", nil).want(t, 200); l.num("total") != 2 || len(l.list("items")) != 1 {
		t.Fatalf("paged listing: %s", l.Raw)
	}

	var actions []string
	for _, en := range e.auditAfter(mark) {
		if en.ResourceType == "integration" {
			actions = append(actions, en.Action)
		}
	}
	if want := []string{"integration.create", "integration.retry", "integration.retry"}; !slices.Equal(actions, want) {
		t.Fatalf("audit %v, want %v", actions, want)
	}
	if f := a.do("GET", "/audit?resource_type=integration", nil).want(t, 200); f.num("total") != 3 {
		t.Fatalf("audit filtered by integration: %s", f.Raw)
	}
}

// waitDeliveries polls path until it lists want deliveries.
func waitDeliveries(t *testing.T, c *client, path string, want int) *response {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := c.do("GET", path, nil).want(t, 200)
		if int(r.num("total")) == want {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s, want %d items", path, r.Raw, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
