// Package webhook is the generic JSON webhook sink, signed per the Standard
// Webhooks specification (https://www.standardwebhooks.com): headers
// webhook-id, webhook-timestamp and webhook-signature, "whsec_" secrets and
// several signatures during rotation.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// SecretPrefix starts every signing secret.
const SecretPrefix = "whsec_"

// MaxBatchSize caps Config.Batch.
const MaxBatchSize = 1000

// Config is one webhook integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// URL receives POSTs.
	URL string `json:"url"`
	// Secrets are "whsec_<base64>" signing keys; every one signs each
	// request, so during rotation list the new and the old until receivers
	// have switched. At least one is required.
	Secrets []string `json:"secrets"`
	// Headers are added to every request. They are stored in plain text:
	// put credentials in SecretHeaders. They may not replace the signature,
	// framing or hop-by-hop headers.
	Headers map[string]string `json:"headers,omitempty"`
	// SecretHeaders are more headers, one "Name: value" per line (e.g. a
	// SOAR's "Authorization: Bearer …"), kept encrypted at rest. Same rules
	// as Headers; a name may not be in both.
	SecretHeaders string `json:"secret_headers,omitempty" help:"Headers holding credentials, one Name: value per line; stored encrypted."`
	// Format is the body shape: native (default), ecs or ocsf.
	Format string `json:"format,omitempty" enum:"native,ecs,ocsf" help:"Body shape (default native)."`
	// Batch > 1 sends up to that many events per request as a JSON array;
	// 0 or 1 sends one event object per request.
	Batch int `json:"batch,omitempty"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `json:"timeout,omitempty"`
	TLS     wire.TLS      `json:"tls"`
}

// reservedHeader: what HTTP and the body framing own, and every webhook-*
// name (the signature).
func reservedHeader(name string) bool {
	return wire.FramingHeader(name) || strings.HasPrefix(strings.ToLower(name), "webhook-")
}

// ParseSecretHeaders reads the secret_headers setting.
func ParseSecretHeaders(s string) (map[string]string, error) {
	return wire.ParseSecretHeaders(s, reservedHeader)
}

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if err := wire.ValidateURL("url", c.URL); err != nil {
		return err
	}
	if len(c.Secrets) == 0 {
		return errors.New("secrets: at least one whsec_ secret is required")
	}
	for i, s := range c.Secrets {
		if _, err := decodeSecret(s); err != nil {
			return fmt.Errorf("secrets[%d]: %w", i, err)
		}
	}
	for k, v := range c.Headers {
		if err := wire.CheckHeader("headers", k, v, reservedHeader); err != nil {
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
	if err := format.Validate("format", c.Format); err != nil {
		return err
	}
	if c.Batch < 0 || c.Batch > MaxBatchSize {
		return fmt.Errorf("batch must be between 0 and %d", MaxBatchSize)
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return c.TLS.Validate()
}

func decodeSecret(s string) ([]byte, error) {
	if !strings.HasPrefix(s, SecretPrefix) {
		return nil, errors.New("must start with " + SecretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, SecretPrefix))
	if err != nil {
		return nil, errors.New("the part after " + SecretPrefix + " must be standard base64")
	}
	if len(key) < 24 || len(key) > 64 {
		return nil, fmt.Errorf("key is %d bytes; the spec asks for 24 to 64", len(key))
	}
	return key, nil
}

type webhook struct {
	cfg    Config
	keys   [][]byte
	header http.Header // custom headers, plain and secret
	client *http.Client
	now    func() time.Time
}

// New validates cfg and returns the sink.
func New(cfg Config) (events.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("webhook %q: %w", cfg.Name, err)
	}
	c, err := wire.NewClient(cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	w := &webhook{cfg: cfg, client: c, now: time.Now, header: http.Header{}}
	for k, v := range cfg.Headers {
		w.header.Set(k, v)
	}
	secretHeaders, _ := ParseSecretHeaders(cfg.SecretHeaders)
	for k, v := range secretHeaders {
		w.header.Set(k, v)
	}
	for _, s := range cfg.Secrets {
		k, _ := decodeSecret(s)
		w.keys = append(w.keys, k)
	}
	return w, nil
}

func (w *webhook) Name() string { return w.cfg.Name }

func (w *webhook) MaxBatch() int { return max(w.cfg.Batch, 1) }

func (w *webhook) Deliver(ctx context.Context, evs []bulwark.Event) error {
	if len(evs) == 0 {
		return nil
	}
	if w.cfg.Batch <= 1 {
		for i := range evs {
			body, err := format.Marshal(w.cfg.Format, &evs[i])
			if err != nil {
				return &events.DeliveryError{Permanent: true, Err: err}
			}
			if err := w.post(ctx, evs[i].ID, body); err != nil {
				return err
			}
		}
		return nil
	}
	list := make([]any, len(evs))
	for i := range evs {
		b, err := format.Body(w.cfg.Format, &evs[i])
		if err != nil {
			return &events.DeliveryError{Permanent: true, Err: err}
		}
		list[i] = b
	}
	body, err := json.Marshal(list)
	if err != nil {
		return &events.DeliveryError{Permanent: true, Err: err}
	}
	return w.post(ctx, BatchID(evs), body)
}

// BatchID is the webhook-id of a batch: "batch_" and a digest of the event
// ids, so the same batch retried keeps its id. Each element still carries
// its own event id for de-duplication.
func BatchID(evs []bulwark.Event) string {
	h := sha256.New()
	for i := range evs {
		h.Write([]byte(evs[i].ID))
		h.Write([]byte{0})
	}
	return "batch_" + hex.EncodeToString(h.Sum(nil)[:16])
}

// Sign returns the webhook-signature value for id, timestamp and body: one
// "v1,<base64 HMAC-SHA256>" per key, space-separated.
func Sign(keys [][]byte, id string, ts int64, body []byte) string {
	content := id + "." + strconv.FormatInt(ts, 10) + "."
	sigs := make([]string, len(keys))
	for i, k := range keys {
		m := hmac.New(sha256.New, k)
		m.Write([]byte(content))
		m.Write(body)
		sigs[i] = "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
	}
	return strings.Join(sigs, " ")
}

func (w *webhook) post(ctx context.Context, id string, body []byte) error {
	ts := w.now().Unix()
	h := w.header.Clone()
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Bulwark-Webhook/1")
	h["webhook-id"] = []string{id}
	h["webhook-timestamp"] = []string{strconv.FormatInt(ts, 10)}
	h["webhook-signature"] = []string{Sign(w.keys, id, ts, body)}
	resp, err := wire.Post(ctx, w.client, w.cfg.URL, h, body)
	if err != nil {
		return err
	}
	return resp.Failure("")
}
