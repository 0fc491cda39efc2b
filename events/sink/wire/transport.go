// Package wire owns what the HTTP sinks share: the TLS settings and HTTP
// client, a bounded POST whose answer is classified for retries, the
// parsing of Retry-After, short excerpts, and the event's JSON envelope.
// It imports only events and the root package, like the sinks.
package wire

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/events"
)

// DefaultTimeout bounds one delivery attempt when a sink's Timeout is zero.
const DefaultTimeout = 10 * time.Second

// MaxResponse is how much of a receiver's answer is read; the rest is
// discarded so a hostile receiver cannot make a sink buffer without bound.
const MaxResponse = 64 << 10

// TLS is how a sink checks the receiver's certificate.
type TLS struct {
	// InsecureSkipVerify accepts any certificate. For tests and labs only.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// CAPEM is one or more PEM certificates trusted in addition to the
	// system roots (a private CA in front of a SIEM).
	CAPEM string `json:"ca_pem,omitempty"`
}

// Validate checks that CAPEM holds at least one certificate.
func (t TLS) Validate() error {
	_, err := t.Config()
	return err
}

// Config is the client TLS configuration every sink uses, over HTTP or
// not: TLS 1.2 or later, the system roots plus CAPEM.
func (t TLS) Config() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: t.InsecureSkipVerify}
	if strings.TrimSpace(t.CAPEM) == "" {
		return c, nil
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM([]byte(t.CAPEM)) {
		return nil, errors.New("tls.ca_pem: no PEM certificate found")
	}
	c.RootCAs = pool
	return c, nil
}

// NewClient builds the HTTP client a sink keeps for its lifetime. Redirects
// are not followed: a receiver that redirects is misconfigured, and following
// would resend credentials elsewhere.
func NewClient(t TLS, timeout time.Duration) (*http.Client, error) {
	tc, err := t.Config()
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	return &http.Client{
		Transport: tr,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// ValidateURL checks that raw is an absolute http or https URL; field names
// the setting in the error.
func ValidateURL(field, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s is required", field)
	}
	u, err := neturl.Parse(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", field, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s must be an absolute http:// or https:// URL", field)
	}
	return nil
}

// Response is a receiver's answer with its body read up to a bound.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Post sends body to url with the given headers. A transport failure is
// returned as a retryable error; any HTTP answer is returned as a Response
// for the sink to judge (usually with Failure).
func Post(ctx context.Context, c *http.Client, url string, h http.Header, body []byte) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, &events.DeliveryError{Permanent: true, Err: err}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		// *url.Error repeats the whole URL, which holds Slack's secret.
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("POST %s: %w", Redact(url), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxResponse))
	if err != nil {
		return nil, fmt.Errorf("reading answer from %s: %w", Redact(url), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Failure classifies r with events.HTTPFailure, using its Retry-After and
// detail (or a short excerpt of the body when detail is empty).
func (r *Response) Failure(detail string) error {
	if r.Status >= 200 && r.Status < 300 {
		return nil
	}
	if detail == "" {
		detail = Excerpt(string(r.Body), 300)
	}
	if detail == "" {
		detail = http.StatusText(r.Status)
	}
	return events.HTTPFailure(r.Status, RetryAfter(r.Header.Get("Retry-After"), time.Now()), detail)
}

// RetryAfter parses a Retry-After value (delay seconds or an HTTP date) into
// a delay from now; 0 when absent, malformed or in the past.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > 24*3600 {
			secs = 24 * 3600
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// Excerpt shortens s to at most n runes, marking the cut with "…".
func Excerpt(s string, n int) string {
	s = strings.TrimSpace(s)
	if n <= 0 {
		return ""
	}
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// Redact drops the path and query of u: Slack puts its secret in the path.
func Redact(raw string) string {
	u, err := neturl.Parse(raw)
	if err != nil {
		return "receiver"
	}
	return u.Scheme + "://" + u.Host
}
