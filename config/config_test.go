package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := Load(flags(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != ":8080" || c.DataDir != "./data" || c.LogFormat != "text" || c.LogLevel != "info" ||
		c.SessionMaxAge != 12*time.Hour || c.ShutdownTimeout != 30*time.Second || c.MaxBodyBytes != 1<<20 ||
		c.AdminUsername != "admin" || c.SessionSecureCookie != "auto" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
	if got := c.ResolvedDatabaseURL(); got != filepath.Join("data", "bulwark.db") {
		t.Fatalf("default database = %q", got)
	}
	if c.SecureCookies() || c.TLS() {
		t.Fatal("no TLS by default")
	}
}

func TestPrecedence(t *testing.T) {
	file := writeFile(t, "listen: 127.0.0.1:1001\nlog:\n  level: debug\n  format: json\nhttp:\n  trusted-proxies: [10.0.0.0/8, 192.168.1.1]\n")
	env := []string{"BULWARK_CONFIG=" + file, "BULWARK_LISTEN=127.0.0.1:1002", "BULWARK_LOG_LEVEL=warn", "BULWARK_TEST_POSTGRES_URL=ignored", "PATH=/bin"}

	c, err := Load(flags(t), env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1002" || c.LogLevel != "warn" || c.LogFormat != "json" {
		t.Fatalf("env should beat file: %+v", c)
	}
	if len(c.TrustedProxies) != 2 || c.TrustedProxies[1].String() != "192.168.1.1/32" {
		t.Fatalf("trusted proxies from YAML list: %v", c.TrustedProxies)
	}
	c, err = Load(flags(t, "--listen", "127.0.0.1:1003"), env)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:1003" {
		t.Fatalf("flag should beat env: %s", c.Listen)
	}
	c, err = Load(flags(t, "--config", writeFile(t, "listen: 127.0.0.1:1004\n")), nil)
	if err != nil || c.Listen != "127.0.0.1:1004" {
		t.Fatalf("--config file: %v %+v", err, c)
	}
}

func TestInvalidConfigNamesTheKey(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  []string
		file string
		want string
	}{
		{name: "log format", args: []string{"--log-format", "xml"}, want: "log.format"},
		{name: "log level", env: []string{"BULWARK_LOG_LEVEL=loud"}, want: "BULWARK_LOG_LEVEL"},
		{name: "listen", args: []string{"--listen", "nonsense"}, want: "listen"},
		{name: "port range", args: []string{"--listen", ":99999"}, want: "listen"},
		{name: "duration", env: []string{"BULWARK_SESSION_MAX_AGE=forever"}, want: "session.max-age"},
		{name: "duration range", env: []string{"BULWARK_SESSION_MAX_AGE=1s"}, want: "session.max-age"},
		{name: "secure cookie", env: []string{"BULWARK_SESSION_SECURE_COOKIE=maybe"}, want: "session.secure-cookie"},
		{name: "tls half", args: []string{"--tls-cert-file", "/nonexistent.pem"}, want: "tls.cert-file"},
		{name: "tls missing", args: []string{"--tls-cert-file", "/nonexistent.pem", "--tls-key-file", "/nonexistent.key"}, want: "tls.cert-file"},
		{name: "proxies", env: []string{"BULWARK_HTTP_TRUSTED_PROXIES=10.0.0.0/8,not-an-ip"}, want: "not-an-ip"},
		{name: "body", env: []string{"BULWARK_HTTP_MAX_BODY_BYTES=12"}, want: "http.max-body-bytes"},
		{name: "body text", env: []string{"BULWARK_HTTP_MAX_BODY_BYTES=lots"}, want: "http.max-body-bytes"},
		{name: "database scheme", args: []string{"--database-url", "mysql://x"}, want: "database-url"},
		{name: "data dir", args: []string{"--data-dir", ""}, want: "data-dir"},
		{name: "unknown file key", file: "listen: :1\nlisten_port: 3\n", want: `"listen_port"`},
		{name: "nested unknown", file: "log:\n  colour: red\n", want: `"log.colour"`},
		{name: "bad yaml", file: "listen: [\n", want: "bulwark.yaml"},
		{name: "list where scalar", file: "listen: [a, b]\n", want: "listen"},
		{name: "missing file", env: []string{"BULWARK_CONFIG=/nonexistent/bulwark.yaml"}, want: "does not exist"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := tc.env
			if tc.file != "" {
				env = append(env, "BULWARK_CONFIG="+writeFile(t, tc.file))
			}
			_, err := Load(flags(t, tc.args...), env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v should mention %q", err, tc.want)
			}
		})
	}
}

func TestSecretsNotEchoedInErrors(t *testing.T) {
	_, err := Load(flags(t, "--database-url", "mysql://user:hunter2@db/x"), nil)
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error must not contain the password: %v", err)
	}
}

func TestEnvNames(t *testing.T) {
	for _, k := range Keys {
		if !strings.HasPrefix(k.Env(), "BULWARK_") || strings.ContainsAny(k.Env(), ".-") {
			t.Errorf("bad env name %s for %s", k.Env(), k.Name)
		}
	}
	if k, _ := KeyByName("secrets.previous-encryption-keys"); k.Env() != "BULWARK_SECRETS_PREVIOUS_ENCRYPTION_KEYS" {
		t.Fatal(k.Env())
	}
}

// docs/configuration.md must document every key, its env name and its default.
func TestEveryKeyDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys {
		row := ""
		for _, line := range strings.Split(string(doc), "\n") {
			if strings.HasPrefix(line, "| `"+k.Name+"`") {
				row = line
			}
		}
		if row == "" {
			t.Errorf("docs/configuration.md has no table row for %s", k.Name)
			continue
		}
		if !strings.Contains(row, "`"+k.Env()+"`") {
			t.Errorf("row for %s does not name %s", k.Name, k.Env())
		}
		if k.Flag != "" && !strings.Contains(row, "`--"+k.Flag+"`") {
			t.Errorf("row for %s does not name --%s", k.Name, k.Flag)
		}
		if k.Default != "" && !strings.Contains(row, "`"+k.Default+"`") {
			t.Errorf("row for %s does not give the default %s", k.Name, k.Default)
		}
	}
}

func TestSecureCookies(t *testing.T) {
	for _, tc := range []struct {
		mode string
		tls  bool
		want bool
	}{{"auto", false, false}, {"auto", true, true}, {"always", false, true}, {"never", true, false}} {
		c := &Config{SessionSecureCookie: tc.mode}
		if tc.tls {
			c.TLSCertFile = "x"
		}
		if c.SecureCookies() != tc.want {
			t.Errorf("%s tls=%v", tc.mode, tc.tls)
		}
	}
}
