// Package elastic sends events to Elasticsearch or OpenSearch through the
// _bulk API: NDJSON "create" actions keyed by event id, so a retried batch
// cannot index an event twice, with the answer judged item by item.
package elastic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"regexp"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/format"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// Defaults and limits.
const (
	DefaultIndex  = "bulwark-events"
	DefaultBatch  = 500
	MaxBatchSize  = 5000
	DefaultFormat = format.ECS
	// maxAnswer bounds the bulk answer read: a few hundred bytes per item.
	maxAnswer = 8 << 20
)

// Config is one Elasticsearch/OpenSearch integration.
type Config struct {
	// Name is the integration's unique name.
	Name string `json:"name"`
	// URL is the cluster's base URL (https://es.example:9200), without
	// /_bulk; a path prefix in front of the cluster (a proxy) is kept.
	URL string `json:"url" help:"Cluster base URL, e.g. https://es.example:9200 (without /_bulk)."`
	// Index receives the events (default bulwark-events). One {…} part with
	// yyyy, MM and dd is replaced by the event's UTC date, e.g.
	// bulwark-events-{yyyy.MM.dd}. A data stream works too (needs @timestamp:
	// use the ecs format).
	Index string `json:"index,omitempty" help:"Target index or data stream (default bulwark-events); a {yyyy.MM.dd} part is replaced by the event date."`
	// Pipeline is an ingest pipeline to run on every event.
	Pipeline string `json:"pipeline,omitempty" help:"Ingest pipeline run on every event."`
	// Format is the document shape: native, ecs (default) or ocsf.
	Format string `json:"format,omitempty" enum:"native,ecs,ocsf" help:"Document shape (default ecs)."`
	// APIKey is the encoded API key (base64 of id:key, as Kibana shows it),
	// sent as "Authorization: ApiKey <api_key>". Secret.
	APIKey string `json:"api_key,omitempty" help:"Encoded API key (base64 of id:key), sent as Authorization: ApiKey. Or use username and password."`
	// Username and Password are HTTP basic credentials; Password is secret.
	Username string `json:"username,omitempty" help:"Basic auth user (with password)."`
	Password string `json:"password,omitempty" help:"Basic auth password."`
	// MaxBatch is how many events one request carries (default 500).
	MaxBatch int `json:"max_batch,omitempty" help:"Events per _bulk request, 1-5000 (default 500)."`
	// Timeout bounds one request (default 10s).
	Timeout time.Duration `json:"timeout,omitempty"`
	TLS     wire.TLS      `json:"tls"`
}

var (
	datePart    = regexp.MustCompile(`\{([^{}]*)\}`)
	dateTokens  = regexp.MustCompile(`^(yyyy|MM|dd|[.\-_])+$`)
	pipelineRE  = regexp.MustCompile(`^[A-Za-z0-9._\-]+$`)
	badIndexSet = ` "*\<|,>/?#:`
)

// Validate checks every field and names the first bad one.
func (c *Config) Validate() error {
	if strings.TrimSpace(c.Name) == "" {
		return errors.New("name is required")
	}
	if err := wire.ValidateURL("url", c.URL); err != nil {
		return err
	}
	if u, _ := neturl.Parse(c.URL); u.RawQuery != "" || u.User != nil {
		return errors.New("url must not carry a query or credentials; use api_key or username and password")
	}
	if err := validIndex(c.Index); err != nil {
		return err
	}
	if c.Pipeline != "" && !pipelineRE.MatchString(c.Pipeline) {
		return errors.New("pipeline must be a pipeline id (letters, digits, '.', '_', '-')")
	}
	if err := format.Validate("format", c.Format); err != nil {
		return err
	}
	if strings.ContainsAny(c.APIKey, " \t\r\n") {
		return errors.New("api_key must not contain whitespace (use the encoded key)")
	}
	if c.APIKey != "" && (c.Username != "" || c.Password != "") {
		return errors.New("api_key and username/password are exclusive: set one")
	}
	if c.Username == "" && c.Password != "" {
		return errors.New("username is required with a password")
	}
	if c.Username != "" && c.Password == "" {
		return errors.New("password is required with a username")
	}
	if strings.ContainsAny(c.Username, ":\r\n") {
		return errors.New("username must not contain ':' or line breaks")
	}
	if c.MaxBatch < 0 || c.MaxBatch > MaxBatchSize {
		return fmt.Errorf("max_batch must be between 1 and %d (0 for the default %d)", MaxBatchSize, DefaultBatch)
	}
	if c.Timeout < 0 {
		return errors.New("timeout must not be negative")
	}
	return c.TLS.Validate()
}

// validIndex applies Elasticsearch's index name rules to the name with its
// date part filled in.
func validIndex(ix string) error {
	if ix == "" {
		return nil
	}
	parts := datePart.FindAllStringSubmatch(ix, -1)
	if len(parts) > 1 {
		return errors.New("index may hold one {date} part only")
	}
	if len(parts) == 1 && !dateTokens.MatchString(parts[0][1]) {
		return fmt.Errorf("index date part {%s} may use only yyyy, MM, dd and . - _", parts[0][1])
	}
	name := indexFor(ix, time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC))
	switch {
	case strings.ContainsAny(name, badIndexSet+"{}"):
		return fmt.Errorf("index must not contain spaces or any of %s", strings.TrimSpace(badIndexSet))
	case name != strings.ToLower(name):
		return errors.New("index must be lower case")
	case strings.HasPrefix(name, "-") || strings.HasPrefix(name, "_") || strings.HasPrefix(name, "+"):
		return errors.New("index must not start with -, _ or +")
	case name == "." || name == "..":
		return errors.New(`index must not be "." or ".."`)
	case len(name) > 255:
		return errors.New("index must be at most 255 bytes")
	}
	return nil
}

// indexFor fills ix's date part from t (UTC).
func indexFor(ix string, t time.Time) string {
	return datePart.ReplaceAllStringFunc(ix, func(p string) string {
		layout := strings.NewReplacer("yyyy", "2006", "MM", "01", "dd", "02").Replace(strings.Trim(p, "{}"))
		return t.UTC().Format(layout)
	})
}

type elastic struct {
	cfg    Config
	url    string
	auth   string
	client *http.Client
}

// New validates cfg and returns the sink.
func New(cfg Config) (events.Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("elastic %q: %w", cfg.Name, err)
	}
	c, err := wire.NewClient(cfg.TLS, cfg.Timeout)
	if err != nil {
		return nil, err
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = DefaultBatch
	}
	if cfg.Index == "" {
		cfg.Index = DefaultIndex
	}
	if cfg.Format == "" {
		cfg.Format = DefaultFormat
	}
	u := strings.TrimRight(cfg.URL, "/") + "/_bulk"
	// Only what the sink reads: keeps a 5,000-item answer small.
	q := neturl.Values{"filter_path": {"errors,items.*._id,items.*.status,items.*.error.type,items.*.error.reason"}}
	if cfg.Pipeline != "" {
		q.Set("pipeline", cfg.Pipeline)
	}
	e := &elastic{cfg: cfg, url: u + "?" + q.Encode(), client: c}
	switch {
	case cfg.APIKey != "":
		e.auth = "ApiKey " + cfg.APIKey
	case cfg.Username != "":
		e.auth = "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.Username+":"+cfg.Password))
	}
	return e, nil
}

func (e *elastic) Name() string { return e.cfg.Name }

func (e *elastic) MaxBatch() int { return e.cfg.MaxBatch }

// action is a bulk action line.
type action struct {
	Create struct {
		Index string `json:"_index"`
		ID    string `json:"_id"`
	} `json:"create"`
}

// Body is the NDJSON bulk body: an action line and a document line per
// event, each ending in "\n" (the last one too, as _bulk requires).
func (e *elastic) body(evs []bulwark.Event) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf) // one line per value, "\n"-terminated
	enc.SetEscapeHTML(false)
	for i := range evs {
		ev := &evs[i]
		var a action
		a.Create.Index, a.Create.ID = indexFor(e.cfg.Index, ev.Time), ev.ID
		doc, err := format.Body(e.cfg.Format, ev)
		if err != nil {
			return nil, err
		}
		if err := enc.Encode(a); err != nil {
			return nil, err
		}
		if err := enc.Encode(doc); err != nil {
			return nil, err
		}
	}
	return buf.Bytes(), nil
}

func (e *elastic) Deliver(ctx context.Context, evs []bulwark.Event) error {
	if len(evs) == 0 {
		return nil
	}
	body, err := e.body(evs)
	if err != nil {
		return &events.DeliveryError{Permanent: true, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.url, bytes.NewReader(body))
	if err != nil {
		return &events.DeliveryError{Permanent: true, Err: err}
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "Bulwark-Elastic/1")
	if e.auth != "" {
		req.Header.Set("Authorization", e.auth)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		var ue *neturl.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return fmt.Errorf("POST %s/_bulk: %w", wire.Redact(e.cfg.URL), err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("reading the _bulk answer from %s: %w", wire.Redact(e.cfg.URL), err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return failure(resp, answer)
	}
	return judge(evs, answer)
}

// failure classifies a non-2xx answer to the whole request. 401 and 403 are
// credentials or privileges: permanent, as HTTPFailure already says.
func failure(resp *http.Response, answer []byte) error {
	detail := errorDetail(answer)
	if detail == "" {
		detail = wire.Excerpt(string(answer), 300)
	}
	if detail == "" {
		detail = http.StatusText(resp.StatusCode)
	}
	if resp.StatusCode == http.StatusRequestEntityTooLarge {
		detail += " (lower max_batch or raise http.max_content_length)"
	}
	return events.HTTPFailure(resp.StatusCode, wire.RetryAfter(resp.Header.Get("Retry-After"), time.Now()), detail)
}

// esError is Elasticsearch's error object.
type esError struct {
	Type   string `json:"type"`
	Reason string `json:"reason"`
}

func (e *esError) String() string {
	if e.Reason == "" {
		return e.Type
	}
	return e.Type + ": " + wire.Excerpt(e.Reason, 300)
}

// errorDetail renders {"error":{"type","reason"},"status":n} (or OpenSearch's
// older {"error":"text"}).
func errorDetail(b []byte) string {
	var body struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &body) != nil || len(body.Error) == 0 {
		return ""
	}
	var obj esError
	if json.Unmarshal(body.Error, &obj) == nil && obj.Type != "" {
		return obj.String()
	}
	var s string
	if json.Unmarshal(body.Error, &s) == nil {
		return wire.Excerpt(s, 300)
	}
	return ""
}

// bulkAnswer is the part of a _bulk answer the sink reads.
type bulkAnswer struct {
	Errors *bool                     `json:"errors"`
	Items  []map[string]bulkItemBody `json:"items"`
}

type bulkItemBody struct {
	ID     string   `json:"_id"`
	Status int      `json:"status"`
	Error  *esError `json:"error"`
}

// judge reads a 2xx _bulk answer item by item: created (201) and already
// there (409, a retry of a batch that partly succeeded) are delivered; any
// 429 or 5xx item makes the batch retryable (the others answer 409 next
// time); otherwise any other failure is permanent, naming the first.
func judge(evs []bulwark.Event, answer []byte) error {
	var a bulkAnswer
	if err := json.Unmarshal(answer, &a); err != nil || a.Errors == nil {
		// Retrying is safe: creates are idempotent by _id.
		return fmt.Errorf("unreadable _bulk answer (%s): retrying", wire.Excerpt(string(answer), 200))
	}
	if !*a.Errors {
		return nil
	}
	var retry, perm *bulkItemBody
	retryN, permN, retryStatus := 0, 0, 0
	for n := range a.Items {
		for _, it := range a.Items[n] {
			switch {
			case it.Status >= 200 && it.Status < 300, it.Status == http.StatusConflict:
			case it.Status == http.StatusTooManyRequests || it.Status >= 500 || it.Status == http.StatusRequestTimeout:
				retryN++
				if retry == nil {
					retry = &it
					retryStatus = it.Status
				}
			default:
				permN++
				if perm == nil {
					perm = &it
				}
			}
		}
	}
	if len(a.Items) != len(evs) && retry == nil && perm == nil {
		return fmt.Errorf("_bulk answered %d items for %d events: retrying", len(a.Items), len(evs))
	}
	describe := func(it *bulkItemBody, n int, kind string) string {
		reason := "no reason given"
		if it.Error != nil {
			reason = it.Error.String()
		}
		return fmt.Sprintf("%d of %d events %s; first: event %s (HTTP %d) %s", n, len(evs), kind, it.ID, it.Status, reason)
	}
	if retry != nil {
		return &events.DeliveryError{Status: retryStatus, Err: errors.New(describe(retry, retryN, "to retry"))}
	}
	if perm != nil {
		return &events.DeliveryError{Permanent: true, Status: perm.Status, Err: errors.New(describe(perm, permN, "rejected"))}
	}
	return nil
}
