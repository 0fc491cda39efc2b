package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func randomBase64(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// TestSecretsRefused: serve does not start with a weak or malformed
// configured secret, names the setting, and never echoes the value.
func TestSecretsRefused(t *testing.T) {
	t.Parallel()
	strongSession := randomHex(32)
	tests := []struct {
		name     string
		env      string // variable under test
		value    string
		wantName string   // setting named in the message
		want     []string // further fragments of the message
	}{
		{"session key changeme", "BULWARK_SECRETS_SESSION_KEY", "changeme", "BULWARK_SECRETS_SESSION_KEY", []string{"secrets.session-key", "too short"}},
		{"session key long placeholder", "BULWARK_SECRETS_SESSION_KEY", "changeme-changeme-changeme-changeme-12345", "BULWARK_SECRETS_SESSION_KEY", []string{"placeholder"}},
		{"session key too short", "BULWARK_SECRETS_SESSION_KEY", "q7Fv2LkP9sXbN3mWz8Rt", "BULWARK_SECRETS_SESSION_KEY", []string{"too short", "at least 32"}},
		{"session key predictable", "BULWARK_SECRETS_SESSION_KEY", strings.Repeat("k3Jf9QzL", 5), "BULWARK_SECRETS_SESSION_KEY", []string{"predictable"}},
		{"encryption key 31 bytes", "BULWARK_SECRETS_ENCRYPTION_KEY", randomBase64(31), "BULWARK_SECRETS_ENCRYPTION_KEY", []string{"secrets.encryption-key", "32 bytes"}},
		{"encryption key 16 bytes hex", "BULWARK_SECRETS_ENCRYPTION_KEY", randomHex(16), "BULWARK_SECRETS_ENCRYPTION_KEY", []string{"32 bytes"}},
		{"encryption key 64 bytes hex", "BULWARK_SECRETS_ENCRYPTION_KEY", randomHex(64), "BULWARK_SECRETS_ENCRYPTION_KEY", []string{"32 bytes"}},
		{"encryption key changeme", "BULWARK_SECRETS_ENCRYPTION_KEY", "changeme", "BULWARK_SECRETS_ENCRYPTION_KEY", []string{"too short"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := newDataDir(t)
			env := []string{tc.env + "=" + tc.value}
			if tc.env != "BULWARK_SECRETS_SESSION_KEY" {
				env = append(env, "BULWARK_SECRETS_SESSION_KEY="+strongSession)
			}
			res := runServeExpectFailure(t, env, "--data-dir", dataDir, "--listen", "127.0.0.1:0")
			out := res.Stdout + res.Stderr
			for _, w := range append([]string{tc.wantName}, tc.want...) {
				if !strings.Contains(out, w) {
					t.Errorf("message does not contain %q:\n%s", w, res)
				}
			}
			if strings.Contains(out, tc.value) {
				t.Errorf("the refused value is echoed:\n%s", res)
			}
			if strings.Contains(out, strongSession) {
				t.Errorf("the (valid) session key is echoed:\n%s", res)
			}
			if strings.Contains(out, "bulwark is serving") || strings.Contains(res.Stdout, "password:") {
				t.Errorf("started although a secret was refused:\n%s", res)
			}
			for _, k := range keyFiles {
				if _, err := os.Stat(filepath.Join(dataDir, k)); err == nil {
					t.Errorf("%s written although start-up was refused", k)
				}
			}
		})
	}
}

// TestSecretsFromEnv: strong configured secrets are used as they are and no
// key files are generated; sessions signed with them survive a restart.
func TestSecretsFromEnv(t *testing.T) {
	t.Parallel()
	sessionKey := randomHex(32)
	encKey := randomBase64(32)
	env := []string{"BULWARK_SECRETS_SESSION_KEY=" + sessionKey, "BULWARK_SECRETS_ENCRYPTION_KEY=" + encKey}
	dataDir := newDataDir(t)
	args := []string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}
	s := startServer(t, "env-secrets", serveOpts{args: args, env: env})
	for _, k := range keyFiles {
		if _, err := os.Stat(filepath.Join(dataDir, k)); err == nil {
			t.Errorf("%s generated although the key is configured", k)
		}
	}
	for _, v := range []string{sessionKey, encKey} {
		if strings.Contains(s.output(), v) {
			t.Errorf("a configured secret appears in the output:\n%s", s.output())
		}
	}
	c := newClient(t, s.URL, nil)
	c.login("admin", s.adminPassword())
	s.stop()

	s2 := startServer(t, "env-secrets-restart", serveOpts{args: args, env: env})
	if me := c.at(s2.URL).me(); me.User.Username != "admin" {
		t.Fatalf("session after restart with the same configured key: %+v", me)
	}
	s2.stop()

	// A different session key invalidates every session (they are keyed by it).
	env[0] = "BULWARK_SECRETS_SESSION_KEY=" + randomHex(32)
	s3 := startServer(t, "env-secrets-rotated", serveOpts{args: args, env: env})
	c.at(s3.URL).do(http.MethodGet, "/api/v1/auth/me", nil).expectError(t, http.StatusUnauthorized, "unauthenticated")
}

// TestKeyFilePermissions: a generated key file that others may read is
// refused with the fix in the message.
func TestKeyFilePermissions(t *testing.T) {
	t.Parallel()
	for _, name := range keyFiles {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dataDir := newDataDir(t)
			if err := os.MkdirAll(dataDir, 0o700); err != nil {
				t.Fatal(err)
			}
			for _, k := range keyFiles {
				path := filepath.Join(dataDir, k)
				if err := os.WriteFile(path, []byte(randomBase64(32)+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				mode := os.FileMode(0o600)
				if k == name {
					mode = 0o644
				}
				if err := os.Chmod(path, mode); err != nil {
					t.Fatal(err)
				}
			}
			res := runServeExpectFailure(t, nil, "--data-dir", dataDir, "--listen", "127.0.0.1:0")
			if !strings.Contains(res.Stderr, "chmod 600") || !strings.Contains(res.Stderr, filepath.Join(dataDir, name)) {
				t.Errorf("message does not name the file and say chmod 600:\n%s", res)
			}
			b, _ := os.ReadFile(filepath.Join(dataDir, name))
			if strings.Contains(res.Stdout+res.Stderr, strings.TrimSpace(string(b))) {
				t.Errorf("the key is echoed:\n%s", res)
			}

			// After the fix it starts with that very key file.
			if err := os.Chmod(filepath.Join(dataDir, name), 0o600); err != nil {
				t.Fatal(err)
			}
			s := startServer(t, "fixed-perms", serveOpts{args: []string{"--data-dir", dataDir, "--listen", "127.0.0.1:0"}})
			after, _ := os.ReadFile(filepath.Join(dataDir, name))
			if string(after) != string(b) {
				t.Error("the key file was replaced instead of used")
			}
			s.stop()
		})
	}
}
