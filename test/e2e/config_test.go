package e2e

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// boundHost is the host of a server's base URL.
func boundHost(t *testing.T, p *proc) string {
	t.Helper()
	u, err := url.Parse(p.URL)
	if err != nil {
		t.Fatal(err)
	}
	host, _, err := net.SplitHostPort(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	return host
}

// TestConfigErrorsFailFast: a bad value stops the start at once with exit
// code 2 and a message naming the key.
func TestConfigErrorsFailFast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  []string
		args []string
		file string   // YAML, passed with --config when set
		want []string // fragments of the message
	}{
		{name: "log format flag", args: []string{"--log-format", "xml"}, want: []string{"log.format", "BULWARK_LOG_FORMAT", `"xml"`}},
		{name: "log format env", env: []string{"BULWARK_LOG_FORMAT=xml"}, want: []string{"log.format"}},
		{name: "log format file", file: "log:\n  format: xml\n", want: []string{"log.format"}},
		{name: "unknown top-level key", file: "listen: 127.0.0.1:0\nlisten-adress: 127.0.0.1:0\n", want: []string{"listen-adress", "unknown key"}},
		{name: "unknown nested key", file: "log:\n  level: info\n  colour: red\n", want: []string{"log.colour", "unknown key"}},
		{name: "listen", args: []string{"--listen", "nonsense"}, want: []string{"listen", "host:port"}},
		{name: "log level", env: []string{"BULWARK_LOG_LEVEL=loud"}, want: []string{"log.level"}},
		{name: "session max age", env: []string{"BULWARK_SESSION_MAX_AGE=forever"}, want: []string{"session.max-age"}},
		{name: "tls half", args: []string{"--tls-cert-file", "/nonexistent/cert.pem"}, want: []string{"tls.cert-file"}},
		{name: "database url scheme", args: []string{"--database-url", "mysql://u@h/db"}, want: []string{"database-url"}},
		{name: "missing config file", args: []string{"--config", "/nonexistent/bulwark.yaml"}, want: []string{"/nonexistent/bulwark.yaml", "does not exist"}},
		{name: "invalid YAML", file: "listen: [unclosed\n", want: []string{"config file"}},
		{name: "unknown flag", args: []string{"--lissten", ":0"}, want: []string{"unknown flag", "--lissten"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := newDataDir(t)
			args := append([]string{"--data-dir", dataDir}, tc.args...)
			if !hasFlag(args, "--listen") {
				args = append(args, "--listen", "127.0.0.1:0")
			}
			if tc.file != "" {
				args = append(args, "--config", writeFile(t, "bulwark.yaml", tc.file))
			}
			res := runServeExpectFailure(t, tc.env, args...)
			if res.Code != 2 {
				t.Errorf("exit code %d, want 2 (usage/configuration error)\n%s", res.Code, res)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.Stderr, w) {
					t.Errorf("message does not contain %q\n%s", w, res)
				}
			}
			if strings.Contains(res.Stderr, "bulwark is serving") {
				t.Errorf("served despite the error\n%s", res)
			}
		})
	}
}

func hasFlag(args []string, flag string) bool {
	for _, a := range args {
		if a == flag || strings.HasPrefix(a, flag+"=") {
			return true
		}
	}
	return false
}

// TestConfigFileAndPrecedence: a YAML file can set the listen address (and
// the data dir); a flag beats the environment, which beats the file. Each
// source names a different loopback address, so the bound address shows
// which one won.
func TestConfigFileAndPrecedence(t *testing.T) {
	t.Parallel()
	const fileHost, envHost, flagHost = "127.0.0.2", "127.0.0.3", "127.0.0.1"
	for _, h := range []string{fileHost, envHost} {
		ln, err := net.Listen("tcp", h+":0")
		if err != nil {
			t.Skipf("this system cannot bind %s (only Linux routes all of 127.0.0.0/8 to loopback): %v", h, err)
		}
		ln.Close()
	}
	tests := []struct {
		name     string
		env      bool
		flag     bool
		viaEnv   bool // file given by BULWARK_CONFIG instead of --config
		wantHost string
	}{
		{name: "file only", wantHost: fileHost},
		{name: "file via BULWARK_CONFIG", viaEnv: true, wantHost: fileHost},
		{name: "env beats file", env: true, wantHost: envHost},
		{name: "flag beats env and file", env: true, flag: true, wantHost: flagHost},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dataDir := newDataDir(t)
			cfg := writeFile(t, "bulwark.yaml", "# written by the e2e test\ndata-dir: "+dataDir+"\nlisten: \""+fileHost+":0\"\nlog:\n  format: json\n")
			var args, env []string
			if tc.viaEnv {
				env = append(env, "BULWARK_CONFIG="+cfg)
			} else {
				args = append(args, "--config", cfg)
			}
			if tc.env {
				env = append(env, "BULWARK_LISTEN="+envHost+":0")
			}
			if tc.flag {
				args = append(args, "--listen", flagHost+":0")
			}
			s := startServer(t, "config", serveOpts{args: args, env: env})
			if got := boundHost(t, s); got != tc.wantHost {
				t.Errorf("bound %s (%s), want host %s", got, s.URL, tc.wantHost)
			}
			// The file's data-dir and log format were applied too.
			if _, err := os.Stat(filepath.Join(dataDir, "session.key")); err != nil {
				t.Errorf("data-dir from the file not used: %v", err)
			}
			if !strings.HasPrefix(s.stderr(), "{") {
				t.Errorf("log.format json from the file not applied:\n%s", s.stderr())
			}
			s.stop()
		})
	}
}

// TestListenAddressInUse: a port clash is reported at once, naming the address.
func TestListenAddressInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	res := runServeExpectFailure(t, nil, "--data-dir", newDataDir(t), "--listen", addr)
	if !strings.Contains(res.Stderr, "listen "+addr) || !strings.Contains(res.Stderr, "address already in use") {
		t.Errorf("port clash message:\n%s", res)
	}
}
