package mcp

import (
	"context"
	"fmt"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark"
)

// TestMuxSharesOneUpstream: several client sessions share one upstream
// connection; ids are mapped back correctly under concurrency.
func TestMuxSharesOneUpstream(t *testing.T) {
	up := testServer(t)
	var dials atomic.Int32
	mux := NewMux(func(ctx context.Context) (sdk.Connection, error) {
		dials.Add(1)
		return (&sdk.StreamableClientTransport{Endpoint: up.URL}).Connect(ctx)
	}, nil)
	defer mux.Close()
	hooks := &fakeHooks{approved: map[string]bool{"echo": true, "get-sum": true}}
	h := NewHandler(HandlerConfig{Proxy: &bulwark.Proxy{Name: "shared"}, Auth: allowAll{}, Hooks: hooks, Upstream: mux.Open})
	front := httptest.NewServer(h)
	defer func() { h.Close(); front.Close() }()

	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cs, err := connect(t, front.URL, "good")
			if err != nil {
				errs <- err
				return
			}
			defer cs.Close()
			for j := 0; j < 5; j++ {
				msg := fmt.Sprintf("client %d call %d", i, j)
				res, err := cs.CallTool(context.Background(), &sdk.CallToolParams{Name: "echo", Arguments: map[string]any{"message": msg}})
				if err != nil {
					errs <- err
					return
				}
				if got := res.Content[0].(*sdk.TextContent).Text; got != "Echo: "+msg {
					errs <- fmt.Errorf("answer %q for %q: ids crossed", got, msg)
					return
				}
			}
			if _, err := cs.ListTools(context.Background(), nil); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("%d upstream connections for 4 sessions, want 1", n)
	}
}
