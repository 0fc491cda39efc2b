package llm

import (
	"fmt"
	"strconv"

	"github.com/bulwarkhq/bulwark"
)

// embedded is a JSON document carried inside a string value (the
// arguments of a tool call). Its texts are Parts of their own; when one
// changes, the document is re-encoded into the holding string.
type embedded struct {
	holder *node
	root   *node
	dirty  bool
}

// doc is a parsed body and the nodes its Parts point to.
type doc struct {
	body     []byte
	root     *node
	nodes    []*node     // parallel to the Parts
	embs     []*embedded // parallel to the Parts; nil for plain values
	embedded []*embedded
	modified bool
}

func (d *doc) setText(i int, s string) {
	d.nodes[i].str = s
	if e := d.embs[i]; e != nil {
		e.dirty = true
	}
	d.modified = true
}

// encode re-encodes the tree, first writing changed embedded documents
// back into their strings.
func (d *doc) encode() []byte {
	for _, e := range d.embedded {
		if e.dirty {
			e.holder.str = string(appendJSON(nil, e.root))
			e.dirty = false
		}
	}
	return appendJSON(make([]byte, 0, len(d.body)+256), d.root)
}

// extractor collects the texts of a body.
type extractor struct {
	doc
	parts []Part
	keys  []string // stream slot keys, parallel to parts (stream use only)
	emb   *embedded
	key   string
	// rawArgs keeps tool call arguments as one text instead of parsing
	// them: streams deliver them as fragments, so the full text must match.
	rawArgs bool
}

func (x *extractor) add(path string, s bulwark.Surface, role string, n *node) {
	if n == nil || n.kind != kString || n.str == "" {
		return
	}
	x.parts = append(x.parts, Part{Path: path, Surface: s, Role: role, Text: n.str})
	x.nodes = append(x.nodes, n)
	x.embs = append(x.embs, x.emb)
	x.keys = append(x.keys, x.key)
}

// invalid reports a body whose shape the API does not allow, naming the
// field and what to send instead.
func invalid(field, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	return &bulwark.Error{
		Code:    bulwark.CodeInvalid,
		Message: field + ": " + msg,
		Fields:  []bulwark.FieldError{{Field: field, Message: msg}},
	}
}

func kindOf(n *node) string {
	if n == nil {
		return "nothing"
	}
	return n.kind.String()
}

// roleSurface is the surface of a message's own content by its role.
// Assistant turns in a request are history the model reads again: a
// prompt, not fresh model output.
func roleSurface(role string) bulwark.Surface {
	switch role {
	case "system", "developer":
		return bulwark.SurfaceSystemPrompt
	case "tool", "function":
		return bulwark.SurfaceToolResult
	}
	return bulwark.SurfacePrompt
}

// content handles a message content: a string, or an array of content
// parts or blocks (any of the three APIs). Parts that carry no text
// (image_url, input_image, input_audio, file, image, …) are left alone.
func (x *extractor) content(n *node, path string, s bulwark.Surface, role string) error {
	if n == nil || n.kind == kNull {
		return nil
	}
	switch n.kind {
	case kString:
		x.add(path, s, role, n)
		return nil
	case kArray:
	default:
		return invalid(path, "must be a string or an array of content parts, got %s", kindOf(n))
	}
	for j, part := range n.vals {
		pp := index(path, j)
		switch part.kind {
		case kString:
			x.add(pp, s, role, part)
			continue
		case kObject:
		default:
			return invalid(pp, "must be a content part object, got %s", kindOf(part))
		}
		switch typ := part.getString("type"); typ {
		case "tool_result", "mcp_tool_result", "web_search_tool_result", "web_fetch_tool_result", "code_execution_tool_result":
			// Anthropic tool results: content is a string or blocks.
			if c := part.get("content"); c != nil && (c.kind == kString || c.kind == kArray) {
				if err := x.content(c, join(pp, "content"), bulwark.SurfaceToolResult, role); err != nil {
					return err
				}
			}
		case "tool_use", "server_tool_use", "mcp_tool_use":
			x.walkStrings(part.get("input"), join(pp, "input"), bulwark.SurfaceToolArguments, role)
		case "document":
			// Anthropic plain-text and custom-content documents are text
			// the model reads; base64 and URL sources are not inspected.
			src := part.get("source")
			switch src.getString("type") {
			case "text":
				x.add(join(pp, "source.data"), s, role, src.get("data"))
			case "content":
				if err := x.content(src.get("content"), join(pp, "source.content"), s, role); err != nil {
					return err
				}
			}
			x.add(join(pp, "context"), s, role, part.get("context"))
		case "thinking":
			x.add(join(pp, "thinking"), s, role, part.get("thinking"))
		default:
			// text, input_text, output_text, refusal and anything else that
			// carries text: a part type this code does not know still gets
			// scanned rather than slipping through.
			x.add(join(pp, "text"), s, role, part.get("text"))
			x.add(join(pp, "refusal"), s, role, part.get("refusal"))
		}
	}
	return nil
}

// walkStrings adds every string value under n (not keys), in document order.
func (x *extractor) walkStrings(n *node, path string, s bulwark.Surface, role string) {
	if n == nil {
		return
	}
	switch n.kind {
	case kString:
		x.add(path, s, role, n)
	case kObject:
		for i, k := range n.keys {
			x.walkStrings(n.vals[i], join(path, keyPath(k)), s, role)
		}
	case kArray:
		for i, v := range n.vals {
			x.walkStrings(v, index(path, i), s, role)
		}
	}
}

// arguments handles tool call arguments sent as a JSON-encoded string.
// When they parse as an object or array, each string value is a Part of
// its own, so a rule sees "rm -rf /" rather than `{"cmd":"rm -rf /"}` and
// a redaction keeps the arguments valid JSON; otherwise the whole string is
// one Part.
func (x *extractor) arguments(n *node, path, role string) {
	if n == nil || n.kind != kString || n.str == "" {
		return
	}
	if !x.rawArgs {
		if inner, err := parseJSON([]byte(n.str)); err == nil && (inner.kind == kObject || inner.kind == kArray) {
			e := &embedded{holder: n, root: inner}
			x.embedded = append(x.embedded, e)
			prev := x.emb
			x.emb = e
			x.walkStrings(inner, path, bulwark.SurfaceToolArguments, role)
			x.emb = prev
			return
		}
	}
	x.add(path, bulwark.SurfaceToolArguments, role, n)
}

// schema adds the texts of a JSON Schema that a model reads as part of a
// tool definition: descriptions, titles, and string defaults, consts, enums
// and examples, at any depth (as the detect package does).
func (x *extractor) schema(n *node, path string) {
	if n == nil {
		return
	}
	switch n.kind {
	case kObject:
		for i, k := range n.keys {
			v, kp := n.vals[i], join(path, keyPath(k))
			switch k {
			case "description", "title", "default", "const":
				if v.kind == kString {
					x.add(kp, bulwark.SurfaceToolDescription, "", v)
					continue
				}
			case "enum", "examples":
				if v.kind == kArray {
					for j, e := range v.vals {
						if e.kind == kString {
							x.add(index(kp, j), bulwark.SurfaceToolDescription, "", e)
						}
					}
					continue
				}
			}
			x.schema(v, kp)
		}
	case kArray:
		for i, v := range n.vals {
			x.schema(v, index(path, i))
		}
	}
}

// tools handles a tools array of any of the three APIs: OpenAI chat nests
// the definition under "function" (or "custom"); Responses and Anthropic
// put it at the top level.
func (x *extractor) tools(n *node, base string) error {
	if n == nil || n.kind == kNull {
		return nil
	}
	if n.kind != kArray {
		return invalid(base, "must be an array of tool definitions, got %s", kindOf(n))
	}
	for i, t := range n.vals {
		p := index(base, i)
		if t.kind != kObject {
			return invalid(p, "must be a tool definition object, got %s", kindOf(t))
		}
		for _, k := range []string{"function", "custom"} {
			if fn := t.get(k); fn != nil && fn.kind == kObject {
				t, p = fn, join(p, k)
				break
			}
		}
		x.add(join(p, "description"), bulwark.SurfaceToolDescription, "", t.get("description"))
		for _, k := range []string{"parameters", "input_schema"} {
			x.schema(t.get(k), join(p, k))
		}
	}
	return nil
}

func intOf(n *node) int64 {
	if n == nil || n.kind != kNumber {
		return 0
	}
	v, err := strconv.ParseInt(n.str, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(n.str, 64)
		if ferr != nil {
			return 0
		}
		return int64(f)
	}
	return v
}

// usageOf reads a usage object of the given API.
func usageOf(api API, u *node) Usage {
	if u == nil || u.kind != kObject {
		return Usage{}
	}
	switch api {
	case APIChat:
		return Usage{
			InputTokens:  intOf(u.get("prompt_tokens")),
			OutputTokens: intOf(u.get("completion_tokens")),
			CachedTokens: intOf(u.get("prompt_tokens_details").get("cached_tokens")),
			Present:      true,
		}
	case APIResponses:
		return Usage{
			InputTokens:  intOf(u.get("input_tokens")),
			OutputTokens: intOf(u.get("output_tokens")),
			CachedTokens: intOf(u.get("input_tokens_details").get("cached_tokens")),
			Present:      true,
		}
	case APIMessages:
		return Usage{
			InputTokens:      intOf(u.get("input_tokens")),
			OutputTokens:     intOf(u.get("output_tokens")),
			CachedTokens:     intOf(u.get("cache_read_input_tokens")),
			CacheWriteTokens: intOf(u.get("cache_creation_input_tokens")),
			Present:          true,
		}
	}
	return Usage{}
}
