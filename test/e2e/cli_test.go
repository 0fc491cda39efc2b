package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"
)

func TestCLIVersion(t *testing.T) {
	t.Parallel()
	res := runCLI(t, "", nil, "version")
	if res.Code != 0 || !regexp.MustCompile(`^bulwark \S+( \([0-9a-f]+\))?\n$`).MatchString(res.Stdout) {
		t.Fatalf("bulwark version:\n%s", res)
	}
	// The hidden openapi command prints the API description.
	res = runCLI(t, "", nil, "openapi")
	if res.Code != 0 || !strings.Contains(res.Stdout, `"openapi": "3.1.0"`) || !strings.Contains(res.Stdout, "/auth/login") {
		t.Fatalf("bulwark openapi: %d %.300s", res.Code, res.Stdout)
	}
}

var migrationRow = regexp.MustCompile(`(?m)^1\s+00001_\S+\.sql\s+(pending|applied)\b(.*)$`)

// migrateFlow checks `migrate status` before and after `migrate` on an
// empty database given by db (flags).
func migrateFlow(t *testing.T, db ...string) {
	t.Helper()
	state := func(res cliResult) (string, string) {
		t.Helper()
		m := migrationRow.FindStringSubmatch(res.Stdout)
		if res.Code != 0 || !strings.HasPrefix(res.Stdout, "VERSION") || m == nil {
			t.Fatalf("migrate output:\n%s", res)
		}
		return m[1], strings.TrimSpace(m[2])
	}
	if st, _ := state(runCLI(t, "", nil, append([]string{"migrate", "status"}, db...)...)); st != "pending" {
		t.Fatalf("fresh database: migration 1 is %s, want pending", st)
	}
	if st, at := state(runCLI(t, "", nil, append([]string{"migrate"}, db...)...)); st != "applied" || at == "" {
		t.Fatalf("after migrate: migration 1 is %s (at %q), want applied with a time", st, at)
	}
	res := runCLI(t, "", nil, append([]string{"migrate", "status"}, db...)...)
	if st, _ := state(res); st != "applied" {
		t.Fatalf("migrate status after migrate: %s", st)
	}
	// Running it again is a no-op.
	if st, _ := state(runCLI(t, "", nil, append([]string{"migrate", "up"}, db...)...)); st != "applied" {
		t.Fatalf("second migrate: %s", st)
	}
	if res := runCLI(t, "", nil, append([]string{"migrate", "sideways"}, db...)...); res.Code != 2 || !strings.Contains(res.Stderr, "up or status") {
		t.Fatalf("migrate with an unknown action:\n%s", res)
	}
}

func TestCLIMigrate(t *testing.T) {
	t.Parallel()
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		migrateFlow(t, "--data-dir", newDataDir(t))
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		migrateFlow(t, "--data-dir", newDataDir(t), "--database-url", freshPostgres(t))
	})
}

// TestCLIUsers manages accounts with the CLI next to a running server on
// the same SQLite database, and finds the actions in the audit log.
func TestCLIUsers(t *testing.T) {
	t.Parallel()
	dataDir := newDataDir(t)
	s := startServer(t, "serve", serveOpts{args: []string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}})
	admin := newClient(t, s.URL, nil)
	pw := s.adminPassword()
	admin.login("admin", pw)
	admin.changePassword(pw, strongPassword())
	dd := []string{"--data-dir", dataDir}
	cli := func(stdin string, args ...string) cliResult {
		t.Helper()
		return runCLI(t, stdin, nil, append(args, dd...)...)
	}

	// Create with a generated password.
	res := cli("", "user", "create", "alice", "--role", "operator")
	m := regexp.MustCompile(`(?m)^password: (\S+)$`).FindStringSubmatch(res.Stdout)
	if res.Code != 0 || !strings.Contains(res.Stdout, "created user alice") || !strings.Contains(res.Stdout, "role operator") || m == nil {
		t.Fatalf("user create:\n%s", res)
	}
	generated := m[1]
	if strings.Contains(res.Stderr, generated) {
		t.Error("the generated password also went to the log")
	}

	res = cli("", "user", "list")
	if res.Code != 0 || !regexp.MustCompile(`(?m)^\d+\s+alice\s+operator\s+must change password\s+never\s*$`).MatchString(res.Stdout) ||
		!regexp.MustCompile(`(?m)^\d+\s+admin\s+admin\s+active\s+\d{4}-`).MatchString(res.Stdout) {
		t.Fatalf("user list:\n%s", res)
	}

	// The running server sees the new user at once.
	alice := newClient(t, s.URL, nil)
	if sess := alice.login("alice", generated); sess.User.Role != "operator" || !sess.User.MustChangePassword {
		t.Fatalf("alice: %+v", sess.User)
	}

	// set-password from stdin ends her sessions; the new password works.
	alicePw := strongPassword()
	res = cli(alicePw+"\n", "user", "set-password", "alice", "--password-stdin")
	if res.Code != 0 || !strings.Contains(res.Stdout, "password of alice set") || strings.Contains(res.Stdout+res.Stderr, alicePw) {
		t.Fatalf("user set-password:\n%s", res)
	}
	alice.do(http.MethodGet, "/api/v1/auth/me", nil).expectError(t, http.StatusUnauthorized, "unauthenticated")
	newClient(t, s.URL, nil).do(http.MethodPost, "/api/v1/auth/login", map[string]string{"username": "alice", "password": generated}).
		expectError(t, http.StatusUnauthorized, "unauthenticated")
	alice.login("alice", alicePw)

	// A weak password is refused with the policy; the old one still works.
	res = cli("short\n", "user", "set-password", "alice", "--password-stdin")
	if res.Code == 0 || !strings.Contains(res.Stderr, "at least 12 characters") {
		t.Fatalf("weak password:\n%s", res)
	}
	res = cli("password1234\n", "user", "set-password", "alice", "--password-stdin")
	if res.Code == 0 || !strings.Contains(res.Stderr, "too easy to guess") {
		t.Fatalf("common password:\n%s", res)
	}
	res = cli("", "user", "set-password", "alice", "--password-stdin")
	if res.Code != 2 || !strings.Contains(res.Stderr, "no password on standard input") {
		t.Fatalf("empty stdin:\n%s", res)
	}
	newClient(t, s.URL, nil).login("alice", alicePw)

	// Usage errors.
	res = cli("", "user", "create", "bob", "--role", "superuser")
	if res.Code != 2 || !strings.Contains(res.Stderr, "role") {
		t.Fatalf("unknown role: want exit code 2 naming the role\n%s", res)
	}
	res = cli("", "user", "create", "alice", "--role", "viewer")
	if res.Code == 0 || !strings.Contains(res.Stderr, "already exists") {
		t.Fatalf("duplicate user:\n%s", res)
	}
	res = cli("", "user", "create", "Bad Name!", "--role", "viewer")
	if res.Code != 2 || !strings.Contains(res.Stderr, "username") {
		t.Fatalf("invalid username:\n%s", res)
	}
	res = cli(strongPassword()+"\n", "user", "set-password", "nobody", "--password-stdin")
	if res.Code == 0 || !strings.Contains(res.Stderr, `no user named "nobody"`) {
		t.Fatalf("set-password for a missing user:\n%s", res)
	}
	// A user created with --password-stdin and --no-password-change can work at once.
	carolPw := strongPassword()
	res = cli(carolPw+"\n", "user", "create", "carol", "--role", "viewer", "--password-stdin", "--no-password-change")
	if res.Code != 0 || strings.Contains(res.Stdout, "password:") {
		t.Fatalf("user create --password-stdin:\n%s", res)
	}
	carol := newClient(t, s.URL, nil)
	if sess := carol.login("carol", carolPw); sess.User.MustChangePassword || sess.User.Role != "viewer" {
		t.Fatalf("carol: %+v", sess.User)
	}
	carol.do(http.MethodGet, "/api/v1/audit", nil).expect(t, http.StatusOK, nil)
	carol.do(http.MethodPost, "/api/v1/tokens", map[string]string{"name": "x"}).expectError(t, http.StatusForbidden, "forbidden")

	// The CLI's actions are audited with actor "cli"; the refused ones are not.
	entries := admin.audit("actor=cli").Items
	for _, e := range entries {
		if e.Actor != "cli" || e.UserAgent != "bulwark-cli" || e.Result != "success" || e.ResourceType != "user" {
			t.Errorf("CLI audit entry: %+v", e)
		}
	}
	creates := findAudit(entries, "user.create", "cli", "success")
	resets := findAudit(entries, "user.password_reset", "cli", "success")
	if len(creates) != 2 || len(resets) != 1 || len(entries) != 3 {
		t.Fatalf("CLI audit entries: %d creates, %d resets, %d in all; want 2, 1, 3: %+v", len(creates), len(resets), len(entries), entries)
	}
	users := map[any]bool{}
	for _, e := range creates {
		users[e.Details["username"]] = true
	}
	if !users["alice"] || !users["carol"] || resets[0].Details["username"] != "alice" {
		t.Errorf("CLI audit details: creates %+v, reset %+v", creates, resets[0])
	}
	for _, e := range entries {
		for _, sec := range []string{generated, alicePw, carolPw} {
			if strings.Contains(strings.Join([]string{e.Action, e.ResourceID, e.UserAgent}, " ")+strings.Join(mapValues(e.Details), " "), sec) {
				t.Errorf("CLI audit entry %d contains a password", e.ID)
			}
		}
	}
	s.stop()
}

func mapValues(m map[string]any) []string {
	var out []string
	for _, v := range m {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}
