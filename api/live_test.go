package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/api"
	"github.com/bulwarkhq/bulwark/events"
)

// withLive feeds /live from the harness's event bus.
func withLive(beat time.Duration) option {
	return withAPI(func(o *api.Options) {
		o.Live = o.Events.(*events.Bus)
		o.LiveHeartbeat = beat
	})
}

// stream is one open /live connection.
type stream struct {
	resp   *http.Response
	lines  chan string
	cancel context.CancelFunc
	tr     *http.Transport
}

func openLive(t *testing.T, e *env, path string, hdr http.Header) (*http.Response, *stream) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+api.Prefix+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	tr := &http.Transport{}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	s := &stream{resp: resp, lines: make(chan string, 100), cancel: cancel, tr: tr}
	if resp.StatusCode != http.StatusOK {
		close(s.lines)
		return resp, s
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
	}()
	return resp, s
}

func (s *stream) close() {
	s.cancel()
	_ = s.resp.Body.Close()
	for range s.lines { // wait for the reader goroutine
	}
	s.tr.CloseIdleConnections()
}

// next returns the next line starting with prefix, skipping others.
func (s *stream) next(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case l, ok := <-s.lines:
			if !ok {
				t.Fatalf("stream ended while waiting for %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return strings.TrimPrefix(l, prefix)
			}
		case <-timeout:
			t.Fatalf("no %q line within 5s", prefix)
		}
	}
}

func sessionHeader(c *client) http.Header {
	return http.Header{"Cookie": {api.SessionCookie + "=" + c.cookie(api.SessionCookie)}}
}

func TestLiveStreamsEvents(t *testing.T) {
	e := newTestServer(t, withLive(0))
	admin := e.loginAs(e.adminUser)
	viewer := e.createUser("watcher", bulwark.RoleViewer)
	vc := e.loginAs(viewer)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	resp, s := openLive(t, e, "/live", sessionHeader(vc))
	defer s.close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	s.next(t, "retry: ")

	// An admin change made elsewhere reaches the viewer's stream.
	admin.do("PATCH", "/settings", map[string]any{"organization_name": "Live Org"}).want(t, 200)
	id := s.next(t, "id: ")
	var ev api.LiveEvent
	if err := json.Unmarshal([]byte(s.next(t, "data: ")), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != id || ev.Action != "settings.update" || ev.Actor != e.adminUser.Username || ev.Type != "config" {
		t.Fatalf("event %+v (id line %q)", ev, id)
	}
	stored := e.allEvents()
	found := false
	for _, se := range stored {
		found = found || se.ID == id
	}
	if !found {
		t.Fatalf("streamed id %s is not a stored event", id)
	}
}

func TestLiveAuth(t *testing.T) {
	e := newTestServer(t, withLive(0))
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	// No credentials, and a token in the URL is not a credential.
	tok := e.tokenClient(e.adminUser)
	for _, path := range []string{"/live", "/live?token=" + tok.bearer, "/live?access_token=" + tok.bearer} {
		resp, s := openLive(t, e, path, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s: status %d, want 401", path, resp.StatusCode)
		}
		s.close()
	}

	// A user who must change the password first.
	fresh := e.createUser("fresh", bulwark.RoleViewer)
	fresh.MustChangePassword = true
	if err := e.db.UpdateUser(context.Background(), fresh); err != nil {
		t.Fatal(err)
	}
	resp, s := openLive(t, e, "/live", sessionHeader(e.loginAs(fresh)))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(body), "password_change_required") {
		t.Errorf("must-change user: %d %s", resp.StatusCode, body)
	}
	s.close()

	// A bearer token in the header works.
	resp, s = openLive(t, e, "/live", http.Header{"Authorization": {"Bearer " + tok.bearer}})
	if resp.StatusCode != http.StatusOK {
		t.Errorf("bearer: status %d", resp.StatusCode)
	} else {
		s.next(t, "retry: ")
	}
	s.close()
}

func TestLiveHeartbeatAndStop(t *testing.T) {
	e := newTestServer(t, withLive(20*time.Millisecond))
	c := e.loginAs(e.adminUser)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	resp, s := openLive(t, e, "/live", sessionHeader(c))
	defer s.close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	s.next(t, ": heartbeat")
	s.next(t, ": heartbeat")

	// StopLive ends open streams and refuses new ones.
	e.srv.StopLive()
	deadline := time.After(5 * time.Second)
	for done := false; !done; {
		select {
		case _, ok := <-s.lines:
			done = !ok
		case <-deadline:
			t.Fatal("stream still open after StopLive")
		}
	}
	resp2, s2 := openLive(t, e, "/live", sessionHeader(c))
	if resp2.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("after stop: status %d", resp2.StatusCode)
	}
	s2.close()
}
