package api_test

import (
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/api"
)

// FuzzLoginBody posts arbitrary bytes as the login body: the server never
// fails with a 5xx, every 4xx has the error shape and leaks nothing (the
// harness checks both on every response), and only the real credentials
// open a session.
func FuzzLoginBody(f *testing.F) {
	for _, seed := range []string{
		`{"username":"admin","password":"` + adminPassword + `"}`,
		`{"username":"admin","password":"wrong"}`,
		`{"username":"ADMIN","password":"` + adminPassword + `"}`,
		`{"username":"","password":""}`,
		`{"username":"\u0000","password":"x"}`,
		`{"username":"admin\u0000","password":"x"}`,
		`{"username":"admin","password":"\u0000"}`,
		`{"username":"\ud800","password":"x"}`,
		"{\"username\":\"\xff\xfe\",\"password\":\"x\"}",
		`{"username":"admin'--","password":"x' OR '1'='1"}`,
		`{"username":["admin"],"password":{}}`,
		`{"username":"admin","password":"x","extra":1}`,
		`{"username":"admin","username":"root","password":"x"}`,
		`{"username":"` + strings.Repeat("a", 64) + `","password":"` + strings.Repeat("é", 200) + `"}`,
		`[]`, `null`, `0`, `""`, `{`, ``, "\x00", `{"a":` + strings.Repeat("[", 5000),
	} {
		f.Add([]byte(seed))
	}
	e := newTestServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		c := e.anon().on(t)
		r := c.do("POST", "/auth/login", body)
		switch {
		case r.Status == 200:
			if r.setCookie(api.SessionCookie) == nil || r.str("user", "username") != "admin" {
				t.Errorf("200 without a session for admin: %s", r.Raw)
			}
		case r.Status >= 400 && r.Status < 500:
			if r.code() == "" {
				t.Errorf("4xx without error code: %s", r.Raw)
			}
		default:
			t.Errorf("status %d for body %q: %s", r.Status, body, r.Raw)
		}
		if r.Status == 429 {
			// Keep fuzzing past the throttles without sleeping.
			e.clock.Advance(24 * 60 * 60 * 1e9)
		}
	})
}
