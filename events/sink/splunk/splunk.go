// Package splunk sends events to a Splunk HTTP Event Collector (HEC) as
// concatenated-JSON batches to /services/collector/event and, when indexer
// acknowledgement is on, polls /services/collector/ack until the batch is
// indexed before it counts as delivered.
package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	neturl "net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// Defaults.
const (
	DefaultBatch      = 500
	MaxBatchSize      = 10000
	DefaultSource     = "bulwark"
	DefaultSourcetype = "bulwark:event"
	endpoint          = "/services/collector/event"
	ackEndpoint       = "/services/collector/ack"
	// DefaultAckTimeout bounds the wait for an indexer acknowledgement.
	// It leaves room for the POST inside the dispatcher's 30 s bound of
	// one delivery, so a missing acknowledgement is reported as such.
	DefaultAckTimeout = 20 * time.Second
	// MaxAckTimeout is the most that fits the dispatcher's bound.
	MaxAckTimeout = 25 * time.Second
	ackPollStart  = 500 * time.Millisecond
	ackPollMax    = 5 * time.Second
)

// Config is one Splunk HEC integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// URL is the HEC base URL (https://splunk.example:8088); a URL already
	// ending in /services/collector/event is used as is.
	URL string `json:"url"`
	// Token is the HEC token, sent as "Authorization: Splunk <token>".
	Token string `json:"token"`
	// Index, Source, Sourcetype and Host are set on every event; an empty
	// Index leaves the token's default index.
	Index      string `json:"index,omitempty"`
	Source     string `json:"source,omitempty"`     // default "bulwark"
	Sourcetype string `json:"sourcetype,omitempty"` // default "bulwark:event"
	Host       string `json:"host,omitempty"`       // default the machine's host name
	// Channel is sent as X-Splunk-Request-Channel (a GUID), needed when the
	// token has indexer acknowledgement on.
	Channel string `json:"channel,omitempty"`
	// Ack waits, after each accepted batch, until HEC reports it indexed
	// (the token must have indexer acknowledgement on; needs Channel). A
	// batch not acknowledged within AckTimeout is sent again.
	Ack bool `json:"ack,omitempty" help:"Wait for indexer acknowledgement of each batch (needs channel and a token with acknowledgement on); unacknowledged batches are sent again."`
	// AckTimeout bounds the wait for an acknowledgement (default 20s, at
	// most 25s).
	AckTimeout time.Duration `json:"ack_timeout,omitempty" help:"How long to wait for an acknowledgement before sending the batch again (default 20 s, at most 25 s)."`
	// Format is the shape of the "event" field: native (default), ecs or ocsf.
	Format string `json:"format,omitempty" enum:"native,ecs,ocsf" help:"Shape of the event field (default native)."`
	// MaxBatch is how many events one request carries (default 100).
	MaxBatch int `json:"max_batch,omitempty"`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `json:"timeout,omitempty"`
	TLS     wire.TLS      `json:"tls"`
}

var guid = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if err := wire.ValidateURL("url", c.URL); err != nil {
		return err
	}
	if strings.TrimSpace(c.Token) == "" {
		return errors.New("token is required")
	}
	if strings.ContainsAny(c.Token, " \t\r\n") {
		return errors.New("token must not contain whitespace")
	}
	if c.Channel != "" && !guid.MatchString(c.Channel) {
		return errors.New("channel must be a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
	}
	if c.Ack && c.Channel == "" {
		return errors.New("ack requires channel: set a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx) of your choice")
	}
	if c.AckTimeout < 0 || c.AckTimeout > MaxAckTimeout {
		return fmt.Errorf("ack_timeout must be between 0 (the default %s) and %s: the dispatcher bounds one delivery, acknowledgement included, at 30s", DefaultAckTimeout, MaxAckTimeout)
	}
	if c.Index != "" && strings.ContainsAny(c.Index, " \t\r\n/") {
		return errors.New("index must be a plain index name")
	}
	if err := format.Validate("format", c.Format); err != nil {
		return err
	}
	if c.MaxBatch < 0 || c.MaxBatch > MaxBatchSize {
		return fmt.Errorf("max_batch must be between 1 and %d (0 for the default %d)", MaxBatchSize, DefaultBatch)
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return c.TLS.Validate()
}

type splunk struct {
	cfg    Config
	url    string
	ackURL string
	client *http.Client
	// poll is the first wait before asking for an acknowledgement; it
	// grows by half each time up to ackPollMax. Tests shorten it.
	poll time.Duration
}

// New validates cfg and returns the sink.
func New(cfg Config) (events.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("splunk %q: %w", cfg.Name, err)
	}
	c, err := wire.NewClient(cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultBatch
	}
	if cfg.Source == "" {
		cfg.Source = DefaultSource
	}
	if cfg.Sourcetype == "" {
		cfg.Sourcetype = DefaultSourcetype
	}
	if cfg.Host == "" {
		cfg.Host, _ = os.Hostname()
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = DefaultAckTimeout
	}
	base := strings.TrimSuffix(strings.TrimRight(cfg.URL, "/"), endpoint)
	return &splunk{
		cfg: cfg, url: base + endpoint, client: c, poll: ackPollStart,
		ackURL: base + ackEndpoint + "?channel=" + neturl.QueryEscape(cfg.Channel),
	}, nil
}

func (s *splunk) Name() string { return s.cfg.Name }

func (s *splunk) MaxBatch() int { return s.cfg.MaxBatch }

// hecEvent is one object of the batch.
type hecEvent struct {
	Time       json.RawMessage `json:"time"`
	Host       string          `json:"host,omitempty"`
	Source     string          `json:"source"`
	Sourcetype string          `json:"sourcetype"`
	Index      string          `json:"index,omitempty"`
	Event      any             `json:"event"`
}

// Body is the concatenated-JSON batch for evs: one object per event, each on
// its own line, with no array and no commas.
func (s *splunk) body(evs []bulwark.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // Encode ends each object with "\n"
	for i := range evs {
		ev := &evs[i]
		t := ev.Time
		if t.IsZero() {
			t = time.Now()
		}
		body, err := format.Body(s.cfg.Format, ev)
		if err != nil {
			return nil, err
		}
		err = enc.Encode(hecEvent{
			Time: json.RawMessage(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)),
			Host: s.cfg.Host, Source: s.cfg.Source, Sourcetype: s.cfg.Sourcetype, Index: s.cfg.Index,
			Event: body,
		})
		if err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func (s *splunk) Deliver(ctx context.Context, evs []bulwark.Event) error {
	if len(evs) == 0 {
		return nil
	}
	body, err := s.body(evs)
	if err != nil {
		return &events.DeliveryError{Permanent: true, Err: err}
	}
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {"Splunk " + s.cfg.Token}}
	if s.cfg.Channel != "" {
		h.Set("X-Splunk-Request-Channel", s.cfg.Channel)
	}
	resp, err := wire.Post(ctx, s.client, s.url, h, body)
	if err != nil {
		return err
	}
	if err := resp.Failure(detail(resp.Body)); err != nil || !s.cfg.Ack {
		return err
	}
	var answer struct {
		AckID *int64 `json:"ackId"`
	}
	if json.Unmarshal(resp.Body, &answer) != nil || answer.AckID == nil {
		// The batch was accepted but cannot be confirmed: say so loudly
		// rather than count it delivered unchecked.
		return &events.DeliveryError{Permanent: true, Status: resp.Status,
			Err: errors.New("ack is on but HEC answered without an ackId: turn on indexer acknowledgement for the token, or turn ack off")}
	}
	return s.awaitAck(ctx, h, *answer.AckID)
}

// awaitAck polls the ack endpoint for id until HEC reports it indexed.
// Busy answers (408, 429, 5xx) and network errors are polled through; a
// missing acknowledgement at AckTimeout is a retryable error, so the batch
// is sent again: delivery is at least once, never lost.
func (s *splunk) awaitAck(ctx context.Context, h http.Header, id int64) error {
	deadline := time.Now().Add(s.cfg.AckTimeout)
	body := []byte(`{"acks":[` + strconv.FormatInt(id, 10) + `]}`)
	key := strconv.FormatInt(id, 10)
	wait := s.poll
	last := "no answer yet"
	for {
		t := time.NewTimer(max(min(wait, time.Until(deadline)), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for indexer acknowledgement of ackId %d (%s): %w; the batch will be sent again", id, last, ctx.Err())
		case <-t.C:
		}
		resp, err := wire.Post(ctx, s.client, s.ackURL, h, body)
		switch {
		case err != nil:
			last = err.Error()
		case resp.Status == http.StatusOK:
			var a struct {
				Acks map[string]bool `json:"acks"`
			}
			if json.Unmarshal(resp.Body, &a) != nil || a.Acks == nil {
				last = "unreadable answer: " + wire.Excerpt(string(resp.Body), 100)
				break
			}
			if a.Acks[key] {
				return nil
			}
			last = "not indexed yet"
		default:
			ferr := resp.Failure(detail(resp.Body))
			var de *events.DeliveryError
			if errors.As(ferr, &de) && de.Permanent {
				return fmt.Errorf("indexer acknowledgement of ackId %d: %w", id, ferr)
			}
			last = ferr.Error()
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("no indexer acknowledgement of ackId %d within %s (%s); the batch will be sent again", id, s.cfg.AckTimeout, last)
		}
		wait = min(wait*3/2, ackPollMax)
	}
}

// detail renders HEC's error body {"text":…,"code":n[,"invalid-event-number":i]}.
func detail(b []byte) string {
	var e struct {
		Text    string `json:"text"`
		Code    *int   `json:"code"`
		Invalid *int   `json:"invalid-event-number"`
	}
	if json.Unmarshal(b, &e) != nil || e.Code == nil {
		return ""
	}
	d := fmt.Sprintf("HEC code %d: %s", *e.Code, e.Text)
	if e.Invalid != nil {
		d += fmt.Sprintf(" (event %d of the batch)", *e.Invalid)
	}
	return d
}
