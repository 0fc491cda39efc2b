package api_test

import (
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/auth"
)

func TestAuth(t *testing.T) {
	forEachStore(t, func(t *testing.T, open opener) {
		runAll(t, open, []namedTest{
			{"LoginCookies", testLoginCookies},
			{"BadCredentials", testBadCredentials},
			{"DisabledUser", testDisabledUser},
			{"Logout", testLogout},
			{"CSRF", testCSRF},
			{"CrossOrigin", testCrossOrigin},
			{"ForcedPasswordChange", testForcedPasswordChange},
			{"ChangePasswordErrors", testChangePasswordErrors},
			{"SessionIdleTimeout", testSessionIdleTimeout},
			{"SessionAbsoluteExpiry", testSessionAbsoluteExpiry},
			{"AccountLockout", testAccountLockout},
			{"PerIPThrottle", testPerIPThrottle},
		})
	})
}

func testLoginCookies(t *testing.T, f *fixture) {
	c := f.anon()
	r := c.do("POST", "/auth/login", loginBody("ADMIN ", adminPassword)).want(t, 200) // usernames are case-insensitive
	sess, csrf := r.setCookie(api.SessionCookie), r.setCookie(api.CSRFCookie)
	if sess == nil || csrf == nil {
		t.Fatalf("login must set both cookies, got %v", r.Header.Values("Set-Cookie"))
	}
	if !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != "/" || sess.Value == "" {
		t.Errorf("session cookie must be HttpOnly, SameSite=Strict, Path=/: %s", sess.Raw)
	}
	if csrf.HttpOnly || csrf.SameSite != http.SameSiteStrictMode || csrf.Path != "/" || csrf.Value == "" {
		t.Errorf("CSRF cookie must be readable by scripts, SameSite=Strict, Path=/: %s", csrf.Raw)
	}
	if sess.Secure || csrf.Secure {
		t.Errorf("cookies are Secure although SecureCookies is off")
	}
	if d := sess.MaxAge - int((12 * time.Hour).Seconds()); d < -60 || d > 1 { // wall clock: allow a slow machine
		t.Errorf("session cookie Max-Age %d, want about 12h", sess.MaxAge)
	}
	if r.str("csrf_token") != csrf.Value || r.str("auth_method") != "session" || r.str("user", "username") != "admin" ||
		r.str("user", "role") != "admin" {
		t.Errorf("login body: %s", r.Raw)
	}
	if exp, _ := time.Parse(time.RFC3339, r.str("expires_at")); !exp.Equal(f.clock.Now().Add(12 * time.Hour)) {
		t.Errorf("expires_at %s, want now+12h", r.str("expires_at"))
	}
	me := c.do("GET", "/auth/me", nil).want(t, 200)
	if me.str("user", "username") != "admin" || me.str("csrf_token") != csrf.Value {
		t.Errorf("me: %s", me.Raw)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("login response must not be cached: Cache-Control %q", r.Header.Get("Cache-Control"))
	}

	// Secure cookies when configured.
	g := newFixture(t, withAPI(func(o *api.Options) { o.SecureCookies = true }))
	r = g.anon().do("POST", "/auth/login", loginBody("admin", adminPassword)).want(t, 200)
	if !r.setCookie(api.SessionCookie).Secure || !r.setCookie(api.CSRFCookie).Secure {
		t.Errorf("SecureCookies: cookies not Secure: %v", r.Header.Values("Set-Cookie"))
	}
}

func testBadCredentials(t *testing.T, f *fixture) {
	wrong := f.anon().do("POST", "/auth/login", loginBody("vera", "Wrong-password-for-vera-1")).wantErr(t, 401, "unauthenticated")
	unknown := f.anon().do("POST", "/auth/login", loginBody("nobody", "Wrong-password-for-vera-1")).wantErr(t, 401, "unauthenticated")
	if wrong.str("error", "message") != unknown.str("error", "message") {
		t.Errorf("wrong password and unknown user must look alike: %s vs %s", wrong.Raw, unknown.Raw)
	}
	if wrong.setCookie(api.SessionCookie) != nil {
		t.Errorf("failed login set a session cookie")
	}
	// Empty fields are a validation error, not a login attempt.
	f.anon().do("POST", "/auth/login", loginBody("", "x")).wantErr(t, 422, "validation_failed", "username")
	f.anon().do("POST", "/auth/login", loginBody("vera", "")).wantErr(t, 422, "validation_failed", "password")
}

func testDisabledUser(t *testing.T, f *fixture) {
	vera := f.users[bulwark.RoleViewer]
	sess := f.loginAs(vera)
	tok := f.tokenClient(vera)
	f.admin.do("PATCH", idPath("/users/%d", vera.ID), map[string]any{"disabled": true}).want(t, 200)
	sess.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	tok.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	r := f.anon().do("POST", "/auth/login", loginBody("vera", f.password("vera"))).wantErr(t, 401, "unauthenticated")
	if r.str("error", "message") != "invalid username or password" {
		t.Errorf("a disabled account must look like bad credentials: %s", r.Raw)
	}
	rows := f.auditAfter(0)
	last := rows[len(rows)-1]
	if last.Action != "auth.login" || last.Result != "failure" || last.Details["reason"] != "account disabled" {
		t.Errorf("last audit row %+v", last)
	}
	if u := f.user(vera.ID); u.FailedLogins != 0 {
		t.Errorf("a disabled account's failures must not count towards a lock: %d", u.FailedLogins)
	}
}

// A disabled user's sessions end: enabling the account again must not bring
// back a session opened before it was disabled (the PATCH description says
// "their sessions end").
func TestDisabledSessionsEnd(t *testing.T) {
	f := newFixture(t)
	vera := f.users[bulwark.RoleViewer]
	sess := f.loginAs(vera)
	f.admin.do("PATCH", idPath("/users/%d", vera.ID), map[string]any{"disabled": true}).want(t, 200)
	f.admin.do("PATCH", idPath("/users/%d", vera.ID), map[string]any{"disabled": false}).want(t, 200)
	if r := sess.do("GET", "/auth/me", nil); r.Status != 401 {
		t.Errorf("session opened before the account was disabled still works after re-enabling: status %d", r.Status)
	}
}

func testLogout(t *testing.T, f *fixture) {
	c := f.loginAs(f.users[bulwark.RoleOperator])
	sessVal, csrf := c.cookie(api.SessionCookie), c.csrf
	r := c.do("POST", "/auth/logout", nil).want(t, 204)
	for _, name := range []string{api.SessionCookie, api.CSRFCookie} {
		ck := r.setCookie(name)
		if ck == nil || ck.MaxAge >= 0 || ck.Value != "" || ck.Path != "/" {
			t.Errorf("logout must clear cookie %s: %v", name, r.Header.Values("Set-Cookie"))
		}
	}
	if c.cookie(api.SessionCookie) != "" {
		t.Errorf("session cookie still in the jar after logout")
	}
	// The old cookie, replayed, no longer works.
	old := f.cookieClient(sessVal, csrf)
	old.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	old.do("POST", "/tokens", map[string]any{"name": "after-logout"}).wantErr(t, 401, "unauthenticated")
	// Logging out with a token is a client mistake, not a crash.
	f.tokenClient(f.users[bulwark.RoleOperator]).do("POST", "/auth/logout", nil).wantErr(t, 400, "invalid_request")
	// Anonymous logout.
	f.anon().do("POST", "/auth/logout", nil).wantErr(t, 401, "unauthenticated")
}

func testCSRF(t *testing.T, f *fixture) {
	c := f.loginAs(f.users[bulwark.RoleOperator])
	other := f.loginAs(f.users[bulwark.RoleViewer])
	body := map[string]any{"name": "csrf"}
	for name, m := range map[string]mod{
		"missing":             noHeader(api.CSRFHeader),
		"empty":               header(api.CSRFHeader, ""),
		"garbage":             header(api.CSRFHeader, "not-a-token"),
		"other session":       header(api.CSRFHeader, other.csrf),
		"session cookie copy": header(api.CSRFHeader, c.cookie(api.SessionCookie)),
	} {
		r := c.do("POST", "/tokens", body, m)
		if r.Status != 403 || r.code() != "csrf_failed" {
			t.Errorf("%s CSRF token: status %d code %q, want 403 csrf_failed", name, r.Status, r.code())
		}
		c.do("PATCH", "/settings", map[string]any{"organization_name": "x"}, m).wantErr(t, 403, "csrf_failed")
		c.do("DELETE", "/tokens/1", nil, m).wantErr(t, 403, "csrf_failed")
		c.do("POST", "/auth/logout", nil, m).wantErr(t, 403, "csrf_failed")
	}
	if toks, _ := f.db.ListAPITokens(t.Context(), f.users[bulwark.RoleOperator].ID); len(toks) != 0 {
		t.Errorf("a request refused for CSRF created %d tokens", len(toks))
	}
	// Safe methods need no token.
	c.do("GET", "/tokens", nil, noHeader(api.CSRFHeader)).want(t, 200)
	// With the token: fine.
	c.do("POST", "/tokens", body).want(t, 201)
	// Bearer requests need no CSRF token.
	f.tokenClient(f.users[bulwark.RoleOperator]).do("POST", "/tokens", body).want(t, 201)
	// A stale cookie with no CSRF header does not block logging in again.
	stale := f.cookieClient("stale-session-value", "")
	stale.do("POST", "/auth/login", loginBody("otto", f.password("otto"))).want(t, 200)
}

func testCrossOrigin(t *testing.T, f *fixture) {
	c := f.loginAs(f.users[bulwark.RoleOperator])
	body := map[string]any{"name": "xorigin"}
	c.do("POST", "/tokens", body, header("Sec-Fetch-Site", "cross-site")).wantErr(t, 403, "forbidden")
	c.do("POST", "/tokens", body, header("Origin", "https://evil.example")).wantErr(t, 403, "forbidden")
	f.anon().do("POST", "/auth/login", loginBody("otto", f.password("otto")), header("Sec-Fetch-Site", "cross-site")).
		wantErr(t, 403, "forbidden")
	f.tokenClient(f.users[bulwark.RoleOperator]).do("POST", "/tokens", body, header("Sec-Fetch-Site", "cross-site")).
		wantErr(t, 403, "forbidden")
	if toks, _ := f.db.ListAPITokens(t.Context(), f.users[bulwark.RoleOperator].ID); len(toks) != 1 { // the bearer client's own
		t.Errorf("cross-origin requests created tokens: %d", len(toks))
	}
	// Same-origin and safe requests pass.
	c.do("POST", "/tokens", body, header("Sec-Fetch-Site", "same-origin")).want(t, 201)
	c.do("GET", "/tokens", nil, header("Sec-Fetch-Site", "cross-site")).want(t, 200)
}

func testForcedPasswordChange(t *testing.T, f *fixture) {
	r := f.admin.do("POST", "/users", map[string]any{"username": "newadmin", "role": "admin", "password": "Initial-passphrase-4711"}).want(t, 201)
	if r.get("user", "must_change_password") != true {
		t.Fatalf("a new user must change the password by default: %s", r.Raw)
	}
	f.setPassword("newadmin", "Initial-passphrase-4711")
	u := f.user(r.num("user", "id"))
	other := f.login("newadmin", "Initial-passphrase-4711")
	c := f.login("newadmin", "Initial-passphrase-4711")
	tok := f.tokenClient(u)
	if r := c.do("GET", "/auth/me", nil).want(t, 200); r.get("user", "must_change_password") != true {
		t.Errorf("me must report must_change_password: %s", r.Raw)
	}
	// Every operation but me, logout and password refuses, whatever the method or credential.
	for _, op := range operations(f.srv) {
		spec := opSpecs[op.ID]
		if spec.access == public || spec.access == authenticated {
			continue
		}
		for _, cl := range []*client{c, tok} {
			f.call(cl.on(t), op, u).wantErr(t, 403, "password_change_required")
		}
	}
	tok.do("POST", "/auth/password", map[string]any{"current_password": "Initial-passphrase-4711", "new_password": "Second-passphrase-8812"}).
		wantErr(t, 403, "forbidden")
	c.do("POST", "/auth/password", map[string]any{"current_password": "Initial-passphrase-4711", "new_password": "Second-passphrase-8812"}).
		want(t, 204)
	f.setPassword("newadmin", "Second-passphrase-8812")
	c.do("GET", "/users", nil).want(t, 200)
	if r := c.do("GET", "/auth/me", nil).want(t, 200); r.get("user", "must_change_password") != false {
		t.Errorf("flag not cleared: %s", r.Raw)
	}
	other.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated") // other sessions end
	tok.do("GET", "/users", nil).want(t, 200)                           // tokens keep working
	f.anon().do("POST", "/auth/login", loginBody("newadmin", "Initial-passphrase-4711")).wantErr(t, 401, "unauthenticated")
	f.login("newadmin", "Second-passphrase-8812")
	if got := f.user(u.ID); got.PasswordChangedAt == nil || !got.PasswordChangedAt.Equal(f.clock.Now()) {
		t.Errorf("password_changed_at = %v", got.PasswordChangedAt)
	}
}

func testChangePasswordErrors(t *testing.T, f *fixture) {
	c := f.loginAs(f.users[bulwark.RoleViewer])
	cur := f.password("vera")
	c.do("POST", "/auth/password", map[string]any{"current_password": "Not-the-password-123", "new_password": "A-good-new-passphrase-1"}).
		wantErr(t, 422, "validation_failed", "current_password")
	weak := []string{"short", "password1234", "aaaaaaaaaaaaaaaa", cur}
	for _, weak := range weak {
		c.do("POST", "/auth/password", map[string]any{"current_password": cur, "new_password": weak}).
			wantErr(t, 422, "validation_failed", "new_password")
	}
	c.do("POST", "/auth/password", map[string]any{"current_password": cur}).wantErr(t, 422, "validation_failed") // see TestMissingFieldNamed
	// Nothing changed: the old password still works.
	f.login("vera", cur)
	rows := f.auditAfter(0)
	fails := 0
	for _, a := range rows {
		if a.Action == "auth.password_change" && a.Result == "failure" {
			fails++
		}
	}
	if fails != 1+len(weak) { // the schema error is refused before the handler
		t.Errorf("audit: %d failed password changes, want %d", fails, 1+len(weak))
	}
}

func testSessionIdleTimeout(t *testing.T, f *fixture) {
	c := f.loginAs(f.users[bulwark.RoleViewer])
	// Activity keeps the session alive past the idle limit in total…
	for range 3 {
		f.clock.Advance(50 * time.Minute)
		c.do("GET", "/auth/me", nil).want(t, 200)
	}
	// …an hour of silence ends it.
	f.clock.Advance(61 * time.Minute)
	c.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	// And it stays ended.
	f.clock.Advance(-30 * time.Minute)
	c.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
	f.clock.Advance(30 * time.Minute)
}

func testSessionAbsoluteExpiry(t *testing.T, f *fixture) {
	c := f.loginAs(f.users[bulwark.RoleViewer])
	for range 23 { // 11h30m of steady use
		f.clock.Advance(30 * time.Minute)
		c.do("GET", "/auth/me", nil).want(t, 200)
	}
	f.clock.Advance(29 * time.Minute)
	c.do("GET", "/auth/me", nil).want(t, 200)
	f.clock.Advance(time.Minute) // exactly 12h
	c.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")

	// A configured lifetime is honoured, in the cookie too.
	g := newFixture(t, withAuth(func(o *auth.Options) { o.SessionMaxAge = time.Hour }))
	r := g.anon().do("POST", "/auth/login", loginBody("vera", g.password("vera"))).want(t, 200)
	if ma := r.setCookie(api.SessionCookie).MaxAge; ma > 3600 || ma < 3540 {
		t.Errorf("cookie Max-Age %d, want about 3600", ma)
	}
	gc := g.login("vera", g.password("vera"))
	g.clock.Advance(59 * time.Minute)
	gc.do("GET", "/auth/me", nil).want(t, 200)
	g.clock.Advance(time.Minute)
	gc.do("GET", "/auth/me", nil).wantErr(t, 401, "unauthenticated")
}

func testAccountLockout(t *testing.T, f *fixture) {
	carol := f.createUser("carol", bulwark.RoleOperator)
	bad := loginBody("carol", "Wrong-carol-password-1")
	for i := range 5 {
		f.anon().do("POST", "/auth/login", bad).wantErr(t, 401, "unauthenticated")
		if i == 3 {
			if u := f.user(carol.ID); u.FailedLogins != 4 || u.LockedUntil != nil {
				t.Fatalf("after 4 failures: %d failures, locked until %v", u.FailedLogins, u.LockedUntil)
			}
		}
	}
	lockedAt := f.clock.Now()
	r := f.anon().do("POST", "/auth/login", loginBody("carol", f.password("carol"))).wantErr(t, 429, "rate_limited")
	if r.Header.Get("Retry-After") != "900" {
		t.Errorf("Retry-After %q, want 900 (15 minutes)", r.Header.Get("Retry-After"))
	}
	if r.setCookie(api.SessionCookie) != nil {
		t.Errorf("locked login set a cookie")
	}
	// The lock is visible to admins.
	if r := f.admin.do("GET", idPath("/users/%d", carol.ID), nil).want(t, 200); r.str("locked_until") == "" {
		t.Errorf("locked_until missing: %s", r.Raw)
	}
	var lockout []bulwark.AuditEntry
	for _, a := range f.auditAfter(0) {
		if a.Action == "auth.lockout" {
			lockout = append(lockout, a)
		}
	}
	if len(lockout) != 1 || lockout[0].Actor != "carol" || lockout[0].ActorID != carol.ID || lockout[0].ResourceType != "user" ||
		lockout[0].ResourceID != strconv.FormatInt(carol.ID, 10) || lockout[0].SourceIP != "127.0.0.1" {
		t.Errorf("want one auth.lockout audit row for carol, got %+v", lockout)
	}
	f.clock.Advance(10 * time.Minute)
	r = f.anon().do("POST", "/auth/login", loginBody("carol", f.password("carol"))).wantErr(t, 429, "rate_limited")
	if r.Header.Get("Retry-After") != "300" {
		t.Errorf("Retry-After %q after 10 minutes, want 300", r.Header.Get("Retry-After"))
	}
	f.clock.Advance(5 * time.Minute)
	if !f.clock.Now().Equal(lockedAt.Add(15 * time.Minute)) {
		t.Fatal("clock arithmetic")
	}
	f.login("carol", f.password("carol"))
	if u := f.user(carol.ID); u.FailedLogins != 0 || u.LockedUntil != nil {
		t.Errorf("a successful login must clear the failures: %d, %v", u.FailedLogins, u.LockedUntil)
	}
}

func testPerIPThrottle(t *testing.T, f *fixture) {
	var last *response
	for i := 0; i < 40; i++ {
		last = f.anon().do("POST", "/auth/login", loginBody("ghost"+strconv.Itoa(i), "Wrong-password-123"))
		if last.Status == 429 {
			break
		}
		last.wantErr(t, 401, "unauthenticated")
	}
	last.wantErr(t, 429, "rate_limited")
	if ra, err := strconv.Atoi(last.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Errorf("Retry-After %q", last.Header.Get("Retry-After"))
	}
	// The right password does not get through from this address either, and
	// X-Forwarded-For from an untrusted peer does not change the address.
	f.anon().do("POST", "/auth/login", loginBody("admin", adminPassword)).wantErr(t, 429, "rate_limited")
	f.anon().do("POST", "/auth/login", loginBody("admin", adminPassword), header("X-Forwarded-For", "198.51.100.7")).
		wantErr(t, 429, "rate_limited")
	// Existing sessions are unaffected.
	f.admin.do("GET", "/auth/me", nil).want(t, 200)
	f.clock.Advance(time.Minute)
	f.login("admin", adminPassword)
}

// With a trusted reverse proxy, the client address comes from X-Forwarded-For
// (audit source_ip, per-IP throttling).
func TestTrustedProxy(t *testing.T) {
	f := newFixture(t, withAPI(func(o *api.Options) { o.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")} }))
	mark := f.auditMark()
	f.anon().do("POST", "/auth/login", loginBody("vera", f.password("vera")), header("X-Forwarded-For", "203.0.113.9, 127.0.0.2")).want(t, 200)
	rows := f.auditAfter(mark)
	if len(rows) != 1 || rows[0].SourceIP != "203.0.113.9" {
		t.Errorf("source_ip through a trusted proxy: %+v", rows)
	}
	// One throttled client address does not throttle another behind the same proxy.
	for i := range 20 {
		f.anon().do("POST", "/auth/login", loginBody("ghost"+strconv.Itoa(i), "Wrong-password-123"), header("X-Forwarded-For", "203.0.113.66")).
			wantErr(t, 401, "unauthenticated")
	}
	f.anon().do("POST", "/auth/login", loginBody("vera", f.password("vera")), header("X-Forwarded-For", "203.0.113.66")).wantErr(t, 429, "rate_limited")
	f.anon().do("POST", "/auth/login", loginBody("vera", f.password("vera")), header("X-Forwarded-For", "203.0.113.67")).want(t, 200)
}
