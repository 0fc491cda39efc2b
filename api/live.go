package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/events"
)

// LiveSource is the event bus as the live feed sees it.
type LiveSource interface {
	Subscribe(buffer int) *events.Subscription
}

// LiveEvent is one event as the live feed sends it.
type LiveEvent struct {
	ID       string          `json:"id"`
	Time     time.Time       `json:"time"`
	Type     string          `json:"type"`
	Action   string          `json:"action"`
	Severity string          `json:"severity"`
	Category string          `json:"category,omitempty"`
	Actor    string          `json:"actor,omitempty"`
	Subject  string          `json:"subject,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

const (
	defaultHeartbeat = 15 * time.Second
	liveBuffer       = 256
)

// StopLive ends every open live stream (at shutdown, so that
// http.Server.Shutdown does not wait for them) and refuses new ones.
func (s *Server) StopLive() {
	s.liveOnce.Do(func() { close(s.liveStop) })
}

// live serves GET /api/v1/live: a text/event-stream of every event
// published on the bus after the connection opened. It needs a signed-in
// viewer or higher (session cookie, or a bearer token in the header; never a
// token in the URL). Each event is one "message" with the event UUID as id
// and the JSON of LiveEvent as data; a comment line every 15 s keeps proxies
// from closing an idle stream.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	switch {
	case p == nil:
		w.Header().Set("WWW-Authenticate", `Bearer realm="bulwark"`)
		writeError(w, http.StatusUnauthorized, bulwark.CodeUnauthenticated, "not signed in: log in or send an API token")
		return
	case p.User.MustChangePassword:
		writeError(w, http.StatusForbidden, bulwark.CodePasswordChangeRequired, "you must change your password first (POST /api/v1/auth/password)")
		return
	case !p.Allows(bulwark.RoleViewer):
		writeError(w, http.StatusForbidden, bulwark.CodeForbidden, "your role ("+string(p.User.Role)+") may not do this; it needs viewer")
		return
	case s.o.Live == nil:
		writeError(w, http.StatusServiceUnavailable, bulwark.CodeUnavailable, "the live feed is not available")
		return
	}
	select {
	case <-s.liveStop:
		writeError(w, http.StatusServiceUnavailable, bulwark.CodeUnavailable, "the server is shutting down")
		return
	default:
	}

	rc := http.NewResponseController(w)
	// A stream outlives the server's read and write timeouts.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})

	sub := s.o.Live.Subscribe(liveBuffer)
	defer sub.Close()

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	// Reconnect after 3 s when the stream breaks.
	if _, err := fmt.Fprint(w, "retry: 3000\n: connected\n\n"); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}

	beat := s.o.LiveHeartbeat
	if beat <= 0 {
		beat = defaultHeartbeat
	}
	t := time.NewTicker(beat)
	defer t.Stop()
	ctx := r.Context()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.liveStop:
			return
		case <-t.C:
			if _, err := fmt.Fprint(w, ": heartbeat\n\n"); err != nil {
				return
			}
		case ev, ok := <-sub.C:
			if !ok {
				return
			}
			data, err := json.Marshal(LiveEvent{ID: ev.ID, Time: ev.Time, Type: string(ev.Type), Action: ev.Action,
				Severity: string(ev.Severity), Category: ev.Category, Actor: ev.Actor, Subject: ev.Subject, Data: ev.Data})
			if err != nil {
				continue
			}
			if _, err := fmt.Fprintf(w, "id: %s\ndata: %s\n\n", ev.ID, data); err != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}
