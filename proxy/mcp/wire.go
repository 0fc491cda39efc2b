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
// twice per message. What the standard library's decoder refuses is left
// to the go-sdk, for its refusal.
func decodeMessage(data []byte) (jsonrpc.Message, error) {
	var w map[string]json.RawMessage
	if tooDeep(data, maxWireDepth) || json.Unmarshal(data, &w) != nil {
		return jsonrpc.DecodeMessage(data) // its error
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
	if method, isReq := w["method"]; isReq {
		var name string
		if json.Unmarshal(method, &name) != nil {
			return jsonrpc.DecodeMessage(data)
		}
		return &jsonrpc.Request{Method: name, ID: id, Params: w["params"]}, nil
	}
	if !id.IsValid() {
		return jsonrpc.DecodeMessage(data) // its error for a response without id
	}
	resp := &jsonrpc.Response{ID: id, Result: w["result"]}
	if raw, ok := w["error"]; ok && string(raw) != "null" {
		var e map[string]json.RawMessage
		if json.Unmarshal(raw, &e) != nil || e == nil {
			return jsonrpc.DecodeMessage(data)
		}
		we := &jsonrpc.Error{Data: e["data"]}
		if v, ok := e["code"]; ok && json.Unmarshal(v, &we.Code) != nil {
			return jsonrpc.DecodeMessage(data)
		}
		if v, ok := e["message"]; ok && json.Unmarshal(v, &we.Message) != nil {
			return jsonrpc.DecodeMessage(data)
		}
		resp.Error = we
	}
	return resp, nil
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
