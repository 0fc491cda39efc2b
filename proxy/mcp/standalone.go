package mcp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/bulwarkhq/bulwark/proxy/sse"
)

// The go-sdk's streamable client opens the standalone GET stream (the one
// that carries server-initiated notifications such as
// notifications/tools/list_changed) only for sessions its own Client runs.
// A relayed session is raw, so the upstream connection opens that stream
// itself once the client has sent notifications/initialized, and merges its
// messages into Read.

// standalone is the merged read side of a streamable HTTP upstream.
type standalone struct {
	endpoint string
	client   *http.Client
	sessionf func() string
	in       chan readResult // messages of the POST responses (the SDK connection)
	extra    chan jsonrpc.Message
	ctx      context.Context
	cancel   context.CancelFunc
	started  bool
}

type readResult struct {
	msg jsonrpc.Message
	err error
}

func newStandalone(endpoint string, client *http.Client, sessionID func() string, read func(context.Context) (jsonrpc.Message, error)) *standalone {
	ctx, cancel := context.WithCancel(context.Background())
	s := &standalone{endpoint: endpoint, client: client, sessionf: sessionID,
		in: make(chan readResult, 16), extra: make(chan jsonrpc.Message, 64), ctx: ctx, cancel: cancel}
	go func() {
		for {
			msg, err := read(ctx)
			select {
			case s.in <- readResult{msg, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// read returns the next message from either stream.
func (s *standalone) read(ctx context.Context) (jsonrpc.Message, error) {
	select {
	case r := <-s.in:
		return r.msg, r.err
	case m := <-s.extra:
		return m, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-s.ctx.Done():
		return nil, io.EOF // closed
	}
}

// start opens the standalone stream (once); the caller holds the
// connection's lock.
func (s *standalone) start() {
	if s.started {
		return
	}
	s.started = true
	go s.run()
}

// run keeps the standalone stream open, reconnecting with a backoff, until
// the connection closes or the server says it has none (405).
func (s *standalone) run() {
	backoff := 200 * time.Millisecond
	for s.ctx.Err() == nil {
		ok, err := s.once()
		if ok {
			return // the server does not offer the stream
		}
		if err == nil {
			backoff = 200 * time.Millisecond
		}
		select {
		case <-s.ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// once holds one GET; done reports that the stream is not offered.
func (s *standalone) once() (done bool, err error) {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, s.endpoint, nil)
	if err != nil {
		return true, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if id := s.sessionf(); id != "" {
		req.Header.Set("Mcp-Session-Id", id)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotFound {
		return true, nil
	}
	if resp.StatusCode != http.StatusOK {
		return false, errors.New(resp.Status)
	}
	rd := sse.NewReader(resp.Body)
	for {
		ev, err := rd.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return false, nil
			}
			return false, err
		}
		if ev.Data == "" {
			continue
		}
		msg, err := jsonrpc.DecodeMessage([]byte(ev.Data))
		if err != nil {
			continue // not a JSON-RPC message: nothing to relay
		}
		select {
		case s.extra <- msg:
		case <-s.ctx.Done():
			return false, nil
		}
	}
}

func (s *standalone) close() { s.cancel() }
