package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"
)

// userAgent is sent on every request, so audit entries can be checked for it.
const userAgent = "bulwark-e2e/1.0"

// client talks to the admin API like a browser (cookie jar, CSRF header
// echoed from the bulwark_csrf cookie) or like a script (bearer token).
type client struct {
	t      *testing.T
	base   string
	hc     *http.Client
	bearer string
}

// newClient returns a client with its own cookie jar. hc may be nil; its
// transport (e.g. TLS trust) is reused with a fresh jar.
func newClient(t *testing.T, base string, hc *http.Client) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	if hc != nil {
		c.Transport = hc.Transport
	}
	return &client{t: t, base: base, hc: c}
}

// at returns a client for another base URL (a restarted server or another
// replica) sharing this one's cookie jar. Cookies do not depend on the
// port, so a session cookie follows.
func (c *client) at(base string) *client {
	cp := *c
	cp.base = base
	return &cp
}

// withToken returns a client that authenticates with an API token and
// sends no cookies.
func (c *client) withToken(tok string) *client {
	return &client{t: c.t, base: c.base, hc: &http.Client{Transport: c.hc.Transport, Timeout: c.hc.Timeout}, bearer: tok}
}

// cookie returns the named cookie the jar would send to base.
func (c *client) cookie(name string) *http.Cookie {
	if c.hc.Jar == nil {
		return nil
	}
	u, err := url.Parse(c.base + "/api/v1/")
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck
		}
	}
	return nil
}

type response struct {
	Status int
	Header http.Header
	Body   []byte
	req    string
}

func (r *response) String() string {
	return fmt.Sprintf("%s → %d %s", r.req, r.Status, bytes.TrimSpace(r.Body))
}

// do sends a request. body is JSON-encoded unless it is a string or
// []byte, which are sent as they are. Unsafe methods carry X-CSRF-Token
// from the bulwark_csrf cookie, like the console does.
func (c *client) do(method, path string, body any) *response {
	c.t.Helper()
	return c.doWith(method, path, body, nil)
}

func (c *client) doWith(method, path string, body any, hdr http.Header) *response {
	c.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	} else if method != http.MethodGet && method != http.MethodHead {
		if ck := c.cookie("bulwark_csrf"); ck != nil {
			req.Header.Set("X-CSRF-Token", ck.Value)
		}
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return &response{Status: resp.StatusCode, Header: resp.Header, Body: b, req: method + " " + path}
}

// expect fails the test unless the status is want; it decodes the body
// into out when out is not nil.
func (r *response) expect(t *testing.T, want int, out any) *response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: want status %d", r, want)
	}
	if out != nil {
		if err := json.Unmarshal(r.Body, out); err != nil {
			t.Fatalf("%s: decode: %v", r, err)
		}
	}
	return r
}

// apiError is the admin API's one error shape.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Details []struct {
			Field    string `json:"field"`
			Location string `json:"location"`
			Message  string `json:"message"`
		} `json:"details"`
	} `json:"error"`
}

// expectError checks status, Content-Type and the {"error":{"code","message"}}
// shape, and that code is wantCode (when not empty).
func (r *response) expectError(t *testing.T, status int, wantCode string) apiError {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: want status %d", r, status)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: Content-Type %q, want application/json", r, ct)
	}
	var e apiError
	dec := json.NewDecoder(bytes.NewReader(r.Body))
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%s: error body is not JSON: %v", r, err)
	}
	var raw map[string]json.RawMessage
	_ = json.Unmarshal(r.Body, &raw)
	if len(raw) != 1 || raw["error"] == nil {
		t.Errorf("%s: want exactly the top-level key \"error\"", r)
	}
	if e.Error.Code == "" || e.Error.Message == "" {
		t.Fatalf("%s: error.code and error.message must be set", r)
	}
	if wantCode != "" && e.Error.Code != wantCode {
		t.Fatalf("%s: want error code %q", r, wantCode)
	}
	return e
}

// API shapes the tests read.

type apiUser struct {
	ID                 int64  `json:"id"`
	Username           string `json:"username"`
	Role               string `json:"role"`
	MustChangePassword bool   `json:"must_change_password"`
	Disabled           bool   `json:"disabled"`
}

type sessionBody struct {
	User       apiUser `json:"user"`
	AuthMethod string  `json:"auth_method"`
	CSRFToken  string  `json:"csrf_token"`
}

type userList struct {
	Items []apiUser `json:"items"`
	Total int       `json:"total"`
}

type userCreated struct {
	User            apiUser `json:"user"`
	InitialPassword string  `json:"initial_password"`
}

type tokenCreated struct {
	Token    string `json:"token"`
	APIToken struct {
		ID     int64  `json:"id"`
		UserID int64  `json:"user_id"`
		Name   string `json:"name"`
		Prefix string `json:"prefix"`
		Active bool   `json:"active"`
	} `json:"api_token"`
}

type auditEntry struct {
	ID           int64          `json:"id"`
	Time         time.Time      `json:"time"`
	ActorID      int64          `json:"actor_id"`
	Actor        string         `json:"actor"`
	Action       string         `json:"action"`
	ResourceType string         `json:"resource_type"`
	ResourceID   string         `json:"resource_id"`
	Result       string         `json:"result"`
	SourceIP     string         `json:"source_ip"`
	UserAgent    string         `json:"user_agent"`
	Details      map[string]any `json:"details"`
}

type auditPage struct {
	Items []auditEntry `json:"items"`
	Total int          `json:"total"`
}

// login posts credentials and requires 200; the jar keeps the cookies.
func (c *client) login(username, password string) sessionBody {
	c.t.Helper()
	var s sessionBody
	c.do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": username, "password": password}).expect(c.t, http.StatusOK, &s)
	if s.User.Username != username || s.AuthMethod != "session" || s.CSRFToken == "" {
		c.t.Fatalf("login %s: unexpected session body %+v", username, s)
	}
	if ck := c.cookie("bulwark_csrf"); ck == nil || ck.Value != s.CSRFToken {
		c.t.Fatalf("login %s: bulwark_csrf cookie %v does not match csrf_token %q", username, ck, s.CSRFToken)
	}
	if c.cookie("bulwark_session") == nil {
		c.t.Fatalf("login %s: no bulwark_session cookie", username)
	}
	return s
}

// changePassword changes the signed-in user's password (204).
func (c *client) changePassword(current, next string) {
	c.t.Helper()
	c.do(http.MethodPost, "/api/v1/auth/password", map[string]string{"current_password": current, "new_password": next}).
		expect(c.t, http.StatusNoContent, nil)
}

func (c *client) me() sessionBody {
	c.t.Helper()
	var s sessionBody
	c.do(http.MethodGet, "/api/v1/auth/me", nil).expect(c.t, http.StatusOK, &s)
	return s
}

// audit returns up to 500 newest audit entries matching query (e.g. "actor=cli").
func (c *client) audit(query string) auditPage {
	c.t.Helper()
	var p auditPage
	c.do(http.MethodGet, "/api/v1/audit?limit=500&"+query, nil).expect(c.t, http.StatusOK, &p)
	return p
}

// findAudit returns the entries with the action, actor and result given
// (empty matches anything).
func findAudit(entries []auditEntry, action, actor, result string) []auditEntry {
	var out []auditEntry
	for _, e := range entries {
		if (action == "" || e.Action == action) && (actor == "" || e.Actor == actor) && (result == "" || e.Result == result) {
			out = append(out, e)
		}
	}
	return out
}
