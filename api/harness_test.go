package api_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/auth"
	"github.com/bulwarkhq/bulwark/detect/classifier"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/secret"
	"github.com/bulwarkhq/bulwark/store"
	"github.com/bulwarkhq/bulwark/store/storetest"
)

// testUA is the User-Agent every test client sends; audit rows must carry it.
const testUA = "bulwark-api-test/1.0"

// opener opens a migrated store for one test.
type opener func(testing.TB) *store.DB

// forEachStore runs f against SQLite and, when BULWARK_TEST_POSTGRES_URL is
// set, against PostgreSQL (the subtest skips otherwise), both at once and
// in parallel with the other tests that use it.
func forEachStore(t *testing.T, f func(t *testing.T, open opener)) {
	t.Helper()
	t.Parallel()
	var wg sync.WaitGroup
	wg.Go(func() { t.Run("sqlite", func(t *testing.T) { f(t, storetest.OpenSQLite) }) })
	wg.Go(func() { t.Run("postgres", func(t *testing.T) { f(t, storetest.OpenPostgres) }) })
	wg.Wait()
}

type namedTest struct {
	name string
	fn   func(*testing.T, *fixture)
}

// runAll runs each test as a subtest on its own fixture over the store open
// opens, several at a time: each has its own server and database, and on
// PostgreSQL creating and dropping a database (fsync-bound) dominates, which
// overlaps well. Run is called from goroutines rather than with t.Parallel
// so that -parallel (GOMAXPROCS by default) does not serialise the waiting.
func runAll(t *testing.T, open opener, tests []namedTest) {
	t.Helper()
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for _, tc := range tests {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, newFixture(t, withStore(open))) })
		})
	}
	wg.Wait()
}

// fakeClock is the controllable clock shared by auth, the event bus and the tests.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type config struct {
	open      opener
	apiOpts   func(*api.Options)
	authOpts  func(*auth.Options)
	wrapStore func(api.Store) api.Store
}

type option func(*config)

func withStore(o opener) option                           { return func(c *config) { c.open = o } }
func withAPI(f func(*api.Options)) option                 { return func(c *config) { c.apiOpts = f } }
func withAuth(f func(*auth.Options)) option               { return func(c *config) { c.authOpts = f } }
func withStoreWrapper(f func(api.Store) api.Store) option { return func(c *config) { c.wrapStore = f } }

// env is one running admin API on a fresh database with one admin user.
type env struct {
	t         testing.TB
	db        *store.DB
	clock     *fakeClock
	auth      *auth.Service
	srv       *api.Server
	ts        *httptest.Server
	adminUser *bulwark.User
	admin     *client // logged-in admin session
	gw        *fakeGateway
	keyring   *secret.Keyring

	mu        sync.Mutex
	passwords map[string]string // username → current password
	secrets   []string          // strings no response may ever contain
	seq       int
}

const adminPassword = "Adm1n-correct-horse-battery-9f3k"

func newTestServer(t testing.TB, opts ...option) *env {
	t.Helper()
	cfg := config{open: storetest.OpenSQLite}
	for _, o := range opts {
		o(&cfg)
	}
	db := cfg.open(t)
	clk := &fakeClock{now: time.Now().UTC().Truncate(time.Second)}
	log := slog.New(slog.DiscardHandler)
	bus := events.New(db, log, events.WithClock(clk.Now))
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	ao := auth.Options{Hasher: auth.Hasher{Params: auth.TestParams}, SessionKey: key, Now: clk.Now}
	if cfg.authOpts != nil {
		cfg.authOpts(&ao)
	}
	svc := auth.NewService(db, ao)
	var st api.Store = db
	if cfg.wrapStore != nil {
		st = cfg.wrapStore(db)
	}
	gw := newFakeGateway(db, clk)
	kr := testKeyring(t)
	o := api.Options{
		Store: st, Auth: svc, Events: bus, Log: log, Policies: db, Classifier: classifier.Default(),
		Info:         api.Info{Version: "v0.0.0-test", Commit: "abc123", GoVersion: "go", Engine: db.Engine(), StartedAt: clk.Now()},
		GatewayStore: db, Alerts: db, Integrations: db, Gateway: gw, Keyring: kr, ValidateSystemPrompt: validateSystemPrompt,
	}
	if cfg.apiOpts != nil {
		cfg.apiOpts(&o)
	}
	srv := api.New(o)
	mux := http.NewServeMux()
	mux.Handle(api.Prefix+"/", srv.Handler(nil))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	e := &env{t: t, db: db, clock: clk, auth: svc, srv: srv, ts: ts, gw: gw, keyring: kr, passwords: map[string]string{}}
	e.adminUser = e.createUserPW("admin", bulwark.RoleAdmin, adminPassword)
	e.admin = e.login("admin", adminPassword)
	return e
}

// secret registers a string that must never appear in any later response.
func (e *env) secret(s string) {
	e.mu.Lock()
	e.secrets = append(e.secrets, s)
	e.mu.Unlock()
}

func (e *env) setPassword(username, pw string) {
	e.mu.Lock()
	e.passwords[username] = pw
	e.mu.Unlock()
	e.secret(pw)
}

func (e *env) password(username string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.passwords[username]
}

func (e *env) next() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	return e.seq
}

// createUser stores a user directly (test hasher, no forced password change)
// with a fresh password, and returns it.
func (e *env) createUser(name string, role bulwark.Role) *bulwark.User {
	e.t.Helper()
	return e.createUserPW(name, role, fmt.Sprintf("Tst-%s-stable-battery-%d!", name, e.next()))
}

func (e *env) createUserPW(name string, role bulwark.Role, pw string) *bulwark.User {
	e.t.Helper()
	h, err := auth.Hasher{Params: auth.TestParams}.Hash(pw)
	if err != nil {
		e.t.Fatal(err)
	}
	u := &bulwark.User{Username: name, Role: role, PasswordHash: h, DisplayName: "Test " + name}
	if err := e.db.CreateUser(context.Background(), u); err != nil {
		e.t.Fatalf("create user %s: %v", name, err)
	}
	e.setPassword(name, pw)
	return u
}

func (e *env) user(id int64) *bulwark.User {
	e.t.Helper()
	u, err := e.db.GetUser(context.Background(), id)
	if err != nil {
		e.t.Fatalf("get user %d: %v", id, err)
	}
	return u
}

// client is one HTTP caller: a browser with a cookie jar, or a bearer client.
type client struct {
	e      *env
	t      testing.TB
	hc     *http.Client
	csrf   string
	bearer string
	ua     string
	hdr    http.Header // sent on every request
}

func (e *env) anon() *client {
	jar, _ := cookiejar.New(nil)
	// Generous: under -race, compiling a full policy (go-re2 is translated
	// WebAssembly) takes tens of seconds on a busy 2-core machine.
	return &client{e: e, t: e.t, hc: &http.Client{Jar: jar, Timeout: 3 * time.Minute}, ua: testUA, hdr: http.Header{}}
}

// on returns a copy of c that reports to t.
func (c *client) on(t testing.TB) *client { cc := *c; cc.t = t; return &cc }

func (e *env) bearerClient(token string) *client {
	c := e.anon()
	c.hc.Jar = nil
	c.bearer = token
	return c
}

// login opens a session (status 200 required) and remembers the CSRF token.
func (e *env) login(username, password string) *client {
	e.t.Helper()
	c := e.anon()
	r := c.do("POST", "/auth/login", map[string]string{"username": username, "password": password}).want(e.t, 200)
	c.csrf = r.str("csrf_token")
	if c.csrf == "" || c.csrf != c.cookie(api.CSRFCookie) {
		e.t.Fatalf("login %s: csrf_token %q does not match the %s cookie %q", username, c.csrf, api.CSRFCookie, c.cookie(api.CSRFCookie))
	}
	return c
}

func (e *env) loginAs(u *bulwark.User) *client {
	e.t.Helper()
	return e.login(u.Username, e.password(u.Username))
}

// tokenClient issues a token for u through the auth service (any role) and returns a bearer client.
func (e *env) tokenClient(u *bulwark.User) *client {
	e.t.Helper()
	tok, _, err := e.auth.CreateToken(context.Background(), u.ID, "test-"+u.Username, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	e.secret(tok)
	e.secret(auth.TokenHash(tok))
	return e.bearerClient(tok)
}

// cookie returns the value of the named cookie in c's jar.
func (c *client) cookie(name string) string {
	if c.hc.Jar == nil {
		return ""
	}
	u, _ := url.Parse(c.e.ts.URL + "/")
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// cookieClient sends the given cookies by hand (bypassing any jar), e.g. an
// old session cookie after logout.
func (e *env) cookieClient(session, csrf string) *client {
	c := e.anon()
	c.hc.Jar = nil
	c.csrf = csrf
	c.hdr.Set("Cookie", api.SessionCookie+"="+session+"; "+api.CSRFCookie+"="+csrf)
	return c
}

// response is a decoded API response.
type response struct {
	method, path string
	Status       int
	Header       http.Header
	Cookies      []*http.Cookie
	Raw          []byte
	JSON         any
}

// mod changes one request before it is sent.
type mod func(*http.Request)

func header(k, v string) mod { return func(r *http.Request) { r.Header.Set(k, v) } }
func noHeader(k string) mod  { return func(r *http.Request) { r.Header.Del(k) } }

// raw is a request body sent as is.
type raw string

// do sends a request to path (relative to /api/v1 unless it starts with
// /api/). body nil sends no body; raw is sent verbatim; anything else as JSON.
// Every response is checked for the error shape and for leaked secrets.
func (c *client) do(method, path string, body any, mods ...mod) *response {
	c.t.Helper()
	if !strings.HasPrefix(path, "/api/") {
		path = api.Prefix + path
	}
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case raw:
			rd = strings.NewReader(string(b))
		case []byte:
			rd = bytes.NewReader(b)
		default:
			j, err := json.Marshal(b)
			if err != nil {
				c.t.Fatal(err)
			}
			rd = bytes.NewReader(j)
		}
	}
	req, err := http.NewRequest(method, c.e.ts.URL+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	for k, v := range c.hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", c.ua)
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	if c.csrf != "" && method != "GET" && method != "HEAD" {
		req.Header.Set(api.CSRFHeader, c.csrf)
	}
	for _, m := range mods {
		m(req)
	}
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := &response{method: method, path: path, Status: res.StatusCode, Header: res.Header, Cookies: res.Cookies(), Raw: data}
	if len(data) > 0 {
		_ = json.Unmarshal(data, &r.JSON)
	}
	c.e.check(c.t, r)
	return r
}

// check applies the rules every response must follow.
func (e *env) check(t testing.TB, r *response) {
	t.Helper()
	health := strings.HasSuffix(r.path, "/health")
	// 503 unavailable is a deliberate answer (a subsystem not configured), not a failure.
	unavailable := r.Status == 503 && strings.Contains(string(r.Raw), `"code":"unavailable"`)
	if r.Status >= 500 && !health && !unavailable {
		t.Errorf("%s %s: server error %d: %s", r.method, r.path, r.Status, r.Raw)
	}
	if r.Status >= 400 && !health {
		if msg := errorShapeProblem(r.Header, r.Raw); msg != "" {
			t.Errorf("%s %s: status %d: %s: %s", r.method, r.path, r.Status, msg, r.Raw)
		}
	}
	lower := strings.ToLower(string(r.Raw))
	for _, bad := range []string{"password_hash", "passwordhash", "$argon2id$"} {
		if strings.Contains(lower, bad) {
			t.Errorf("%s %s: response contains %q: %s", r.method, r.path, bad, r.Raw)
		}
	}
	e.mu.Lock()
	secrets := slices.Clone(e.secrets)
	e.mu.Unlock()
	for _, s := range secrets {
		if strings.Contains(string(r.Raw), s) || strings.Contains(fmt.Sprint(r.Header), s) {
			t.Errorf("%s %s: response leaks a secret (%.8s…): %s", r.method, r.path, s, r.Raw)
		}
	}
}

// errorShapeProblem returns "" when raw is exactly {"error":{"code","message"[,"details"]}}
// with a non-empty code and message.
func errorShapeProblem(h http.Header, raw []byte) string {
	if ct := h.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		return "error Content-Type is " + ct
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return "error body is not a JSON object"
	}
	if len(top) != 1 || top["error"] == nil {
		return "error body must have exactly one key, error"
	}
	var inner map[string]json.RawMessage
	if err := json.Unmarshal(top["error"], &inner); err != nil {
		return "error is not an object"
	}
	for k := range inner {
		if k != "code" && k != "message" && k != "details" {
			return "unexpected key error." + k
		}
	}
	var body struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
			Details []struct {
				Field, Location string
				Message         string `json:"message"`
			} `json:"details"`
		} `json:"error"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&body); err != nil {
		return "error body does not decode: " + err.Error()
	}
	if body.Error.Code == "" || body.Error.Message == "" {
		return "error code and message must be non-empty"
	}
	for _, d := range body.Error.Details {
		if d.Message == "" {
			return "error detail without message"
		}
	}
	return ""
}

func (r *response) want(t testing.TB, status int) *response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s %s: status %d, want %d; body: %s", r.method, r.path, r.Status, status, r.Raw)
	}
	return r
}

// wantErr requires the status, the error code and (when given) that the
// details name each of fields.
func (r *response) wantErr(t testing.TB, status int, code string, fields ...string) *response {
	t.Helper()
	r.want(t, status)
	if got := r.code(); got != code {
		t.Fatalf("%s %s: error code %q, want %q; body: %s", r.method, r.path, got, code, r.Raw)
	}
	for _, f := range fields {
		if !slices.Contains(r.fields(), f) {
			t.Fatalf("%s %s: error details %v do not name field %q; body: %s", r.method, r.path, r.fields(), f, r.Raw)
		}
	}
	return r
}

// get walks the decoded JSON along keys (object keys or list indexes as ints).
func (r *response) get(path ...any) any {
	v := r.JSON
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			l, _ := v.([]any)
			if k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func (r *response) str(path ...any) string { s, _ := r.get(path...).(string); return s }
func (r *response) num(path ...any) int64  { f, _ := r.get(path...).(float64); return int64(f) }
func (r *response) list(path ...any) []any { l, _ := r.get(path...).([]any); return l }
func (r *response) code() string           { return r.str("error", "code") }

func (r *response) fields() []string {
	var out []string
	for _, d := range r.list("error", "details") {
		if m, ok := d.(map[string]any); ok {
			f, _ := m["field"].(string)
			out = append(out, f)
		}
	}
	return out
}

func (r *response) decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Raw, v); err != nil {
		t.Fatalf("%s %s: decode %T: %v; body %s", r.method, r.path, v, err, r.Raw)
	}
}

func (r *response) setCookie(name string) *http.Cookie {
	for _, c := range r.Cookies {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// auditMark is the id of the newest audit entry; auditAfter returns the
// entries written since, oldest first.
func (e *env) auditMark() int64 {
	e.t.Helper()
	p, err := e.db.ListAudit(context.Background(), bulwark.AuditFilter{Limit: 1})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(p.Items) == 0 {
		return 0
	}
	return p.Items[0].ID
}

func (e *env) auditAfter(mark int64) []bulwark.AuditEntry {
	e.t.Helper()
	var out []bulwark.AuditEntry
	const page = 100
	for off := 0; ; off += page {
		p, err := e.db.ListAudit(context.Background(), bulwark.AuditFilter{Limit: page, Offset: off})
		if err != nil {
			e.t.Fatal(err)
		}
		for _, a := range p.Items {
			if a.ID > mark {
				out = append(out, a)
			}
		}
		// Newest first: once a page reaches the mark, older pages hold nothing new.
		if len(p.Items) < page || p.Items[len(p.Items)-1].ID <= mark {
			break
		}
	}
	slices.SortFunc(out, func(a, b bulwark.AuditEntry) int { return int(a.ID - b.ID) })
	return out
}

// allEvents returns every stored event.
func (e *env) allEvents() []bulwark.Event {
	e.t.Helper()
	var out []bulwark.Event
	for off := 0; ; off += 500 {
		p, err := e.db.ListEvents(context.Background(), bulwark.EventFilter{Limit: 500, Offset: off})
		if err != nil {
			e.t.Fatal(err)
		}
		out = append(out, p.Items...)
		if len(p.Items) < 500 {
			return out
		}
	}
}

// eventMark and eventsAfter find new events by id (times can be equal under
// the fake clock, so order cannot tell old from new).
func (e *env) eventMark() map[string]bool {
	seen := map[string]bool{}
	for _, ev := range e.allEvents() {
		seen[ev.ID] = true
	}
	return seen
}

func (e *env) eventsAfter(mark map[string]bool) []bulwark.Event {
	var out []bulwark.Event
	for _, ev := range e.allEvents() {
		if !mark[ev.ID] {
			out = append(out, ev)
		}
	}
	return out
}

func idPath(format string, id int64) string { return fmt.Sprintf(format, id) }

func loginBody(user, pw string) map[string]string {
	return map[string]string{"username": user, "password": pw}
}
