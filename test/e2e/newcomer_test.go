package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// strongPassword returns a password that passes the policy.
func strongPassword() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "E2e-" + hex.EncodeToString(b)
}

func checkPerm(t *testing.T, path string, want fs.FileMode) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != want {
		t.Errorf("%s: mode %04o, want %04o", path, got, want)
	}
}

var keyFiles = []string{"session.key", "encryption.key"}

func readKeys(t *testing.T, dataDir string) map[string][]byte {
	t.Helper()
	keys := map[string][]byte{}
	for _, name := range keyFiles {
		path := filepath.Join(dataDir, name)
		checkPerm(t, path, 0o600)
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(b)) < 32 {
			t.Fatalf("%s: %d bytes, too short to hold a 32-byte key", path, len(b))
		}
		keys[name] = b
	}
	if bytes.Equal(keys["session.key"], keys["encryption.key"]) {
		t.Error("session.key and encryption.key have the same content")
	}
	return keys
}

// TestNewcomerSQLite is the first-run experience with nothing but a data
// directory: keys and the admin account are generated, the admin must
// change the password, creates an operator, who creates an API token;
// everything is audited and survives a restart.
func TestNewcomerSQLite(t *testing.T) {
	t.Parallel()
	dataDir := newDataDir(t)
	newcomerFlow(t, dataDir, nil)
	if _, err := os.Stat(filepath.Join(dataDir, "bulwark.db")); err != nil {
		t.Errorf("SQLite database not in the data directory: %v", err)
	}
}

// newcomerFlow runs the first-start flow, restarts the binary on the same
// state and checks that everything persisted. extra are serve flags (e.g.
// --database-url).
func newcomerFlow(t *testing.T, dataDir string, extra []string) {
	args := append([]string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}, extra...)
	s1 := startServer(t, "first-start", serveOpts{args: args})

	// The data directory and the generated keys are private.
	checkPerm(t, dataDir, 0o700)
	keys := readKeys(t, dataDir)

	// The first-admin password is printed once, on stdout, never in the log.
	pw := s1.adminPassword()
	if strings.Contains(s1.stderr(), pw) {
		t.Error("the first-admin password appears in the log (stderr)")
	}
	for name, k := range keys {
		if strings.Contains(s1.output(), strings.TrimSpace(string(k))) {
			t.Errorf("the content of %s appears in the output", name)
		}
	}

	// Log in: a password change is required before anything else.
	admin := newClient(t, s1.URL, nil)
	sess := admin.login("admin", pw)
	if !sess.User.MustChangePassword || sess.User.Role != "admin" {
		t.Fatalf("first admin: %+v, want role admin with must_change_password", sess.User)
	}
	admin.do(http.MethodGet, "/api/v1/users", nil).expectError(t, http.StatusForbidden, "password_change_required")
	// /auth/me is allowed meanwhile.
	if me := admin.me(); me.User.Username != "admin" || me.AuthMethod != "session" {
		t.Fatalf("me: %+v", me)
	}

	// The change needs the CSRF token and a password that meets the policy.
	adminPw := strongPassword()
	body := map[string]string{"current_password": pw, "new_password": adminPw}
	admin.doWith(http.MethodPost, "/api/v1/auth/password", body, http.Header{"X-Csrf-Token": {"forged"}}).
		expectError(t, http.StatusForbidden, "csrf_failed")
	e := admin.do(http.MethodPost, "/api/v1/auth/password", map[string]string{"current_password": pw, "new_password": "short"}).
		expectError(t, http.StatusUnprocessableEntity, "validation_failed")
	if !strings.Contains(e.Error.Message, "12 characters") {
		t.Errorf("weak password message %q does not state the policy", e.Error.Message)
	}
	admin.changePassword(pw, adminPw)
	if me := admin.me(); me.User.MustChangePassword {
		t.Fatalf("after the change: %+v", me.User)
	}

	// The admin creates an operator; the password is generated and shown once.
	var created userCreated
	admin.do(http.MethodPost, "/api/v1/users", map[string]string{"username": "olivia", "role": "operator"}).
		expect(t, http.StatusCreated, &created)
	if created.User.Username != "olivia" || created.User.Role != "operator" || !created.User.MustChangePassword || created.InitialPassword == "" {
		t.Fatalf("created: %+v", created)
	}
	admin.do(http.MethodPost, "/api/v1/users", map[string]string{"username": "olivia", "role": "viewer"}).
		expectError(t, http.StatusConflict, "conflict")

	// The operator logs in, changes the password and creates an API token.
	op := newClient(t, s1.URL, nil)
	if s := op.login("olivia", created.InitialPassword); !s.User.MustChangePassword {
		t.Fatalf("operator login: %+v", s.User)
	}
	opPw := strongPassword()
	op.changePassword(created.InitialPassword, opPw)
	op.do(http.MethodGet, "/api/v1/users", nil).expectError(t, http.StatusForbidden, "forbidden")

	var tok tokenCreated
	op.do(http.MethodPost, "/api/v1/tokens", map[string]string{"name": "ci pipeline"}).expect(t, http.StatusCreated, &tok)
	if !strings.HasPrefix(tok.Token, "bwk_") || !tok.APIToken.Active || tok.APIToken.UserID != created.User.ID {
		t.Fatalf("token: %+v", tok)
	}
	bearer := op.withToken(tok.Token)
	if me := bearer.me(); me.User.Username != "olivia" || me.AuthMethod != "token" || me.CSRFToken != "" {
		t.Fatalf("me with token: %+v", me)
	}
	bearer.do(http.MethodGet, "/api/v1/users", nil).expectError(t, http.StatusForbidden, "forbidden")
	op.withToken("bwk_notavalidtoken").do(http.MethodGet, "/api/v1/auth/me", nil).expectError(t, http.StatusUnauthorized, "unauthenticated")

	// All of it is in the audit log, with where it came from.
	before := admin.audit("")
	checkNewcomerAudit(t, before.Items, created.User.ID, tok.APIToken.ID, pw, adminPw, created.InitialPassword, opPw, tok.Token)

	s1.stop()
	if !strings.Contains(s1.stderr(), "msg=stopped") {
		t.Errorf("no \"stopped\" log line after SIGTERM:\n%s", s1.stderr())
	}

	// Restart on the same state.
	s2 := startServer(t, "restart", serveOpts{args: args})
	if pws := adminPasswords(s2.stdout()); len(pws) != 0 || strings.Contains(s2.stdout(), "First start") {
		t.Fatalf("a first-admin password was printed again on restart:\n%s", s2.stdout())
	}
	for name, k := range readKeys(t, dataDir) {
		if !bytes.Equal(k, keys[name]) {
			t.Errorf("%s changed across the restart", name)
		}
	}

	// Sessions are stored: the cookies still work. So do the token and passwords.
	admin2 := admin.at(s2.URL)
	if me := admin2.me(); me.User.Username != "admin" || me.User.MustChangePassword {
		t.Fatalf("admin session after restart: %+v", me)
	}
	var users userList
	admin2.do(http.MethodGet, "/api/v1/users", nil).expect(t, http.StatusOK, &users)
	names := map[string]string{}
	for _, u := range users.Items {
		names[u.Username] = u.Role
	}
	if users.Total != 2 || names["admin"] != "admin" || names["olivia"] != "operator" {
		t.Fatalf("users after restart: %+v", users)
	}
	if me := op.at(s2.URL).me(); me.User.Username != "olivia" {
		t.Fatalf("operator session after restart: %+v", me)
	}
	if me := bearer.at(s2.URL).me(); me.User.Username != "olivia" || me.AuthMethod != "token" {
		t.Fatalf("token after restart: %+v", me)
	}
	newClient(t, s2.URL, nil).login("olivia", opPw)
	newClient(t, s2.URL, nil).do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "admin", "password": pw}).
		expectError(t, http.StatusUnauthorized, "unauthenticated")

	// The audit entries are still there, unchanged.
	after := admin2.audit("")
	byID := map[int64]auditEntry{}
	for _, e := range after.Items {
		byID[e.ID] = e
	}
	for _, e := range before.Items {
		got, ok := byID[e.ID]
		if !ok {
			t.Errorf("audit entry %d (%s by %s) lost across the restart", e.ID, e.Action, e.Actor)
			continue
		}
		if got.Action != e.Action || got.Actor != e.Actor || got.SourceIP != e.SourceIP || !got.Time.Equal(e.Time) {
			t.Errorf("audit entry %d changed across the restart: %+v → %+v", e.ID, e, got)
		}
	}
	if after.Total < before.Total+2 { // + olivia's login and admin's failed one
		t.Errorf("audit total %d after restart, want at least %d", after.Total, before.Total+2)
	}
}

func checkNewcomerAudit(t *testing.T, items []auditEntry, operatorID, tokenID int64, secrets ...string) {
	t.Helper()
	fromClient := func(what string, es []auditEntry) {
		t.Helper()
		if len(es) == 0 {
			t.Errorf("audit: no %s entry", what)
			return
		}
		for _, e := range es {
			if e.SourceIP != "127.0.0.1" || e.UserAgent != userAgent {
				t.Errorf("audit %s: source_ip %q user_agent %q, want 127.0.0.1 and %q", what, e.SourceIP, e.UserAgent, userAgent)
			}
			if e.Time.IsZero() || e.ID == 0 {
				t.Errorf("audit %s: missing id or time: %+v", what, e)
			}
		}
	}
	fromClient("auth.login by admin", findAudit(items, "auth.login", "admin", "success"))
	fromClient("auth.password_change by admin", findAudit(items, "auth.password_change", "admin", "success"))
	fromClient("failed auth.password_change by admin", findAudit(items, "auth.password_change", "admin", "failure"))
	fromClient("auth.login by olivia", findAudit(items, "auth.login", "olivia", "success"))
	fromClient("auth.password_change by olivia", findAudit(items, "auth.password_change", "olivia", "success"))

	uc := findAudit(items, "user.create", "admin", "success")
	fromClient("user.create by admin", uc)
	if len(uc) == 1 && (uc[0].ResourceID != fmt.Sprint(operatorID) || uc[0].Details["username"] != "olivia" || uc[0].Details["role"] != "operator") {
		t.Errorf("audit user.create: %+v", uc[0])
	}
	tc := findAudit(items, "token.create", "olivia", "success")
	fromClient("token.create by olivia", tc)
	if len(tc) == 1 && (tc[0].ResourceID != fmt.Sprint(tokenID) || tc[0].ResourceType != "api_token" || tc[0].Details["name"] != "ci pipeline") {
		t.Errorf("audit token.create: %+v", tc[0])
	}
	for _, e := range items {
		b := fmt.Sprintf("%+v", e)
		for _, sec := range secrets {
			if strings.Contains(b, sec) {
				t.Errorf("audit entry %d contains a secret (password or token): %s", e.ID, b)
			}
		}
	}
	if len(findAudit(items, "user.create", "system", "success")) != 1 {
		t.Errorf("audit: want one user.create by system for the first admin")
	}
}
