// Package config owns Bulwark's start-up configuration: the table of keys
// with their defaults, loading them from flags, BULWARK_* environment
// variables and an optional YAML file (in that order of precedence), and
// validating the result so a bad value stops the start with a message that
// names the key.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/v2"
	"github.com/spf13/pflag"
)

// Config is the resolved start-up configuration.
type Config struct {
	File        string // the YAML file that was read, if any
	DataDir     string
	DatabaseURL string
	Listen      string
	TLSCertFile string
	TLSKeyFile  string
	LogLevel    string
	LogFormat   string

	SessionKey             string
	EncryptionKey          string
	PreviousEncryptionKeys []string

	SessionMaxAge       time.Duration
	SessionSecureCookie string // auto | always | never

	AdminUsername string
	AdminPassword string

	TrustedProxies  []netip.Prefix
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration

	GatewayTimeout        time.Duration
	GatewayMaxBodyBytes   int64
	GatewayBudgetTimezone *time.Location
	GatewaySyncInterval   time.Duration
	UsagePricesFile       string
	MCPAllowedCommands    []string
	TracingEndpoint       string
	TracingServiceName    string
	TracingSampleRatio    float64
}

// Key describes one configuration key.
type Key struct {
	Name    string // dotted key as written in YAML, e.g. "log.format"
	Default string // textual default, as documented
	Flag    string // command-line flag name; "" when the key has no flag
	Help    string
	Secret  bool // never printed
}

// Env is the environment variable that sets k.
func (k Key) Env() string {
	r := strings.NewReplacer(".", "_", "-", "_")
	return "BULWARK_" + strings.ToUpper(r.Replace(k.Name))
}

// Keys is every configuration key. docs/configuration.md documents each one
// (a test keeps the two in step).
var Keys = []Key{
	{Name: "data-dir", Default: "./data", Flag: "data-dir", Help: "Directory for the SQLite database and generated key files (created 0700)."},
	{Name: "database-url", Default: "", Flag: "database-url", Help: "postgres://user:pass@host/db for PostgreSQL; empty means SQLite at <data-dir>/bulwark.db (or sqlite:///path/file.db).", Secret: true},
	{Name: "listen", Default: ":8080", Flag: "listen", Help: "Address of the admin API, web UI, /metrics and health endpoints."},
	{Name: "tls.cert-file", Default: "", Flag: "tls-cert-file", Help: "PEM certificate (chain) for the admin listener; serve HTTPS when set with tls.key-file."},
	{Name: "tls.key-file", Default: "", Flag: "tls-key-file", Help: "PEM private key for tls.cert-file."},
	{Name: "log.level", Default: "info", Flag: "log-level", Help: "debug, info, warn or error."},
	{Name: "log.format", Default: "text", Flag: "log-format", Help: "text for a terminal, json for log collectors."},
	{Name: "secrets.session-key", Default: "", Help: "Key that signs sessions and CSRF tokens (at least 32 characters). Empty: generated into <data-dir>/session.key.", Secret: true},
	{Name: "secrets.encryption-key", Default: "", Help: "32-byte AES-256 key, base64 or hex, that encrypts stored credentials. Empty: generated into <data-dir>/encryption.key.", Secret: true},
	{Name: "secrets.previous-encryption-keys", Default: "", Help: "Comma-separated (or YAML list of) older encryption keys, still accepted for decryption after a rotation.", Secret: true},
	{Name: "session.max-age", Default: "12h", Help: "Absolute lifetime of a console session (the idle timeout is a setting in the UI)."},
	{Name: "session.secure-cookie", Default: "auto", Help: "auto (Secure when TLS is on), always (behind a TLS-terminating proxy) or never."},
	{Name: "admin.username", Default: "admin", Help: "Name of the admin account created on first start."},
	{Name: "admin.password", Default: "", Help: "Password of that first admin account; empty generates one and prints it once. It must be changed at first login.", Secret: true},
	{Name: "http.trusted-proxies", Default: "", Help: "Comma-separated CIDRs of reverse proxies whose X-Forwarded-For is believed for the client address."},
	{Name: "http.max-body-bytes", Default: "1048576", Help: "Largest admin API request body accepted (bytes)."},
	{Name: "shutdown-timeout", Default: "30s", Help: "How long a graceful shutdown waits for in-flight requests."},
	{Name: "gateway.timeout", Default: "10m", Help: "Default bound on one upstream exchange of a proxy, streaming included (a proxy can set its own)."},
	{Name: "gateway.max-body-bytes", Default: "10485760", Help: "Default largest request body a proxy accepts (bytes); larger requests get 413 (a proxy can set its own)."},
	{Name: "gateway.budget-timezone", Default: "UTC", Help: "IANA time zone whose calendar months are budget periods (for example Europe/Berlin)."},
	{Name: "gateway.sync-interval", Default: "10s", Help: "How often a replica compares the stored proxy configuration with what it runs, to apply changes made through other replicas."},
	{Name: "mcp.allowed-commands", Default: "", Help: "Comma-separated programs stdio MCP servers may run: bare names (found on PATH) or absolute paths. Empty: any absolute path, no bare names."},
	{Name: "usage.prices-file", Default: "", Help: "LiteLLM model_prices_and_context_window.json to load over the built-in price table (empty: built-in prices only)."},
	{Name: "tracing.otlp-endpoint", Default: "", Help: "OTLP/HTTP endpoint (for example http://127.0.0.1:4318) to export a trace of every proxied request to; empty turns tracing off."},
	{Name: "tracing.service-name", Default: "bulwark", Help: "service.name resource attribute of exported traces."},
	{Name: "tracing.sample-ratio", Default: "1", Help: "Share of new traces recorded, 0 to 1 (a sampled parent's decision is always followed)."},
}

// KeyByName finds a key.
func KeyByName(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// RegisterFlags adds the configuration flags (and --config) to fs.
func RegisterFlags(fs *pflag.FlagSet) {
	fs.StringP("config", "c", "", "YAML configuration file (env BULWARK_CONFIG)")
	for _, k := range Keys {
		if k.Flag != "" {
			fs.String(k.Flag, k.Default, k.Help)
		}
	}
}

// Load resolves the configuration: flags that were set > environment > file > defaults.
// fs may be nil (no flags); environ is os.Environ() in production.
func Load(fs *pflag.FlagSet, environ []string) (*Config, error) {
	ko := koanf.New(".")
	defaults := map[string]any{}
	for _, k := range Keys {
		defaults[k.Name] = k.Default
	}
	if err := ko.Load(confmap.Provider(defaults, "."), nil); err != nil {
		return nil, err
	}

	env := map[string]string{}
	for _, kv := range environ {
		if name, val, ok := strings.Cut(kv, "="); ok && strings.HasPrefix(name, "BULWARK_") {
			env[name] = val
		}
	}

	path := env["BULWARK_CONFIG"]
	if fs != nil {
		if f := fs.Lookup("config"); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	if path != "" {
		if err := loadFile(ko, path); err != nil {
			return nil, err
		}
	}

	// Environment: only the variables that name a key; others (BULWARK_TEST_…)
	// belong to tools and tests and are left alone.
	for _, k := range Keys {
		if v, ok := env[k.Env()]; ok {
			if err := ko.Set(k.Name, v); err != nil {
				return nil, err
			}
		}
	}
	if fs != nil {
		for _, k := range Keys {
			if k.Flag == "" {
				continue
			}
			if f := fs.Lookup(k.Flag); f != nil && f.Changed {
				if err := ko.Set(k.Name, f.Value.String()); err != nil {
					return nil, err
				}
			}
		}
	}
	c, err := decode(ko)
	if err != nil {
		return nil, err
	}
	c.File = path
	return c, nil
}

func loadFile(ko *koanf.Koanf, path string) error {
	fk := koanf.New(".")
	if err := fk.Load(file.Provider(path), yaml.Parser()); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("config file %s: does not exist", path)
		}
		return fmt.Errorf("config file %s: %w", path, err)
	}
	var unknown []string
	for _, name := range fk.Keys() {
		if _, ok := KeyByName(name); !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("config file %s: unknown key %q (see docs/configuration.md for the valid keys)", path, unknown[0])
	}
	return ko.Merge(fk)
}

// decoder reads typed values and remembers the first error, naming the key.
type decoder struct {
	ko  *koanf.Koanf
	err error
}

func (d *decoder) fail(key, format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("config: %s (env %s): %s", key, mustKey(key).Env(), fmt.Sprintf(format, args...))
	}
}

func mustKey(name string) Key {
	k, _ := KeyByName(name)
	return k
}

func (d *decoder) str(key string) string {
	switch v := d.ko.Get(key).(type) {
	case nil:
		return ""
	case string:
		return strings.TrimSpace(v)
	case int, int64, float64, bool:
		return fmt.Sprint(v)
	default:
		d.fail(key, "must be a single value, not %T", v)
		return ""
	}
}

func (d *decoder) list(key string) []string {
	var items []string
	switch v := d.ko.Get(key).(type) {
	case nil:
	case string:
		items = strings.Split(v, ",")
	case []any:
		for _, it := range v {
			items = append(items, fmt.Sprint(it))
		}
	default:
		d.fail(key, "must be a list or a comma-separated string")
	}
	var out []string
	for _, it := range items {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

func (d *decoder) duration(key string, minimum, maximum time.Duration) time.Duration {
	s := d.str(key)
	v, err := time.ParseDuration(s)
	if err != nil {
		d.fail(key, "must be a duration such as 30s, 15m or 12h (got %q)", s)
		return 0
	}
	if v < minimum || v > maximum {
		d.fail(key, "must be between %s and %s (got %s)", minimum, maximum, v)
	}
	return v
}

func (d *decoder) oneOf(key string, allowed ...string) string {
	s := strings.ToLower(d.str(key))
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	d.fail(key, "must be one of %s (got %q)", strings.Join(allowed, ", "), s)
	return s
}

func decode(ko *koanf.Koanf) (*Config, error) {
	d := &decoder{ko: ko}
	c := &Config{
		DataDir:                d.str("data-dir"),
		DatabaseURL:            d.str("database-url"),
		Listen:                 d.str("listen"),
		TLSCertFile:            d.str("tls.cert-file"),
		TLSKeyFile:             d.str("tls.key-file"),
		LogLevel:               d.oneOf("log.level", "debug", "info", "warn", "error"),
		LogFormat:              d.oneOf("log.format", "text", "json"),
		SessionKey:             d.str("secrets.session-key"),
		EncryptionKey:          d.str("secrets.encryption-key"),
		PreviousEncryptionKeys: d.list("secrets.previous-encryption-keys"),
		SessionMaxAge:          d.duration("session.max-age", 5*time.Minute, 30*24*time.Hour),
		SessionSecureCookie:    d.oneOf("session.secure-cookie", "auto", "always", "never"),
		AdminUsername:          d.str("admin.username"),
		AdminPassword:          d.str("admin.password"),
		ShutdownTimeout:        d.duration("shutdown-timeout", 0, 10*time.Minute),
	}
	if c.DataDir == "" {
		d.fail("data-dir", "must not be empty")
	}
	if _, port, err := net.SplitHostPort(c.Listen); err != nil {
		d.fail("listen", "must be host:port or :port (got %q)", c.Listen)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		d.fail("listen", "port must be a number from 0 to 65535 (got %q)", port)
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		d.fail("tls.cert-file", "tls.cert-file and tls.key-file must be set together")
	}
	for _, f := range []struct{ key, path string }{{"tls.cert-file", c.TLSCertFile}, {"tls.key-file", c.TLSKeyFile}} {
		if f.path != "" {
			if _, err := os.Stat(f.path); err != nil {
				d.fail(f.key, "cannot read %s: %v", f.path, errors.Unwrap(err))
			}
		}
	}
	for _, p := range d.list("http.trusted-proxies") {
		pfx, err := netip.ParsePrefix(p)
		if err != nil {
			if a, aerr := netip.ParseAddr(p); aerr == nil {
				pfx = netip.PrefixFrom(a, a.BitLen())
			} else {
				d.fail("http.trusted-proxies", "%q is not a CIDR such as 10.0.0.0/8 or an IP address", p)
				continue
			}
		}
		c.TrustedProxies = append(c.TrustedProxies, pfx.Masked())
	}
	if s := d.str("http.max-body-bytes"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1024 || n > 1<<30 {
			d.fail("http.max-body-bytes", "must be a number of bytes between 1024 and 1073741824 (got %q)", s)
		}
		c.MaxBodyBytes = n
	}
	c.GatewayTimeout = d.duration("gateway.timeout", time.Second, 24*time.Hour)
	c.GatewaySyncInterval = d.duration("gateway.sync-interval", time.Second, time.Hour)
	if s := d.str("gateway.max-body-bytes"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1024 || n > 1<<30 {
			d.fail("gateway.max-body-bytes", "must be a number of bytes between 1024 and 1073741824 (got %q)", s)
		}
		c.GatewayMaxBodyBytes = n
	}
	if tz := d.str("gateway.budget-timezone"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil {
			d.fail("gateway.budget-timezone", "%q is not an IANA time zone such as UTC or Europe/Berlin", tz)
		}
		c.GatewayBudgetTimezone = loc
	}
	c.MCPAllowedCommands = d.list("mcp.allowed-commands")
	c.UsagePricesFile = d.str("usage.prices-file")
	if c.UsagePricesFile != "" {
		if _, err := os.Stat(c.UsagePricesFile); err != nil {
			d.fail("usage.prices-file", "cannot read %s: %v", c.UsagePricesFile, errors.Unwrap(err))
		}
	}
	c.TracingEndpoint = d.str("tracing.otlp-endpoint")
	if c.TracingEndpoint != "" && !strings.HasPrefix(c.TracingEndpoint, "http://") && !strings.HasPrefix(c.TracingEndpoint, "https://") {
		d.fail("tracing.otlp-endpoint", "must be an http:// or https:// URL such as http://127.0.0.1:4318 (got %q)", c.TracingEndpoint)
	}
	c.TracingServiceName = d.str("tracing.service-name")
	if s := d.str("tracing.sample-ratio"); s != "" {
		r, err := strconv.ParseFloat(s, 64)
		if err != nil || r < 0 || r > 1 {
			d.fail("tracing.sample-ratio", "must be a number from 0 to 1 (got %q)", s)
		}
		c.TracingSampleRatio = r
	}
	if c.DatabaseURL != "" && !validDatabaseURL(c.DatabaseURL) {
		d.fail("database-url", "must start with postgres://, postgresql://, sqlite:// or file:, or be a path to a .db file")
	}
	if d.err != nil {
		return nil, d.err
	}
	return c, nil
}

func validDatabaseURL(s string) bool {
	for _, p := range []string{"postgres://", "postgresql://", "sqlite://", "file:"} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return !strings.Contains(s, "://")
}

// ResolvedDatabaseURL is the database location, defaulting to SQLite in the data dir.
func (c *Config) ResolvedDatabaseURL() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "bulwark.db")
}

// TLS reports whether the admin listener serves HTTPS.
func (c *Config) TLS() bool { return c.TLSCertFile != "" }

// SecureCookies reports whether session cookies carry the Secure attribute.
func (c *Config) SecureCookies() bool {
	switch c.SessionSecureCookie {
	case "always":
		return true
	case "never":
		return false
	}
	return c.TLS()
}
