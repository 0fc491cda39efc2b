package siem

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// HECEvent is one event object of a HEC /services/collector/event request.
type HECEvent struct {
	Time       float64         `json:"-"`
	TimeRaw    json.RawMessage `json:"time"`
	Host       string          `json:"host,omitempty"`
	Source     string          `json:"source,omitempty"`
	Sourcetype string          `json:"sourcetype,omitempty"`
	Index      string          `json:"index,omitempty"`
	Event      json.RawMessage `json:"event"`
	// Channel is the request's X-Splunk-Request-Channel.
	Channel string `json:"-"`
}

// HEC is a Splunk HTTP Event Collector. It requires "Authorization: Splunk
// <token>", POST /services/collector/event with JSON content, and a body of
// concatenated event objects (no array, nothing but whitespace between
// them); it answers with HEC's {"text","code"} bodies.
type HEC struct {
	faults
	token string
	// RequireChannel demands a GUID X-Splunk-Request-Channel (indexer
	// acknowledgement on), answering code 10 otherwise.
	RequireChannel bool
	// Indexes, when set, are the only indexes the token may write.
	Indexes []string
	// Ack turns indexer acknowledgement on for the token, as Splunk does:
	// an event request then needs a channel (code 10 otherwise) and its
	// answer carries an "ackId" counting from 0 per channel; POST
	// /services/collector/ack?channel=<guid> with {"acks":[ids]} answers
	// {"acks":{"<id>":bool}}. Without Ack the ack endpoint answers 400
	// code 14 "ACK is disabled".
	Ack bool
	// AckAfter is how many ack queries answer false for an id before it
	// reads true (0: true on the first query). An id read as true is
	// forgotten, as Splunk does, so a later query answers false.
	AckAfter int
	// NeverAck keeps every id false: the events were "lost" before being
	// indexed.
	NeverAck bool

	events   []HECEvent
	batches  []int
	lastBody []byte
	acks     map[string]*hecChannel
	ackPolls int
}

// hecChannel is one channel's pending ackIds: id → queries answered false.
type hecChannel struct {
	next    int64
	pending map[int64]int
}

// NewHEC accepts token.
func NewHEC(token string) *HEC { return &HEC{faults: newFaults(), token: token} }

// Events are the events accepted, in order.
func (h *HEC) Events() []HECEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]HECEvent(nil), h.events...)
}

// Batches are the sizes of the requests accepted, in order.
func (h *HEC) Batches() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]int(nil), h.batches...)
}

// LastBody is the raw body of the last accepted request.
func (h *HEC) LastBody() []byte {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]byte(nil), h.lastBody...)
}

var guid = regexp.MustCompile(`^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$`)

func hecAnswer(w http.ResponseWriter, status int, code int, text string, extra ...any) {
	body := map[string]any{"text": text, "code": code}
	for i := 0; i+1 < len(extra); i += 2 {
		body[extra[i].(string)] = extra[i+1]
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func hecFault(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusServiceUnavailable:
		hecAnswer(w, status, 9, "Server is busy")
	case http.StatusBadRequest:
		hecAnswer(w, status, 6, "Invalid data format", "invalid-event-number", 0)
	case http.StatusTooManyRequests:
		hecAnswer(w, status, 9, "Server is busy")
	default:
		hecAnswer(w, status, 8, "Internal server error")
	}
}

// AckPolls counts the requests to the ack endpoint that were answered 200.
func (h *HEC) AckPolls() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ackPolls
}

// PendingAcks is how many ackIds have not been read as true yet.
func (h *HEC) PendingAcks() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, c := range h.acks {
		n += len(c.pending)
	}
	return n
}

// authorize checks the token; it answers and returns false when it fails.
func (h *HEC) authorize(w http.ResponseWriter, r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	if auth == "" {
		h.reject("no Authorization")
		hecAnswer(w, http.StatusUnauthorized, 2, "Token is required")
		return false
	}
	if scheme, tok, _ := strings.Cut(auth, " "); scheme != "Splunk" || tok != h.token {
		h.reject("bad Authorization " + auth)
		hecAnswer(w, http.StatusForbidden, 4, "Invalid token")
		return false
	}
	return true
}

func (h *HEC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inject(w, r, hecFault) {
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == "/services/collector/ack" {
		h.serveAck(w, r)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/services/collector/event" {
		h.reject(r.Method + " " + r.URL.Path)
		hecAnswer(w, http.StatusNotFound, 404, "The requested URL was not found on this server.")
		return
	}
	if !h.authorize(w, r) {
		return
	}
	ch := r.Header.Get("X-Splunk-Request-Channel")
	if ch != "" && !guid.MatchString(ch) || (h.RequireChannel || h.Ack) && ch == "" {
		h.reject("bad channel " + ch)
		hecAnswer(w, http.StatusBadRequest, 10, "Data channel is missing")
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.reject("content-type " + r.Header.Get("Content-Type"))
		hecAnswer(w, http.StatusBadRequest, 6, "Invalid data format")
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		hecAnswer(w, http.StatusBadRequest, 6, "Invalid data format")
		return
	}
	evs, n, code, err := h.parse(body)
	if err != nil {
		h.reject(fmt.Sprintf("event %d: %v", n, err))
		switch code {
		case 5:
			hecAnswer(w, http.StatusBadRequest, 5, "No data")
		case 7:
			hecAnswer(w, http.StatusBadRequest, 7, "Incorrect index", "invalid-event-number", n)
		default:
			hecAnswer(w, http.StatusBadRequest, 6, "Invalid data format", "invalid-event-number", n)
		}
		return
	}
	for i := range evs {
		evs[i].Channel = ch
	}
	h.mu.Lock()
	h.events = append(h.events, evs...)
	h.batches = append(h.batches, len(evs))
	h.lastBody = body
	if !h.Ack {
		h.mu.Unlock()
		hecAnswer(w, http.StatusOK, 0, "Success")
		return
	}
	if h.acks == nil {
		h.acks = map[string]*hecChannel{}
	}
	c := h.acks[strings.ToLower(ch)]
	if c == nil {
		c = &hecChannel{pending: map[int64]int{}}
		h.acks[strings.ToLower(ch)] = c
	}
	id := c.next
	c.next++
	c.pending[id] = 0
	h.mu.Unlock()
	hecAnswer(w, http.StatusOK, 0, "Success", "ackId", id)
}

// serveAck answers an indexer acknowledgement query. The channel comes
// from the query string or the X-Splunk-Request-Channel header; the body
// must be exactly {"acks":[<non-negative integers>]}.
func (h *HEC) serveAck(w http.ResponseWriter, r *http.Request) {
	if !h.authorize(w, r) {
		return
	}
	if !h.Ack {
		h.reject("ack query with acknowledgement off")
		hecAnswer(w, http.StatusBadRequest, 14, "ACK is disabled")
		return
	}
	ch, hc := r.URL.Query().Get("channel"), r.Header.Get("X-Splunk-Request-Channel")
	if ch == "" {
		ch = hc
	} else if hc != "" && !strings.EqualFold(hc, ch) {
		h.reject("channel in query and header differ")
		hecAnswer(w, http.StatusBadRequest, 11, "Invalid data channel")
		return
	}
	if !guid.MatchString(ch) {
		h.reject("ack query: bad channel " + ch)
		hecAnswer(w, http.StatusBadRequest, 10, "Data channel is missing")
		return
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	var q struct {
		Acks *[]int64 `json:"acks"`
	}
	if err := dec.Decode(&q); err != nil || q.Acks == nil || len(*q.Acks) == 0 || dec.More() {
		h.reject(fmt.Sprintf("ack query body: %v", err))
		hecAnswer(w, http.StatusBadRequest, 6, "Invalid data format")
		return
	}
	out := map[string]bool{}
	h.mu.Lock()
	c := h.acks[strings.ToLower(ch)]
	for _, id := range *q.Acks {
		if id < 0 {
			h.mu.Unlock()
			h.reject(fmt.Sprintf("ack query: negative id %d", id))
			hecAnswer(w, http.StatusBadRequest, 6, "Invalid data format")
			return
		}
		key := strconv.FormatInt(id, 10)
		polls, ok := 0, false
		if c != nil {
			polls, ok = c.pending[id]
		}
		switch {
		case !ok || h.NeverAck:
			out[key] = false
		case polls >= h.AckAfter:
			out[key] = true
			delete(c.pending, id)
		default:
			out[key] = false
			c.pending[id] = polls + 1
		}
	}
	h.ackPolls++
	h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	_ = json.NewEncoder(w).Encode(map[string]any{"acks": out})
}

// parse reads concatenated JSON objects strictly.
func (h *HEC) parse(body []byte) ([]HECEvent, int, int, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, 0, 5, fmt.Errorf("no data")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var out []HECEvent
	for n := 0; ; n++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err == io.EOF {
			return out, n, 0, nil
		} else if err != nil {
			return nil, n, 6, err
		}
		if raw[0] != '{' {
			return nil, n, 6, fmt.Errorf("not a JSON object (arrays and scalars are not HEC events)")
		}
		ed := json.NewDecoder(bytes.NewReader(raw))
		ed.DisallowUnknownFields()
		var ev HECEvent
		if err := ed.Decode(&ev); err != nil {
			return nil, n, 6, err
		}
		if len(ev.TimeRaw) > 0 {
			t, err := strconv.ParseFloat(string(ev.TimeRaw), 64)
			if err != nil || t <= 0 {
				return nil, n, 6, fmt.Errorf("time %s is not epoch seconds as a number", ev.TimeRaw)
			}
			ev.Time = t
		}
		if len(ev.Event) == 0 || string(ev.Event) == "null" || string(ev.Event) == `""` {
			return nil, n, 6, fmt.Errorf("event field missing or empty")
		}
		if len(h.Indexes) > 0 && ev.Index != "" {
			ok := false
			for _, ix := range h.Indexes {
				ok = ok || ix == ev.Index
			}
			if !ok {
				return nil, n, 7, fmt.Errorf("index %q not allowed", ev.Index)
			}
		}
		out = append(out, ev)
	}
}
