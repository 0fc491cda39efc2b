package llm

import (
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// Request is a decoded request body of APIChat, APIResponses or APIMessages.
type Request struct {
	API    API
	Model  string
	Stream bool
	// Parts are every non-empty text the model will read, in document
	// order: system prompts and instructions, user and assistant turns,
	// tool results, tool call arguments in the history, and tool
	// definitions. The governance prompt added by InjectSystem is not a
	// Part: it is the gateway's own text, and leaving it out keeps the
	// indexes of the client's texts stable.
	Parts []Part

	doc
	// sysPrefix is the injected prompt to put in front of sysNode's text
	// when encoding, so that SetText on the client's own system prompt
	// does not overwrite it.
	sysPrefix string
	sysNode   *node
}

// ParseOption changes how ParseRequest reads a body.
type ParseOption func(*parseConfig)

type parseConfig struct {
	defaultModel string
}

// WithDefaultModel names the model to assume when the body names none, as
// Azure OpenAI deployment requests do (see AzureDeployment).
func WithDefaultModel(model string) ParseOption {
	return func(c *parseConfig) { c.defaultModel = model }
}

// ParseRequest decodes a request body. Errors are *bulwark.Error with
// CodeInvalid and a message that says what to fix (with the line, column
// and byte offset for invalid JSON, or the field for a wrong shape).
// Objects and arrays may nest MaxDepth levels deep, and duplicate object
// keys are refused.
func ParseRequest(api API, body []byte, opts ...ParseOption) (*Request, error) {
	var cfg parseConfig
	for _, o := range opts {
		o(&cfg)
	}
	switch api {
	case APIChat, APIResponses, APIMessages:
	default:
		return nil, bulwark.Errorf(bulwark.CodeInvalid, "%s requests carry no body to decode", api)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, bulwark.Errorf(bulwark.CodeInvalid, "the request body is empty: send a JSON object")
	}
	root, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	if root.kind != kObject {
		return nil, bulwark.Errorf(bulwark.CodeInvalid, "the request body must be a JSON object, got %s", kindOf(root))
	}
	r := &Request{API: api}
	r.body, r.root = body, root

	switch m := root.get("model"); {
	case m != nil && m.kind == kString && m.str != "":
		r.Model = m.str
	case (m == nil || m.kind == kNull) && cfg.defaultModel != "":
		r.Model = cfg.defaultModel
	case m == nil || m.kind == kNull:
		return nil, invalid("model", "is missing: name the model to call, e.g. \"model\": \"gpt-4o\"")
	default:
		return nil, invalid("model", "must be a non-empty string, got %s", kindOf(m))
	}
	switch s := root.get("stream"); {
	case s == nil || s.kind == kNull:
	case s.kind == kBool:
		r.Stream = s.b
	default:
		return nil, invalid("stream", "must be true or false, got %s", kindOf(s))
	}

	x := &extractor{}
	switch api {
	case APIChat:
		err = x.chatRequest(root)
	case APIResponses:
		err = x.responsesRequest(root)
	case APIMessages:
		err = x.messagesRequest(root)
	}
	if err != nil {
		return nil, err
	}
	r.Parts, r.nodes, r.embs, r.embedded = x.parts, x.nodes, x.embs, x.embedded
	return r, nil
}

func (x *extractor) chatRequest(root *node) error {
	msgs := root.get("messages")
	if msgs == nil || msgs.kind == kNull {
		return invalid("messages", "is missing: send the conversation as an array of {\"role\", \"content\"} objects")
	}
	if msgs.kind != kArray {
		return invalid("messages", "must be an array of {\"role\", \"content\"} objects, got %s", kindOf(msgs))
	}
	for i, m := range msgs.vals {
		p := index("messages", i)
		if m.kind != kObject {
			return invalid(p, "must be a message object with \"role\" and \"content\", got %s", kindOf(m))
		}
		role := m.get("role")
		if role == nil || role.kind != kString {
			return invalid(join(p, "role"), "must be a string such as \"user\" or \"system\", got %s", kindOf(role))
		}
		s := roleSurface(role.str)
		if err := x.content(m.get("content"), join(p, "content"), s, role.str); err != nil {
			return err
		}
		x.add(join(p, "refusal"), s, role.str, m.get("refusal"))
		if tcs := m.get("tool_calls"); tcs != nil && tcs.kind == kArray {
			for k, tc := range tcs.vals {
				tp := index(join(p, "tool_calls"), k)
				x.arguments(tc.get("function").get("arguments"), join(tp, "function.arguments"), role.str)
				x.add(join(tp, "custom.input"), bulwark.SurfaceToolArguments, role.str, tc.get("custom").get("input"))
			}
		}
		x.arguments(m.get("function_call").get("arguments"), join(p, "function_call.arguments"), role.str)
	}
	if err := x.tools(root.get("tools"), "tools"); err != nil {
		return err
	}
	// The deprecated "functions" list still reaches the model.
	return x.tools(root.get("functions"), "functions")
}

func (x *extractor) responsesRequest(root *node) error {
	switch in := root.get("instructions"); {
	case in == nil || in.kind == kNull:
	case in.kind == kString:
		x.add("instructions", bulwark.SurfaceSystemPrompt, "system", in)
	default:
		return invalid("instructions", "must be a string, got %s", kindOf(in))
	}
	switch in := root.get("input"); {
	case in == nil || in.kind == kNull:
	case in.kind == kString:
		x.add("input", bulwark.SurfacePrompt, "user", in)
	case in.kind == kArray:
		for i, item := range in.vals {
			if err := x.responsesItem(item, index("input", i)); err != nil {
				return err
			}
		}
	default:
		return invalid("input", "must be a string or an array of input items, got %s", kindOf(in))
	}
	// Reusable prompt templates: the variables are filled into the prompt.
	if vars := root.get("prompt").get("variables"); vars != nil && vars.kind == kObject {
		for i, k := range vars.keys {
			vp := join("prompt.variables", keyPath(k))
			v := vars.vals[i]
			x.add(vp, bulwark.SurfacePrompt, "user", v)
			x.add(join(vp, "text"), bulwark.SurfacePrompt, "user", v.get("text"))
		}
	}
	return x.tools(root.get("tools"), "tools")
}

// responsesItem handles one item of a Responses input (or output).
func (x *extractor) responsesItem(item *node, p string) error {
	if item.kind != kObject {
		return invalid(p, "must be an input item object, got %s", kindOf(item))
	}
	typ, role := item.getString("type"), item.getString("role")
	switch {
	case typ == "message" || typ == "" && role != "":
		if role == "" {
			return invalid(join(p, "role"), "is missing: a message item needs a role such as \"user\"")
		}
		return x.content(item.get("content"), join(p, "content"), roleSurface(role), role)
	case typ == "":
		return invalid(join(p, "type"), "is missing: an item needs a \"type\" (or a \"role\" for a message)")
	case typ == "function_call", typ == "mcp_call":
		x.arguments(item.get("arguments"), join(p, "arguments"), "assistant")
		if typ == "mcp_call" {
			x.add(join(p, "output"), bulwark.SurfaceToolResult, "tool", item.get("output"))
		}
	case typ == "custom_tool_call":
		x.add(join(p, "input"), bulwark.SurfaceToolArguments, "assistant", item.get("input"))
	case strings.HasSuffix(typ, "_call_output"):
		// function_call_output, custom_tool_call_output, computer_call_output, …:
		// output is a string or an array of input content parts.
		if out := item.get("output"); out != nil && (out.kind == kString || out.kind == kArray) {
			return x.content(out, join(p, "output"), bulwark.SurfaceToolResult, "tool")
		}
	case typ == "reasoning":
		s := bulwark.SurfacePrompt
		for _, k := range []string{"summary", "content"} {
			if list := item.get(k); list != nil && list.kind == kArray {
				for j, e := range list.vals {
					x.add(join(index(join(p, k), j), "text"), s, "assistant", e.get("text"))
				}
			}
		}
	}
	return nil
}

func (x *extractor) messagesRequest(root *node) error {
	switch sys := root.get("system"); {
	case sys == nil || sys.kind == kNull:
	case sys.kind == kString || sys.kind == kArray:
		if err := x.content(sys, "system", bulwark.SurfaceSystemPrompt, "system"); err != nil {
			return err
		}
	default:
		return invalid("system", "must be a string or an array of text blocks, got %s", kindOf(sys))
	}
	msgs := root.get("messages")
	if msgs == nil || msgs.kind == kNull {
		return invalid("messages", "is missing: send the conversation as an array of {\"role\", \"content\"} objects")
	}
	if msgs.kind != kArray {
		return invalid("messages", "must be an array of {\"role\", \"content\"} objects, got %s", kindOf(msgs))
	}
	for i, m := range msgs.vals {
		p := index("messages", i)
		if m.kind != kObject {
			return invalid(p, "must be a message object with \"role\" and \"content\", got %s", kindOf(m))
		}
		role := m.get("role")
		if role == nil || role.kind != kString {
			return invalid(join(p, "role"), "must be \"user\" or \"assistant\", got %s", kindOf(role))
		}
		if err := x.content(m.get("content"), join(p, "content"), roleSurface(role.str), role.str); err != nil {
			return err
		}
	}
	return x.tools(root.get("tools"), "tools")
}

// SetText replaces the text of Parts[i] in the body (to redact it).
func (r *Request) SetText(i int, s string) {
	r.Parts[i].Text = s
	r.setText(i, s)
}

// Modified reports whether the body changed since it was parsed.
func (r *Request) Modified() bool { return r.modified }

// Encode returns the body: the original bytes, unchanged, when nothing was
// modified, and otherwise the re-encoded document (compact, keys in their
// original order, numbers as written). The result must not be modified.
func (r *Request) Encode() ([]byte, error) {
	if !r.modified {
		return r.body, nil
	}
	if r.sysPrefix != "" {
		orig := r.sysNode.str
		r.sysNode.str = joinPrompt(r.sysPrefix, orig)
		defer func() { r.sysNode.str = orig }()
	}
	return r.encode(), nil
}

func joinPrompt(first, rest string) string {
	if rest == "" {
		return first
	}
	return first + "\n\n" + rest
}

// InjectSystem puts a governance prompt first among the system
// instructions:
//
//   - chat: a new first message {"role":"system","content":prompt};
//   - Responses: in front of "instructions", joined by a blank line;
//   - Anthropic: in front of "system" when it is a string, or as a new
//     first text block when it is an array of blocks.
//
// The paths of Parts after an inserted message or block shift accordingly;
// their indexes do not change.
func (r *Request) InjectSystem(prompt string) {
	if prompt == "" {
		return
	}
	r.modified = true
	switch r.API {
	case APIChat:
		msgs := r.root.get("messages")
		m := &node{kind: kObject, keys: []string{"role", "content"}, vals: []*node{str("system"), str(prompt)}}
		msgs.vals = append([]*node{m}, msgs.vals...)
		r.shiftPaths("messages")
	case APIResponses:
		r.prefixString("instructions", prompt)
	case APIMessages:
		if sys := r.root.get("system"); sys != nil && sys.kind == kArray {
			b := &node{kind: kObject, keys: []string{"type", "text"}, vals: []*node{str("text"), str(prompt)}}
			sys.vals = append([]*node{b}, sys.vals...)
			r.shiftPaths("system")
			return
		}
		r.prefixString("system", prompt)
	}
}

// prefixString arranges for prompt to precede the string at key.
func (r *Request) prefixString(key, prompt string) {
	if r.sysNode == nil {
		n := r.root.get(key)
		if n == nil || n.kind != kString {
			n = str("")
			if r.root.get(key) != nil {
				r.root.set(key, n) // was null
			} else {
				r.root.insertAfter("model", key, n)
			}
		}
		r.sysNode = n
	}
	r.sysPrefix = joinPrompt(prompt, r.sysPrefix)
}

// shiftPaths renumbers the paths under base[i] after an element was
// inserted at the front of that array.
func (r *Request) shiftPaths(base string) {
	prefix := base + "["
	for i := range r.Parts {
		p := r.Parts[i].Path
		if !strings.HasPrefix(p, prefix) {
			continue
		}
		end := strings.IndexByte(p[len(prefix):], ']')
		if end < 0 {
			continue
		}
		n, err := strconv.Atoi(p[len(prefix) : len(prefix)+end])
		if err != nil {
			continue
		}
		r.Parts[i].Path = prefix + strconv.Itoa(n+1) + p[len(prefix)+end:]
	}
}

// EnsureStreamUsage asks a streaming chat completion to end with a usage
// chunk (stream_options.include_usage), without which OpenAI reports no
// token counts for streams. It reports whether it changed the body: the
// client did not ask for that chunk then, and a proxy may choose not to
// forward it (its "choices" array is empty).
func (r *Request) EnsureStreamUsage() bool {
	if r.API != APIChat || !r.Stream {
		return false
	}
	so := r.root.get("stream_options")
	switch {
	case so == nil || so.kind == kNull:
		r.root.set("stream_options", &node{kind: kObject, keys: []string{"include_usage"}, vals: []*node{{kind: kBool, b: true}}})
	case so.kind != kObject:
		return false
	default:
		if iu := so.get("include_usage"); iu != nil && iu.kind == kBool && iu.b {
			return false
		}
		so.set("include_usage", &node{kind: kBool, b: true})
	}
	r.modified = true
	return true
}
