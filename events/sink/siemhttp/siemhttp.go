// Package siemhttp is the sink for SIEM collectors that take events over
// HTTP(S): a QRadar "HTTP Receiver" log source fed LEEF 2.0 lines, an HTTP
// collector in front of ArcSight fed CEF lines, or any receiver of JSON
// (newline-delimited or an array) with custom and secret headers and
// optional basic auth. It owns the request framing, the splitting of a
// batch into bodies of at most max_body_bytes and the header rules; the
// line and JSON encodings come from events/sink/cef and events/sink/format.
package siemhttp

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/cef"
	"github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// Formats of the request body.
const (
	// LEEF is one LEEF 2.0 line per event, each ended by "\n", as
	// text/plain: what a QRadar HTTP Receiver log source splits on.
	LEEF = "leef"
	// CEF is one CEF:0 line per event, each ended by "\n", as text/plain.
	CEF = "cef"
	// NDJSON is one JSON object per event, each ended by "\n", as
	// application/x-ndjson.
	NDJSON = "ndjson"
	// JSON is a JSON array of event objects, as application/json.
	JSON = "json"
)

// Formats lists every format, for validation messages.
var Formats = []string{LEEF, CEF, NDJSON, JSON}

// Limits and defaults.
const (
	DefaultBatch   = 100
	MaxBatchSize   = 10000
	DefaultMaxBody = 1 << 20
	// MinBody is above the longest CEF or LEEF line the encoders can
	// produce (every field at its rune limit in 4-byte runes: 56 KiB of
	// CEF, 64 KiB of LEEF), so only a JSON event can be too large.
	MinBody         = 128 << 10
	MaxBodyLimit    = 100 << 20
	userAgent       = "Bulwark-SIEM-HTTP/1"
	contentTypeText = "text/plain; charset=utf-8"
)

// Config is one SIEM HTTP integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// URL receives the POSTs (a QRadar HTTP Receiver listens on
	// https://<collector>:12469/ by default).
	URL string `json:"url"`
	// Format is the body: leef, cef, ndjson or json (an array).
	Format string `json:"format" enum:"leef,cef,ndjson,json" help:"Body: leef or cef lines (text/plain), ndjson (one JSON object per line) or json (an array)."`
	// BodyFormat is the shape of each JSON object for ndjson and json:
	// native (default), ecs or ocsf. It has no meaning for lines.
	BodyFormat string `json:"body_format,omitempty" enum:"native,ecs,ocsf" help:"Shape of each JSON event for ndjson and json (default native)."`
	// Headers are added to every request. They are stored in plain text:
	// put credentials in SecretHeaders.
	Headers map[string]string `json:"headers,omitempty" help:"Extra headers, stored in plain text; put credentials in secret_headers."`
	// SecretHeaders are more headers, one "Name: value" per line (an API
	// key, "Authorization: Bearer …"), kept encrypted at rest. A name may
	// not be in both.
	SecretHeaders string `json:"secret_headers,omitempty" help:"Headers holding credentials, one Name: value per line; stored encrypted."`
	// Username and Password are HTTP basic credentials; Password is secret.
	Username string `json:"username,omitempty" help:"Basic auth user (with password)."`
	Password string `json:"password,omitempty" help:"Basic auth password."`
	// MaxBatch is how many events one delivery carries (default 100).
	MaxBatch int `json:"max_batch,omitempty" help:"Events per delivery, 1-10000 (default 100)."`
	// MaxBodyBytes bounds one request body; a delivery whose events do
	// not fit is sent as several requests (default 1 MiB).
	MaxBodyBytes int `json:"max_body_bytes,omitempty" help:"Largest request body in bytes; bigger batches are split (default 1 MiB, at least 128 KiB)."`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `json:"timeout,omitempty"`
	TLS     wire.TLS      `json:"tls"`
}

// ParseSecretHeaders reads the secret_headers setting.
func ParseSecretHeaders(s string) (map[string]string, error) {
	return wire.ParseSecretHeaders(s, nil)
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if err := wire.ValidateURL("url", c.URL); err != nil {
		return err
	}
	if u, _ := neturl.Parse(c.URL); u.User != nil {
		return errors.New("url must not carry credentials; use username and password")
	}
	if c.Format == "" {
		return fmt.Errorf("format is required: one of %s", strings.Join(Formats, ", "))
	}
	if !slices.Contains(Formats, c.Format) {
		return fmt.Errorf("format must be one of %s, got %q", strings.Join(Formats, ", "), c.Format)
	}
	if err := format.Validate("body_format", c.BodyFormat); err != nil {
		return err
	}
	if c.BodyFormat != "" && (c.Format == LEEF || c.Format == CEF) {
		return fmt.Errorf("body_format applies to the ndjson and json formats only; remove it for %s", c.Format)
	}
	for k, v := range c.Headers {
		if err := wire.CheckHeader("headers", k, v, nil); err != nil {
			return err
		}
	}
	secretHeaders, err := ParseSecretHeaders(c.SecretHeaders)
	if err != nil {
		return err
	}
	for k := range c.Headers {
		if _, dup := secretHeaders[http.CanonicalHeaderKey(k)]; dup {
			return fmt.Errorf("secret_headers: %q is also in headers; keep it in one place", k)
		}
	}
	if c.Username == "" && c.Password != "" {
		return errors.New("username is required with a password")
	}
	if c.Username != "" && c.Password == "" {
		return errors.New("password is required with a username")
	}
	if strings.ContainsAny(c.Username, ":") || strings.IndexFunc(c.Username, func(r rune) bool { return r < ' ' || r == 0x7f }) >= 0 {
		return errors.New("username must not contain ':' or control characters")
	}
	if c.Username != "" {
		if _, ok := secretHeaders["Authorization"]; ok {
			return errors.New("secret_headers: Authorization conflicts with username and password; use one")
		}
		for k := range c.Headers {
			if strings.EqualFold(k, "Authorization") {
				return errors.New("headers: Authorization conflicts with username and password; use one")
			}
		}
	}
	if c.MaxBatch < 0 || c.MaxBatch > MaxBatchSize {
		return fmt.Errorf("max_batch must be between 1 and %d (0 for the default %d)", MaxBatchSize, DefaultBatch)
	}
	if c.MaxBodyBytes != 0 && (c.MaxBodyBytes < MinBody || c.MaxBodyBytes > MaxBodyLimit) {
		return fmt.Errorf("max_body_bytes must be between %d and %d (0 for the default %d)", MinBody, MaxBodyLimit, DefaultMaxBody)
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return c.TLS.Validate()
}

type sink struct {
	cfg    Config
	header http.Header
	client *http.Client
}

// New validates cfg and returns the sink.
func New(cfg Config) (events.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("siem_http %q: %w", cfg.Name, err)
	}
	c, err := wire.NewClient(cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultBatch
	}
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = DefaultMaxBody
	}
	h := http.Header{}
	for k, v := range cfg.Headers {
		h.Set(k, v)
	}
	secretHeaders, _ := ParseSecretHeaders(cfg.SecretHeaders)
	for k, v := range secretHeaders {
		h.Set(k, v)
	}
	if cfg.Username != "" {
		h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password)))
	}
	if h.Get("User-Agent") == "" {
		h.Set("User-Agent", userAgent)
	}
	h.Set("Content-Type", ContentType(cfg.Format))
	return &sink{cfg: cfg, header: h, client: c}, nil
}

// ContentType is the Content-Type of a body in format f.
func ContentType(f string) string {
	switch f {
	case NDJSON:
		return "application/x-ndjson"
	case JSON:
		return "application/json"
	}
	return contentTypeText
}

func (s *sink) Name() string { return s.cfg.Name }

func (s *sink) MaxBatch() int { return s.cfg.MaxBatch }

// record encodes one event without its separator.
func (s *sink) record(ev *bulwark.Event) ([]byte, error) {
	switch s.cfg.Format {
	case LEEF:
		return []byte(cef.LEEF(ev)), nil
	case CEF:
		return []byte(cef.CEF(ev)), nil
	}
	// json.Marshal escapes U+2028/U+2029 and every control character, so
	// a JSON record never holds a line break; the bus stores event data
	// as valid UTF-8 JSON.
	return format.Marshal(s.cfg.BodyFormat, ev)
}

// bodies encodes evs and splits them into request bodies of at most
// MaxBodyBytes, keeping their order. An event too large for any body is a
// permanent failure: no receiver bound by that limit would take it.
func (s *sink) bodies(evs []bulwark.Event) ([][]byte, error) {
	var out [][]byte
	var cur bytes.Buffer
	open, sep, end := "", "\n", "\n"
	if s.cfg.Format == JSON {
		open, sep, end = "[", ",", "]"
	}
	n := 0 // records in cur
	for i := range evs {
		rec, err := s.record(&evs[i])
		if err != nil {
			return nil, err
		}
		if len(open)+len(rec)+len(end) > s.cfg.MaxBodyBytes {
			return nil, fmt.Errorf("event %s is %d bytes encoded, more than max_body_bytes %d; raise max_body_bytes", evs[i].ID, len(rec), s.cfg.MaxBodyBytes)
		}
		if n > 0 && cur.Len()+len(sep)+len(rec)+len(end) > s.cfg.MaxBodyBytes {
			cur.WriteString(end)
			out = append(out, bytes.Clone(cur.Bytes()))
			cur.Reset()
			n = 0
		}
		if n == 0 {
			cur.WriteString(open)
		} else {
			cur.WriteString(sep)
		}
		cur.Write(rec)
		n++
	}
	if n > 0 {
		cur.WriteString(end)
		out = append(out, cur.Bytes())
	}
	return out, nil
}

// Deliver posts evs in one request, or in several when they exceed
// max_body_bytes. The batch counts as delivered only when every request is
// accepted; a failure part-way re-sends the whole batch later (receivers
// de-duplicate on the event id).
func (s *sink) Deliver(ctx context.Context, evs []bulwark.Event) error {
	if len(evs) == 0 {
		return nil
	}
	bodies, err := s.bodies(evs)
	if err != nil {
		return &events.DeliveryError{Permanent: true, Err: err}
	}
	for _, body := range bodies {
		resp, err := wire.Post(ctx, s.client, s.cfg.URL, s.header.Clone(), body)
		if err != nil {
			return err
		}
		if err := resp.Failure(""); err != nil {
			return err
		}
	}
	return nil
}
