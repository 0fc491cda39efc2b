// Package splunk sends events to a Splunk HTTP Event Collector (HEC) as
// concatenated-JSON batches to /services/collector/event.
package splunk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	DefaultBatch      = 100
	MaxBatchSize      = 10000
	DefaultSource     = "bulwark"
	DefaultSourcetype = "bulwark:event"
	endpoint          = "/services/collector/event"
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
	client *http.Client
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
	u := strings.TrimRight(cfg.URL, "/")
	if !strings.HasSuffix(u, endpoint) {
		u += endpoint
	}
	return &splunk{cfg: cfg, url: u, client: c}, nil
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
	return resp.Failure(detail(resp.Body))
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
