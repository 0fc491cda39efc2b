package langfuse

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/bulwarkhq/bulwark/events"
	"github.com/bulwarkhq/bulwark/events/sink/wire"
)

// client posts ingestion batches.
type client struct {
	url    string
	auth   string
	client *http.Client
}

func newClient(c Config) (*client, error) {
	hc, err := wire.NewClient(c.TLS, c.Timeout)
	if err != nil {
		return nil, err
	}
	u := strings.TrimRight(c.Host, "/")
	if !strings.HasSuffix(u, endpoint) {
		u += endpoint
	}
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.PublicKey+":"+c.SecretKey))
	return &client{url: u, auth: auth, client: hc}, nil
}

// ItemError is Langfuse's verdict on one event of a batch.
type ItemError struct {
	ID      string          `json:"id"`
	Status  int             `json:"status"`
	Message string          `json:"message,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

// Retryable reports whether sending the event again may succeed.
func (e ItemError) Retryable() bool { return e.Status == 429 || e.Status == 408 || e.Status >= 500 }

func (e ItemError) String() string {
	msg := e.Message
	if msg == "" && len(e.Error) > 0 {
		msg = wire.Excerpt(string(e.Error), 200)
	}
	return fmt.Sprintf("event %s: HTTP %d %s", e.ID, e.Status, msg)
}

// response is the multi-status answer of the ingestion API.
type response struct {
	Successes []struct {
		ID     string `json:"id"`
		Status int    `json:"status"`
	} `json:"successes"`
	Errors []ItemError `json:"errors"`
}

// send posts one batch. A nil error with no item errors means every event
// was accepted. An error is the whole call's failure (transport, or an HTTP
// status classified by events.HTTPFailure); item errors come from a 207
// multi-status answer, which Langfuse gives even when some events fail.
func (c *client) send(ctx context.Context, batch []Event) ([]ItemError, error) {
	body, err := json.Marshal(map[string]any{"batch": batch})
	if err != nil {
		return nil, &events.DeliveryError{Permanent: true, Err: err}
	}
	h := http.Header{"Content-Type": {"application/json"}, "Authorization": {c.auth}, "User-Agent": {"bulwark"}}
	resp, err := wire.Post(ctx, c.client, c.url, h, body)
	if err != nil {
		return nil, err
	}
	if err := resp.Failure(detail(resp.Body)); err != nil {
		return nil, err
	}
	var r response
	if len(resp.Body) == 0 || json.Unmarshal(resp.Body, &r) != nil {
		if resp.Status == http.StatusMultiStatus {
			// A 207 without its list says nothing about which events
			// failed; sending them all again is safe (ids are stable).
			return nil, fmt.Errorf("langfuse answered 207 without a readable result list: %s", wire.Excerpt(string(resp.Body), 200))
		}
		return nil, nil
	}
	return r.Errors, nil
}

// detail renders Langfuse's error body {"message":…} or {"error":…}.
func detail(b []byte) string {
	var e struct {
		Message string `json:"message"`
		Error   any    `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	if e.Message != "" {
		return e.Message
	}
	if e.Error != nil {
		raw, _ := json.Marshal(e.Error)
		return wire.Excerpt(string(raw), 300)
	}
	return ""
}
