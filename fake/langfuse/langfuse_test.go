package langfuse_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/fake/langfuse"
)

const good = `{"batch":[
 {"id":"e1","timestamp":"2026-01-01T00:00:00.000Z","type":"trace-create","body":{"id":"abc123","timestamp":"2026-01-01T00:00:00.000Z","name":"p/chat","tags":["x"],"metadata":{"request_id":"r1"}}},
 {"id":"e2","timestamp":"2026-01-01T00:00:00.000Z","type":"generation-create","body":{"id":"g1","traceId":"abc123","name":"chat","startTime":"2026-01-01T00:00:00.000Z","endTime":"2026-01-01T00:00:01.000Z","model":"gpt-4o","usageDetails":{"input":3},"costDetails":{"total":0.1},"level":"DEFAULT","metadata":{}}}
]}`

func post(t *testing.T, url, auth, ctype, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/api/public/ingestion", strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(auth)))
	}
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

func TestStrictIngestion(t *testing.T) {
	s := langfuse.New("pk", "sk")
	srv := httptest.NewServer(s)
	defer srv.Close()

	cases := []struct {
		name       string
		auth       string
		ctype      string
		body       string
		status     int
		itemErrors int
	}{
		{"accepted", "pk:sk", "application/json", good, 207, 0},
		{"wrong secret", "pk:nope", "application/json", good, 401, 0},
		{"no auth", "", "application/json", good, 401, 0},
		{"text body", "pk:sk", "text/plain", good, 400, 0},
		{"not a batch", "pk:sk", "application/json", `[{"id":"e1"}]`, 400, 0},
		{"unknown body field", "pk:sk", "application/json", strings.Replace(good, `"tags"`, `"tagz"`, 1), 207, 1},
		{"unknown type", "pk:sk", "application/json", strings.Replace(good, `"trace-create"`, `"trace-upsert"`, 1), 207, 1},
		{"bad level", "pk:sk", "application/json", strings.Replace(good, `"DEFAULT"`, `"INFO"`, 1), 207, 1},
		{"bad time", "pk:sk", "application/json", strings.Replace(good, `"startTime":"2026-01-01T00:00:00.000Z"`, `"startTime":"yesterday"`, 1), 207, 1},
		{"repeated event id", "pk:sk", "application/json", strings.Replace(good, `"id":"e2"`, `"id":"e1"`, 1), 207, 1},
	}
	for _, c := range cases {
		status, body := post(t, srv.URL, c.auth, c.ctype, c.body)
		if status != c.status {
			t.Errorf("%s: status %d, want %d", c.name, status, c.status)
			continue
		}
		if status == 207 {
			if errs, _ := body["errors"].([]any); len(errs) != c.itemErrors {
				t.Errorf("%s: %d item errors, want %d: %v", c.name, len(errs), c.itemErrors, body)
			}
		}
	}
	if tr := s.Traces(); len(tr) != 1 || tr[0].ID != "abc123" || tr[0].Metadata["request_id"] != "r1" {
		t.Fatalf("traces %+v", tr)
	}
	if g, ok := s.Observation("abc123"); !ok || g.Type != "GENERATION" || g.UsageDetails["input"] != 3 {
		t.Fatalf("generation %+v", g)
	}
	if len(s.Errors()) != len(cases)-1 {
		t.Fatalf("errors %q", s.Errors())
	}

	s.Inject(langfuse.Throttle, 1)
	s.FailEvents(503, 1)
	if status, _ := post(t, srv.URL, "pk:sk", "application/json", good); status != 429 {
		t.Fatalf("throttle: %d", status)
	}
	status, body := post(t, srv.URL, "pk:sk", "application/json", good)
	errs, _ := body["errors"].([]any)
	if status != 207 || len(errs) != 1 || errs[0].(map[string]any)["status"] != float64(503) {
		t.Fatalf("item failure: %d %v", status, body)
	}
}
