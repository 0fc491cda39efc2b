package integrations_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/langfuse"
	fakelf "github.com/bulwarkhq/bulwark/fake/langfuse"
	fakellm "github.com/bulwarkhq/bulwark/fake/llm"
	"github.com/bulwarkhq/bulwark/gateway"
	"github.com/bulwarkhq/bulwark/integrations"
	"github.com/bulwarkhq/bulwark/secret"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

// TestLangfuseEndToEnd sends a chat request through a gateway LLM proxy to
// the fake LLM and expects its trace at the fake Langfuse, through a
// Langfuse integration the Manager started; then checks health, Test, and
// that disabling stops the tailer.
func TestLangfuseEndToEnd(t *testing.T) {
	ctx := t.Context()
	db := storetest.OpenSQLite(t)
	ring, err := secret.NewKeyring(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	lf := fakelf.New("pk-lf-1", "sk-lf-1")
	lfSrv := httptest.NewServer(lf)
	t.Cleanup(lfSrv.Close)
	up := httptest.NewServer(fakellm.New(fakellm.Options{APIKey: "sk-upstream"}))
	t.Cleanup(up.Close)

	bus := events.New(db, nil)
	disp := events.NewDispatcher(events.DispatchOptions{Store: db, Publisher: bus, PollInterval: 10 * time.Millisecond})
	t.Cleanup(func() { disp.Stop(context.Background()) })
	m := integrations.New(integrations.Options{Store: db, Keyring: ring, Dispatcher: disp, Router: bus,
		Tail: langfuse.TailOptions{PollInterval: 20 * time.Millisecond, BaseBackoff: 10 * time.Millisecond}})
	t.Cleanup(func() { m.Stop(context.Background()) })

	// The gateway: one OpenAI proxy, one key of user alice.
	gw, err := gateway.New(gateway.Options{Store: db, Keyring: ring, Events: bus, SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	g := &bulwark.Group{Name: "team", Proxies: []string{"*"}, BudgetAction: bulwark.BudgetWarn}
	if err := db.CreateGroup(ctx, g); err != nil {
		t.Fatal(err)
	}
	key, err := auth.NewToken(auth.GatewayKeyPrefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateGatewayKey(ctx, &bulwark.GatewayKey{GroupID: g.ID, Name: "ci", User: "alice",
		Prefix: auth.TokenDisplayPrefix(key), Hash: auth.TokenHash(key)}); err != nil {
		t.Fatal(err)
	}
	cred, err := ring.EncryptString("sk-upstream", gateway.CredentialAD)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.CreateProxy(ctx, &bulwark.Proxy{Name: "openai", Type: bulwark.ProtocolLLM, Provider: bulwark.ProviderOpenAI,
		UpstreamURL: up.URL, Credential: cred, Enabled: true, AutoStart: true}); err != nil {
		t.Fatal(err)
	}
	if err := gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	front := httptest.NewServer(gw)
	t.Cleanup(func() {
		front.Close()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = gw.Shutdown(sctx)
	})

	sealed, err := ring.EncryptString(`{"secret_key":"sk-lf-1"}`, bulwark.IntegrationSecretsAD)
	if err != nil {
		t.Fatal(err)
	}
	i := &bulwark.Integration{Name: "traces", Kind: bulwark.IntegrationLangfuse, Enabled: true, Secrets: sealed,
		Settings: json.RawMessage(`{"host":"` + lfSrv.URL + `","public_key":"pk-lf-1","environment":"ci"}`)}
	if err := db.CreateIntegration(ctx, i); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if errs := m.Errors(); len(errs) > 0 {
		t.Fatalf("not started: %v", errs)
	}
	if _, ok := m.Health()["traces"]; !ok {
		t.Fatalf("health lacks the tailer: %v", m.Health())
	}
	// The tailer starts "from now": wait until it holds its cursor, so the
	// request below is after its start.
	waitUntil(t, "the tailer's cursor", func() bool {
		for _, pool := range db.SQLDBs() {
			var owner string
			if pool.QueryRow(`SELECT owner FROM integration_cursors WHERE integration_id = $1`, i.ID).Scan(&owner) == nil && owner != "" {
				return true
			}
		}
		return false
	})

	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hello there"}]}`
	req, _ := http.NewRequest(http.MethodPost, front.URL+"/p/openai/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("chat through the gateway: HTTP %d", resp.StatusCode)
	}
	waitUntil(t, "the trace", func() bool { return len(lf.Traces()) == 1 })
	tr := lf.Traces()[0]
	gen, ok := lf.Observation(tr.ID)
	if !ok || tr.UserID != "alice" || tr.Name != "openai/chat" || tr.Metadata["group"] != "team" || tr.Metadata["verdict"] != "allow" ||
		tr.Environment != "ci" || gen.Model == "" || gen.UsageDetails["input"] == 0 || gen.UsageDetails["output"] == 0 {
		t.Fatalf("trace %+v\ngeneration %+v", tr, gen)
	}
	if errs := lf.Errors(); len(errs) > 0 {
		t.Fatalf("the fake refused: %q", errs)
	}
	waitUntil(t, "health", func() bool { h := m.Health()["traces"]; return h.Sent == 1 && h.State == events.Healthy })

	// Test sends one synthetic trace, also for a disabled integration.
	if err := m.Test(ctx, i.ID); err != nil {
		t.Fatal(err)
	}
	if n := len(lf.Traces()); n != 2 || lf.Traces()[1].Metadata["proxy"] != "bulwark-test" {
		t.Fatalf("test trace: %+v", lf.Traces())
	}

	// Disabled: the tailer stops and leaves the health list.
	i.Enabled = false
	if err := db.UpdateIntegration(ctx, i, i.UpdatedAt); err != nil {
		t.Fatal(err)
	}
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := m.Health()["traces"]; ok {
		t.Fatal("a disabled tailer still reports health")
	}
	before := lf.Requests()
	resp, err = http.DefaultClient.Do(mustRequest(t, front.URL+"/p/openai/v1/chat/completions", body, key))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	time.Sleep(400 * time.Millisecond)
	if lf.Requests() != before {
		t.Fatal("a disabled integration still sends")
	}
}

func mustRequest(t *testing.T, url, body, key string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+key)
	return req
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLangfuseSettingsValidated(t *testing.T) {
	cases := []struct {
		settings, field string
		secrets         map[string]string
	}{
		{`{"public_key":"pk"}`, "secrets.secret_key", nil},
		{`{"public_key":"pk","sample_percent":500}`, "settings.sample_percent", map[string]string{"secret_key": "sk"}},
		{`{"public_key":"pk","secret_key":"sk"}`, "settings.secret_key", nil},
		{`{"public_key":"pk","proxy":["x"]}`, "settings.proxy", map[string]string{"secret_key": "sk"}},
	}
	for _, c := range cases {
		i := &bulwark.Integration{Name: "lf", Kind: bulwark.IntegrationLangfuse, Settings: json.RawMessage(c.settings)}
		_, _, err := integrations.Build(i, c.secrets)
		if got := fieldOf(t, err); got != c.field {
			t.Errorf("%s: field %s, want %s (%v)", c.settings, got, c.field, err)
		}
	}
	i := &bulwark.Integration{Name: "lf", Kind: bulwark.IntegrationLangfuse, Settings: json.RawMessage(`{"public_key":"pk"}`)}
	if _, _, err := integrations.Build(i, map[string]string{"secret_key": "sk"}); err != nil {
		t.Fatal(err)
	}
}
