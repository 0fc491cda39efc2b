package siem

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WebhookEvent is the body shape the generic webhook sink documents.
type WebhookEvent struct {
	ID       string          `json:"id"`
	Time     string          `json:"time"`
	Type     string          `json:"type"`
	Action   string          `json:"action"`
	Severity string          `json:"severity"`
	Category string          `json:"category,omitempty"`
	Actor    string          `json:"actor,omitempty"`
	Subject  string          `json:"subject"`
	Data     json.RawMessage `json:"data"`
}

// WebhookDelivery is one accepted request.
type WebhookDelivery struct {
	MsgID     string
	Timestamp int64
	Header    http.Header
	Events    []WebhookEvent
	// Raw holds each event's JSON as sent (with AnyShape, the only record).
	Raw []json.RawMessage
}

// Webhook is a Standard Webhooks (https://www.standardwebhooks.com)
// consumer. It verifies webhook-id, webhook-timestamp (within Tolerance) and
// webhook-signature against its secrets, written here independently of the
// sink: signed content is "{id}.{timestamp}.{body}", the key is the base64
// after "whsec_", and any one of the space-separated "v1,<base64>"
// signatures must match.
type Webhook struct {
	faults
	secrets   [][]byte
	batch     bool
	Tolerance time.Duration
	// AnyShape accepts any JSON object per event (the ecs and ocsf formats)
	// instead of the native envelope; signatures are still verified.
	AnyShape bool

	delivered []WebhookDelivery
}

// NewWebhook verifies with any of secrets ("whsec_…"). With batch the body
// must be a JSON array of events, otherwise one event object.
func NewWebhook(batch bool, secrets ...string) *Webhook {
	w := &Webhook{faults: newFaults(), batch: batch, Tolerance: 5 * time.Minute}
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || !strings.HasPrefix(s, "whsec_") {
			panic("siem: bad whsec_ secret " + s)
		}
		w.secrets = append(w.secrets, key)
	}
	return w
}

// Deliveries are the requests accepted, in order.
func (h *Webhook) Deliveries() []WebhookDelivery {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]WebhookDelivery(nil), h.delivered...)
}

func webhookError(w http.ResponseWriter, status int) {
	http.Error(w, http.StatusText(status), status)
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inject(w, r, webhookError) {
		return
	}
	d, status, err := h.check(r)
	if err != nil {
		h.reject(err.Error())
		http.Error(w, err.Error(), status)
		return
	}
	h.mu.Lock()
	h.delivered = append(h.delivered, *d)
	h.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (h *Webhook) check(r *http.Request) (*WebhookDelivery, int, error) {
	if r.Method != http.MethodPost {
		return nil, http.StatusMethodNotAllowed, fmt.Errorf("method %s, want POST", r.Method)
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, http.StatusUnsupportedMediaType, fmt.Errorf("content-type %q, want application/json", r.Header.Get("Content-Type"))
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, http.StatusBadRequest, err
	}
	id := r.Header.Get("webhook-id")
	tsRaw := r.Header.Get("webhook-timestamp")
	sigs := r.Header.Get("webhook-signature")
	if id == "" || tsRaw == "" || sigs == "" {
		return nil, http.StatusUnauthorized, fmt.Errorf("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return nil, http.StatusUnauthorized, fmt.Errorf("webhook-timestamp %q is not unix seconds", tsRaw)
	}
	if d := time.Since(time.Unix(ts, 0)); d > h.Tolerance || d < -h.Tolerance {
		return nil, http.StatusUnauthorized, fmt.Errorf("webhook-timestamp %d outside tolerance", ts)
	}
	if !h.verify(id, tsRaw, body, sigs) {
		return nil, http.StatusUnauthorized, fmt.Errorf("no valid signature in %q", sigs)
	}
	d := &WebhookDelivery{MsgID: id, Timestamp: ts, Header: r.Header.Clone()}
	if h.AnyShape {
		return h.anyShape(d, body)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if h.batch {
		if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("[")) {
			return nil, http.StatusBadRequest, fmt.Errorf("batch body must be a JSON array")
		}
		err = dec.Decode(&d.Events)
	} else {
		var ev WebhookEvent
		err = dec.Decode(&ev)
		d.Events = []WebhookEvent{ev}
	}
	if err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("body: %w", err)
	}
	if dec.More() {
		return nil, http.StatusBadRequest, fmt.Errorf("trailing data after the JSON body")
	}
	if len(d.Events) == 0 {
		return nil, http.StatusBadRequest, fmt.Errorf("empty batch")
	}
	for i, ev := range d.Events {
		if ev.ID == "" || ev.Type == "" || ev.Severity == "" || len(ev.Data) == 0 {
			return nil, http.StatusBadRequest, fmt.Errorf("event %d: id, type, severity and data are required", i)
		}
		if _, err := time.Parse(time.RFC3339Nano, ev.Time); err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("event %d: time: %w", i, err)
		}
		if !h.batch && ev.ID != id {
			return nil, http.StatusBadRequest, fmt.Errorf("event id %q differs from webhook-id %q", ev.ID, id)
		}
	}
	return d, 0, nil
}

func (h *Webhook) verify(id, ts string, body []byte, header string) bool {
	for _, key := range h.secrets {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(id + "." + ts + "."))
		m.Write(body)
		want := m.Sum(nil)
		for _, s := range strings.Fields(header) {
			version, sig, ok := strings.Cut(s, ",")
			if !ok || version != "v1" {
				continue
			}
			got, err := base64.StdEncoding.DecodeString(sig)
			if err == nil && hmac.Equal(got, want) {
				return true
			}
		}
	}
	return false
}

// anyShape records body as one object, or an array of objects in batch mode.
func (h *Webhook) anyShape(d *WebhookDelivery, body []byte) (*WebhookDelivery, int, error) {
	if !h.batch {
		body = append(append([]byte("["), body...), ']')
	}
	if err := json.Unmarshal(body, &d.Raw); err != nil || len(d.Raw) == 0 {
		return nil, http.StatusBadRequest, fmt.Errorf("body is not a JSON object or a non-empty array of objects")
	}
	for i, r := range d.Raw {
		if len(r) == 0 || r[0] != '{' {
			return nil, http.StatusBadRequest, fmt.Errorf("event %d is not a JSON object", i)
		}
	}
	return d, 0, nil
}
