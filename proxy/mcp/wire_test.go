package mcp

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

var wireSeeds = []string{
	`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"message":"hi"}}}`,
	`{"jsonrpc":"2.0","id":"a","method":"ping"}`,
	`{"jsonrpc":"2.0","method":"notifications/initialized"}`,
	`{"jsonrpc":"2.0","id":1.5,"method":"x","params":null}`,
	`{"jsonrpc":"2.0","id":true,"method":"x"}`,
	`{"jsonrpc":"2.0","id":null,"method":""}`,
	`{"jsonrpc":"1.0","id":1,"method":"x"}`,
	`{"id":1,"method":"x"}`,
	`{"jsonrpc":"2.0","ID":1,"Method":"x"}`,
	`{"jsonrpc":"2.0","id":1,"method":5}`,
	`{"jsonrpc":"2.0","id":1,"method":"a","method":"b"}`,
	`{"jsonrpc":"2.0","id":1,"result":{"content":[]}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}`,
	`{"jsonrpc":"2.0","result":{}}`,
	`{"jsonrpc":"2.0","id":1,"error":null,"result":null}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":1.5,"message":"x","data":{"a":1}}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"Code":1,"MESSAGE":"x"}}`,
	`{"jsonrpc":"2.0","id":1,"error":[]}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":"1"}}`,
	`{"jsonrpc":"2.0","id":1,"error":{"code":9223372036854775808}}`,
	`{"jsonrpc":"2.0","id":1,"method":"x"} trailing`,
	`{"jsonrpc":"2.0","id":1,"method":"x","params":` + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + `}`,
	`[{"jsonrpc":"2.0","id":1,"method":"x"}]`,
	`null`,
	`{"jsonrpc":"2.0","id":{"a":1},"method":"x"}`,
	`{"jsonrpc":"2.0","id":1e400,"method":"x"}`,
	`{"jsonrpc":"2.0","id":1,"method":"\ud800"}`,
}

// sameDecoding fails unless decodeMessage and the go-sdk's decoder agree:
// both refuse data, or both return equal messages.
func sameDecoding(t *testing.T, data []byte) {
	t.Helper()
	want, werr := jsonrpc.DecodeMessage(data)
	got, gerr := decodeMessage(data)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: go-sdk error %v, decodeMessage error %v", data, werr, gerr)
	}
	if werr != nil {
		return
	}
	if !sameMessage(got, want) {
		t.Fatalf("%q: go-sdk %+v, decodeMessage %+v", data, want, got)
	}
	// encodeMessage writes what jsonrpc.EncodeMessage writes, up to
	// insignificant whitespace and escapes.
	wenc, werr := jsonrpc.EncodeMessage(want)
	genc, gerr := encodeMessage(got)
	if (werr == nil) != (gerr == nil) {
		t.Fatalf("%q: go-sdk encoding error %v, encodeMessage error %v", data, werr, gerr)
	}
	if werr != nil || bytes.Equal(wenc, genc) {
		return
	}
	w2, err1 := jsonrpc.DecodeMessage(wenc)
	g2, err2 := jsonrpc.DecodeMessage(genc)
	if err1 != nil || err2 != nil || !sameMessage(g2, w2) {
		t.Fatalf("%q: go-sdk encodes %s, encodeMessage %s (%v, %v)", data, wenc, genc, err1, err2)
	}
}

// sameMessage compares messages, their raw members up to whitespace.
func sameMessage(a, b jsonrpc.Message) bool {
	compact := func(r json.RawMessage) string {
		var buf bytes.Buffer
		if json.Compact(&buf, r) != nil {
			return string(r)
		}
		return buf.String()
	}
	switch x := a.(type) {
	case *jsonrpc.Request:
		y, ok := b.(*jsonrpc.Request)
		return ok && x.Method == y.Method && x.ID == y.ID && compact(x.Params) == compact(y.Params)
	case *jsonrpc.Response:
		y, ok := b.(*jsonrpc.Response)
		return ok && x.ID == y.ID && compact(x.Result) == compact(y.Result) && reflect.DeepEqual(x.Error, y.Error)
	}
	return false
}

func TestDecodeMessageAsGoSDK(t *testing.T) {
	for _, s := range wireSeeds {
		sameDecoding(t, []byte(s))
	}
}

// FuzzDecodeMessage: the relay's decoder accepts and refuses what the
// go-sdk's does, with the same messages.
func FuzzDecodeMessage(f *testing.F) {
	for _, s := range wireSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameDecoding(t, data) })
}

func BenchmarkDecodeMessage(b *testing.B) {
	msg := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"message":"` + benchProse + `"}}}`)
	b.Run("relay", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeMessage(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("go-sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsonrpc.DecodeMessage(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// benchProse is the kind of argument test/benchmcp sends (about 1 KiB).
var benchProse = strings.Repeat("The quarterly report lists the orders shipped from the northern warehouse, grouped by week. ", 12)
