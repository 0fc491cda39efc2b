package detect

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/bulwarkhq/bulwark"
)

// Format says how to read an Input.
type Format string

// Input formats. FormatAuto detects the format from the content.
const (
	FormatAuto         Format = ""
	FormatText         Format = "text"
	FormatChat         Format = "chat"           // OpenAI chat / responses or Anthropic messages request (or response)
	FormatMCPToolsList Format = "mcp_tools_list" // MCP tools/list result (or the JSON-RPC response carrying it)
	FormatMCPToolsCall Format = "mcp_tools_call" // MCP tools/call params (or the JSON-RPC request carrying them)
	FormatMCPToolsRes  Format = "mcp_tool_result"
	FormatJSONL        Format = "jsonl"
	FormatJSON         Format = "json" // any JSON: every string value on the input's surface
)

// Input is one thing to scan: plain text, or a JSON document whose texts
// are extracted and scanned each on its own surface.
type Input struct {
	Protocol bulwark.Protocol
	// Surface is the surface of plain text and of generic JSON values.
	// Default prompt.
	Surface bulwark.Surface
	Format  Format
	Text    string
	// Data is a JSON document (or JSONL); when set it is used instead of Text.
	Data []byte
}

// field is one extracted text.
type field struct {
	path    string
	surface bulwark.Surface
	proto   bulwark.Protocol
	text    string
}

type extractor struct {
	fields []field
	proto  bulwark.Protocol
	prefix string
}

func (x *extractor) add(path string, s bulwark.Surface, text string) {
	if text == "" {
		return
	}
	x.fields = append(x.fields, field{path: join(x.prefix, path), surface: s, proto: x.proto, text: text})
}

// DetectFormat guesses the format of data.
func DetectFormat(data []byte) Format {
	t := bytes.TrimSpace(data)
	if len(t) == 0 || t[0] != '{' && t[0] != '[' {
		return FormatText
	}
	if json.Valid(t) {
		var v any
		if json.Unmarshal(t, &v) == nil {
			if m, ok := v.(map[string]any); ok {
				return shapeOf(m)
			}
		}
		return FormatJSON
	}
	if t[0] == '{' && bytes.IndexByte(t, '\n') > 0 {
		return FormatJSONL
	}
	return FormatText
}

func shapeOf(m map[string]any) Format {
	if method, _ := m["method"].(string); method == "tools/call" {
		return FormatMCPToolsCall
	}
	if res, ok := m["result"].(map[string]any); ok {
		if _, ok := res["tools"]; ok {
			return FormatMCPToolsList
		}
		if _, ok := res["content"]; ok {
			return FormatMCPToolsRes
		}
	}
	if _, ok := m["messages"]; ok {
		return FormatChat
	}
	if _, ok := m["choices"]; ok {
		return FormatChat
	}
	if _, ok := m["input"]; ok {
		if _, ok := m["model"]; ok {
			return FormatChat
		}
	}
	if _, ok := m["tools"].([]any); ok {
		return FormatMCPToolsList
	}
	if _, ok := m["name"].(string); ok {
		if _, ok := m["arguments"]; ok {
			return FormatMCPToolsCall
		}
	}
	if role, _ := m["role"].(string); role == "assistant" {
		return FormatChat
	}
	if c, ok := m["content"].([]any); ok && len(c) > 0 {
		return FormatMCPToolsRes
	}
	return FormatJSON
}

func protoFor(f Format) bulwark.Protocol {
	switch f {
	case FormatMCPToolsList, FormatMCPToolsCall, FormatMCPToolsRes:
		return bulwark.ProtocolMCP
	case FormatChat:
		return bulwark.ProtocolLLM
	}
	return ""
}

// extract turns an input into the texts to scan.
func extract(in Input, opts Options) ([]field, error) {
	surface := in.Surface
	if surface == "" {
		surface = bulwark.SurfacePrompt
	} else if !surface.Valid() {
		return nil, fmt.Errorf("unknown surface %q", surface)
	}
	if in.Protocol != "" && !in.Protocol.Valid() {
		return nil, fmt.Errorf("unknown protocol %q", in.Protocol)
	}
	data := in.Data
	if data == nil && in.Format != FormatText && in.Format != FormatAuto {
		data = []byte(in.Text)
	}
	format := in.Format
	if data == nil {
		return []field{{surface: surface, proto: in.Protocol, text: in.Text}}, nil
	}
	if len(data) > opts.MaxInputBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(data), opts.MaxInputBytes)
	}
	if format == FormatAuto {
		format = DetectFormat(data)
	}
	x := &extractor{proto: in.Protocol}
	switch format {
	case FormatText:
		return []field{{surface: surface, proto: in.Protocol, text: string(data)}}, nil
	case FormatJSONL:
		lines := bytes.Split(data, []byte{'\n'})
		for i, line := range lines {
			line = bytes.TrimSpace(line)
			if len(line) == 0 {
				continue
			}
			x.prefix = fmt.Sprintf("lines[%d]", i)
			v, err := decodeJSON(line, opts.MaxJSONDepth)
			if err != nil {
				return nil, fmt.Errorf("line %d: %w", i+1, err)
			}
			x.proto = in.Protocol
			x.value(v, "", surface, true)
		}
		return x.fields, nil
	}
	v, err := decodeJSON(data, opts.MaxJSONDepth)
	if err != nil {
		return nil, err
	}
	if m, ok := v.(map[string]any); ok {
		x.document(m, format, surface)
	} else {
		x.walkStrings(v, "", surface)
	}
	return x.fields, nil
}

func decodeJSON(data []byte, maxDepth int) (any, error) {
	if err := checkDepth(data, maxDepth); err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, describeJSONError(data, err)
	}
	return v, nil
}

// value handles one JSONL record: a known document shape, an eval-style
// record {"text": …, "context": …}, or anything else.
func (x *extractor) value(v any, path string, surface bulwark.Surface, record bool) {
	m, ok := v.(map[string]any)
	if !ok {
		x.walkStrings(v, path, surface)
		return
	}
	if text, ok := m["text"].(string); ok && record {
		switch ctx, _ := m["context"].(string); ctx {
		case "tool_argument":
			if inner, err := decodeJSON([]byte(text), 64); err == nil {
				if im, ok := inner.(map[string]any); ok {
					x.prefix = join(x.prefix, "text")
					x.document(im, FormatMCPToolsCall, bulwark.SurfaceToolArguments)
					return
				}
			}
			x.add("text", bulwark.SurfaceToolArguments, text)
		case "tool_description":
			x.add("text", bulwark.SurfaceToolDescription, text)
		case "tool_result":
			x.add("text", bulwark.SurfaceToolResult, text)
		default:
			x.add("text", surface, text)
		}
		return
	}
	x.document(m, shapeOf(m), surface)
}

func (x *extractor) document(m map[string]any, format Format, surface bulwark.Surface) {
	if x.proto == "" {
		x.proto = protoFor(format)
	}
	switch format {
	case FormatChat:
		x.chat(m)
	case FormatMCPToolsList:
		if res, ok := m["result"].(map[string]any); ok {
			x.toolsList(res, "result.")
		} else {
			x.toolsList(m, "")
		}
	case FormatMCPToolsCall:
		if params, ok := m["params"].(map[string]any); ok {
			x.toolsCall(params, "params.")
		} else {
			x.toolsCall(m, "")
		}
	case FormatMCPToolsRes:
		if res, ok := m["result"].(map[string]any); ok {
			x.toolResult(res, "result.")
		} else {
			x.toolResult(m, "")
		}
	default:
		x.walkStrings(m, "", surface)
	}
}

func roleSurface(role string) bulwark.Surface {
	switch role {
	case "system", "developer":
		return bulwark.SurfaceSystemPrompt
	case "assistant", "model":
		return bulwark.SurfaceModelOutput
	case "tool", "function":
		return bulwark.SurfaceToolResult
	}
	return bulwark.SurfacePrompt
}

// chat walks an OpenAI chat/responses or Anthropic messages document.
func (x *extractor) chat(m map[string]any) {
	x.textOrParts(m["system"], "system", bulwark.SurfaceSystemPrompt)
	x.textOrParts(m["instructions"], "instructions", bulwark.SurfaceSystemPrompt)
	if p, ok := m["prompt"].(string); ok {
		x.add("prompt", bulwark.SurfacePrompt, p)
	}
	switch in := m["input"].(type) {
	case string:
		x.add("input", bulwark.SurfacePrompt, in)
	case []any:
		x.messages(in, "input")
	}
	if msgs, ok := m["messages"].([]any); ok {
		x.messages(msgs, "messages")
	}
	if choices, ok := m["choices"].([]any); ok {
		for i, c := range choices {
			if cm, ok := c.(map[string]any); ok {
				if msg, ok := cm["message"].(map[string]any); ok {
					x.message(msg, fmt.Sprintf("choices[%d].message", i), bulwark.SurfaceModelOutput)
				}
			}
		}
	}
	if role, _ := m["role"].(string); role == "assistant" {
		x.message(m, "", bulwark.SurfaceModelOutput)
	}
	if tools, ok := m["tools"].([]any); ok {
		for i, t := range tools {
			tm, ok := t.(map[string]any)
			if !ok {
				continue
			}
			p := fmt.Sprintf("tools[%d]", i)
			if fn, ok := tm["function"].(map[string]any); ok {
				tm, p = fn, p+".function"
			}
			if d, ok := tm["description"].(string); ok {
				x.add(p+".description", bulwark.SurfaceToolDescription, d)
			}
			for _, k := range []string{"parameters", "input_schema", "inputSchema"} {
				if s, ok := tm[k]; ok {
					x.schema(s, p+"."+k)
				}
			}
		}
	}
}

func (x *extractor) messages(msgs []any, base string) {
	for i, msg := range msgs {
		mm, ok := msg.(map[string]any)
		if !ok {
			continue
		}
		role, _ := mm["role"].(string)
		x.message(mm, fmt.Sprintf("%s[%d]", base, i), roleSurface(role))
	}
}

func join(base, key string) string {
	if base == "" {
		return key
	}
	if key == "" || key[0] == '[' {
		return base + key
	}
	return base + "." + key
}

func (x *extractor) message(mm map[string]any, p string, s bulwark.Surface) {
	x.textOrParts(mm["content"], join(p, "content"), s)
	if tcs, ok := mm["tool_calls"].([]any); ok {
		for k, tc := range tcs {
			tcm, ok := tc.(map[string]any)
			if !ok {
				continue
			}
			fn, _ := tcm["function"].(map[string]any)
			args, ok := fn["arguments"].(string)
			if !ok {
				continue
			}
			ap := fmt.Sprintf("%s.tool_calls[%d].function.arguments", p, k)
			if v, err := decodeJSON([]byte(args), 64); err == nil {
				x.walkStrings(v, ap, bulwark.SurfaceToolArguments)
			} else {
				x.add(ap, bulwark.SurfaceToolArguments, args)
			}
		}
	}
	if fc, ok := mm["function_call"].(map[string]any); ok {
		if args, ok := fc["arguments"].(string); ok {
			x.add(p+".function_call.arguments", bulwark.SurfaceToolArguments, args)
		}
	}
}

// textOrParts handles a content that is a string or a list of parts.
func (x *extractor) textOrParts(v any, p string, s bulwark.Surface) {
	switch c := v.(type) {
	case string:
		x.add(p, s, c)
	case []any:
		for j, part := range c {
			pm, ok := part.(map[string]any)
			if !ok {
				if str, ok := part.(string); ok {
					x.add(fmt.Sprintf("%s[%d]", p, j), s, str)
				}
				continue
			}
			pp := fmt.Sprintf("%s[%d]", p, j)
			switch typ, _ := pm["type"].(string); typ {
			case "tool_use", "function_call":
				if in, ok := pm["input"]; ok {
					x.walkStrings(in, pp+".input", bulwark.SurfaceToolArguments)
				}
				if args, ok := pm["arguments"].(string); ok {
					x.add(pp+".arguments", bulwark.SurfaceToolArguments, args)
				}
			case "tool_result", "function_call_output":
				x.textOrParts(pm["content"], pp+".content", bulwark.SurfaceToolResult)
				if out, ok := pm["output"].(string); ok {
					x.add(pp+".output", bulwark.SurfaceToolResult, out)
				}
			default:
				if t, ok := pm["text"].(string); ok {
					x.add(pp+".text", s, t)
				}
			}
		}
	}
}

// toolsList walks an MCP tools/list result: tool descriptions and every
// description and title in the input schemas.
func (x *extractor) toolsList(m map[string]any, base string) {
	tools, _ := m["tools"].([]any)
	for i, t := range tools {
		tm, ok := t.(map[string]any)
		if !ok {
			continue
		}
		p := fmt.Sprintf("%stools[%d]", base, i)
		for _, k := range []string{"title", "description"} {
			if d, ok := tm[k].(string); ok {
				x.add(p+"."+k, bulwark.SurfaceToolDescription, d)
			}
		}
		if ann, ok := tm["annotations"].(map[string]any); ok {
			if d, ok := ann["title"].(string); ok {
				x.add(p+".annotations.title", bulwark.SurfaceToolDescription, d)
			}
		}
		for _, k := range []string{"inputSchema", "outputSchema", "input_schema", "parameters"} {
			if s, ok := tm[k]; ok {
				x.schema(s, p+"."+k)
			}
		}
	}
}

// schema collects description, title and string default/enum/examples
// values of a JSON Schema, recursively.
func (x *extractor) schema(v any, p string) {
	switch s := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(s) {
			kp := join(p, keyPath(k))
			switch k {
			case "description", "title", "default", "const":
				if str, ok := s[k].(string); ok {
					x.add(kp, bulwark.SurfaceToolDescription, str)
					continue
				}
			case "enum", "examples":
				if list, ok := s[k].([]any); ok {
					for i, e := range list {
						if str, ok := e.(string); ok {
							x.add(fmt.Sprintf("%s[%d]", kp, i), bulwark.SurfaceToolDescription, str)
						}
					}
					continue
				}
			}
			x.schema(s[k], kp)
		}
	case []any:
		for i, e := range s {
			x.schema(e, fmt.Sprintf("%s[%d]", p, i))
		}
	}
}

// toolsCall walks the argument values of an MCP tools/call.
func (x *extractor) toolsCall(m map[string]any, base string) {
	if args, ok := m["arguments"]; ok {
		x.walkStrings(args, base+"arguments", bulwark.SurfaceToolArguments)
	}
}

// toolResult walks an MCP CallToolResult.
func (x *extractor) toolResult(m map[string]any, base string) {
	x.textOrParts(m["content"], base+"content", bulwark.SurfaceToolResult)
	if sc, ok := m["structuredContent"]; ok {
		x.walkStrings(sc, base+"structuredContent", bulwark.SurfaceToolResult)
	}
}

// walkStrings adds every string value under v (not keys), recursively.
func (x *extractor) walkStrings(v any, p string, s bulwark.Surface) {
	switch t := v.(type) {
	case string:
		x.add(p, s, t)
	case map[string]any:
		for _, k := range sortedKeys(t) {
			x.walkStrings(t[k], join(p, keyPath(k)), s)
		}
	case []any:
		for i, e := range t {
			x.walkStrings(e, fmt.Sprintf("%s[%d]", p, i), s)
		}
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// KeyPath renders an object key as a path segment the way finding paths do.
func KeyPath(k string) string { return keyPath(k) }

// keyPath renders an object key for a path: bare when it is an identifier,
// quoted in brackets otherwise.
func keyPath(k string) string {
	ident := k != ""
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			ident = false
			break
		}
	}
	if ident {
		return k
	}
	return "[" + strconv.Quote(k) + "]"
}
