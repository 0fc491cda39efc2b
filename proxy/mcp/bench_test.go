package mcp

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/inspect"
)

// The per-call hot path of the relay, piece by piece, on the messages of
// test/benchmcp (an echo of about 1 KiB of prose). The hooks do nothing,
// so these measure the relay's own work, not the policies'.

// nopHooks approves everything and scans nothing, but walks the texts as
// a scanner would.
type nopHooks struct{}

func (nopHooks) Listed(context.Context, bulwark.ToolKind, []json.RawMessage, bool, Client) (map[string]bool, error) {
	return nil, nil
}
func (nopHooks) Check(context.Context, bulwark.ToolKind, string, Client) *Refusal { return nil }
func (nopHooks) Scan(_ context.Context, _ bulwark.Surface, doc inspect.Doc, _ bool, _ *Call) error {
	for i := range doc.Len() {
		_, _, _ = doc.Part(i)
	}
	return nil
}
func (nopHooks) Instructions(context.Context, string) {}
func (nopHooks) Done(*Call)                           {}

var (
	benchCall   = []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{},"io.modelcontextprotocol/clientInfo":{"name":"benchmcp","version":"1.0.0"}},"name":"echo","arguments":{"message":"` + benchProse + `"}}}`)
	benchAnswer = []byte(`{"jsonrpc":"2.0","id":7,"result":{"content":[{"type":"text","text":"Echo: ` + benchProse + `"}]}}`)
)

func BenchmarkStatelessPrepare(b *testing.B) {
	r, _ := http.NewRequest(http.MethodPost, "/", nil)
	r.Header.Set("Mcp-Protocol-Version", ProtocolStateless)
	b.ReportAllocs()
	for b.Loop() {
		msg, _, _ := checkClientMessage(benchCall)
		req := msg.(*jsonrpc.Request)
		if _, ok := statelessVersion(r, req.Params); !ok {
			b.Fatal("not stateless")
		}
		req.Params = stripProtocolMeta(req.Params)
	}
}

func BenchmarkRequest(b *testing.B) {
	msg, _ := decodeMessage(benchCall)
	req := msg.(*jsonrpc.Request)
	req.Params = stripProtocolMeta(req.Params)
	s := newCallSession("bench", Client{}, nopHooks{}, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		fwd, reply := s.request(ctx, req, nil)
		if reply != nil {
			b.Fatal(reply.Error)
		}
		s.forget(fwd.ID)
	}
}

func BenchmarkAnswer(b *testing.B) {
	msg, _ := decodeMessage(benchAnswer)
	resp := msg.(*jsonrpc.Response)
	s := newCallSession("bench", Client{}, nopHooks{}, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		p := pending{method: "tools/call", call: &Call{Kind: bulwark.KindTool, Name: "echo"}}
		out := s.answer(ctx, p, resp)
		if _, err := encodeMessage(out); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeRequest(b *testing.B) {
	msg, _ := decodeMessage(benchCall)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}
