package mcp

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	segjson "github.com/segmentio/encoding/json"
)

// maxWireDepth is the nesting the go-sdk's decoder accepts in a message.
const maxWireDepth = 1000

// The relay decodes JSON-RPC messages with the decoder the go-sdk itself
// uses (segmentio/encoding/json, object keys matched exactly), so it reads
// messages as the go-sdk's transports and servers do. It calls it directly
// instead of through the go-sdk's json.Decoder, which allocates and clears
// a 32 KiB buffer per value, twice per message, on every call.

// segFlags are the go-sdk's decoding flags.
const segFlags = segjson.DontMatchCaseInsensitiveStructFields

// wireMessage is the go-sdk's decoding form of a message (jsonrpc2's
// wireDecode).
type wireMessage struct {
	VersionTag string          `json:"jsonrpc"`
	ID         any             `json:"id,omitempty"`
	Method     json.RawMessage `json:"method"`
	Params     json.RawMessage `json:"params,omitempty"`
	Result     json.RawMessage `json:"result,omitempty"`
	Error      *jsonrpc.Error  `json:"error,omitempty"`
}

// decodeMessage decodes one JSON-RPC message as jsonrpc.DecodeMessage
// does: same messages, same refusals (for which it asks the go-sdk, so the
// errors are its own).
func decodeMessage(data []byte) (jsonrpc.Message, error) {
	var w wireMessage
	if tooDeep(data, maxWireDepth) {
		return jsonrpc.DecodeMessage(data)
	}
	if _, err := segjson.Parse(data, &w, segFlags); err != nil {
		return jsonrpc.DecodeMessage(data)
	}
	if w.VersionTag != "2.0" {
		return nil, fmt.Errorf("invalid message version tag %q; expected %q", w.VersionTag, "2.0")
	}
	id, err := jsonrpc.MakeID(w.ID)
	if err != nil {
		return nil, err
	}
	if len(w.Method) > 0 {
		var method string
		if tooDeep(w.Method, maxWireDepth) {
			return jsonrpc.DecodeMessage(data)
		}
		if _, err := segjson.Parse(w.Method, &method, segFlags); err != nil {
			return jsonrpc.DecodeMessage(data)
		}
		return &jsonrpc.Request{Method: method, ID: id, Params: w.Params}, nil
	}
	if !id.IsValid() {
		return jsonrpc.DecodeMessage(data) // its error for a response without id
	}
	resp := &jsonrpc.Response{ID: id, Result: w.Result}
	if w.Error != nil {
		resp.Error = w.Error
	}
	return resp, nil
}

// members decodes the members of a JSON object (keys matched exactly, as
// the go-sdk and MCP servers read them); null has none.
func members(raw json.RawMessage) (map[string]json.RawMessage, error) {
	m := make(map[string]json.RawMessage, 8) // else the decoder makes room for 64
	if _, err := segjson.Parse(raw, &m, segFlags); err != nil {
		return nil, err
	}
	return m, nil
}

// encodeMembers encodes an object of members that are valid JSON, with
// its keys sorted.
func encodeMembers(m map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(m))
	n := 2
	for k, v := range m {
		keys = append(keys, k)
		n += len(k) + len(v) + 4
	}
	slices.Sort(keys)
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		b = append(b, m[k]...)
	}
	return append(b, '}')
}

// appendString appends s as a JSON string (no HTML escaping, as the
// go-sdk encodes).
func appendString(b []byte, s string) []byte {
	q, err := segjson.Append(b, s, 0)
	if err != nil { // cannot happen for a string
		return append(b, `""`...)
	}
	return q
}

// encodeMessage encodes a request or a successful response as
// jsonrpc.EncodeMessage does, without re-encoding its params or result,
// which are passed through as they are when they are valid JSON (anything
// else is left to the go-sdk, for its error).
func encodeMessage(msg jsonrpc.Message) ([]byte, error) {
	var raw json.RawMessage
	var head []byte
	switch m := msg.(type) {
	case *jsonrpc.Request:
		if m.Method == "" { // omitted by the go-sdk
			return jsonrpc.EncodeMessage(msg)
		}
		raw = m.Params
		head = appendID(append(make([]byte, 0, 64+len(raw)), `{"jsonrpc":"2.0"`...), m.ID)
		head = append(head, `,"method":`...)
		head = appendString(head, m.Method)
		if len(raw) > 0 {
			head = append(head, `,"params":`...)
		}
	case *jsonrpc.Response:
		if m.Error != nil || len(m.Result) == 0 {
			return jsonrpc.EncodeMessage(msg)
		}
		raw = m.Result
		head = appendID(append(make([]byte, 0, 64+len(raw)), `{"jsonrpc":"2.0"`...), m.ID)
		head = append(head, `,"result":`...)
	default:
		return jsonrpc.EncodeMessage(msg)
	}
	if len(raw) > 0 && !segjson.Valid(raw) {
		return jsonrpc.EncodeMessage(msg)
	}
	return append(append(head, raw...), '}'), nil
}

// appendID appends ,"id":… when id is set.
func appendID(b []byte, id jsonrpc.ID) []byte {
	switch v := id.Raw().(type) {
	case int64:
		return strconv.AppendInt(append(b, `,"id":`...), v, 10)
	case string:
		return appendString(append(b, `,"id":`...), v)
	}
	return b
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
