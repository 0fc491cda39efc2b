package mcp

import (
	"encoding/json"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// maxWireDepth is the nesting the go-sdk's decoder accepts in a message.
const maxWireDepth = 1000

// decodeMessage decodes one JSON-RPC message as jsonrpc.DecodeMessage
// does (same messages, same refusals), without its cost on the per-call
// path: the go-sdk's decoder allocates and clears 32 KiB per Unmarshal,
// twice per request. Requests, which the relay reads on every call, are
// decoded here; anything else (responses from the client, which carry
// error objects) is left to the go-sdk.
func decodeMessage(data []byte) (jsonrpc.Message, error) {
	var w map[string]json.RawMessage
	if tooDeep(data, maxWireDepth) || json.Unmarshal(data, &w) != nil {
		return jsonrpc.DecodeMessage(data) // its error
	}
	method, isReq := w["method"]
	if !isReq {
		return jsonrpc.DecodeMessage(data)
	}
	var version string
	if v, ok := w["jsonrpc"]; ok && json.Unmarshal(v, &version) != nil {
		return jsonrpc.DecodeMessage(data)
	}
	if version != "2.0" {
		return nil, fmt.Errorf("invalid message version tag %q; expected %q", version, "2.0")
	}
	var rawID any
	if v, ok := w["id"]; ok && json.Unmarshal(v, &rawID) != nil {
		return jsonrpc.DecodeMessage(data)
	}
	id, err := jsonrpc.MakeID(rawID)
	if err != nil {
		return nil, err
	}
	var name string
	if json.Unmarshal(method, &name) != nil {
		return jsonrpc.DecodeMessage(data)
	}
	return &jsonrpc.Request{Method: name, ID: id, Params: w["params"]}, nil
}

// tooDeep reports whether data nests objects and arrays deeper than max
// (strings skipped), as the go-sdk's decoder checks before decoding.
func tooDeep(data []byte, max int) bool {
	depth, inString, escaped := 0, false, false
	for _, b := range data {
		if inString {
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
			continue
		}
		switch b {
		case '"':
			inString = true
		case '{', '[':
			if depth++; depth > max {
				return true
			}
		case '}', ']':
			if depth > 0 {
				depth--
			}
		}
	}
	return false
}
