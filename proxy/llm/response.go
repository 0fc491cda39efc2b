package llm

import (
	"strconv"

	"github.com/bulwarkhq/bulwark"
)

// Response is a decoded non-streaming response body.
type Response struct {
	API   API
	Model string
	Usage Usage
	// Parts are the texts the model produced: message text, refusals and
	// reasoning summaries (SurfaceModelOutput) and tool call arguments
	// (SurfaceToolArguments), plus results of tools the provider ran itself
	// (SurfaceToolResult). Role is "assistant" for all of them.
	Parts []Part

	doc
}

// ParseResponse decodes a successful (2xx) response body. Errors are
// *bulwark.Error values describing invalid JSON.
func ParseResponse(api API, body []byte) (*Response, error) {
	switch api {
	case APIChat, APIResponses, APIMessages:
	default:
		return nil, bulwark.Errorf(bulwark.CodeInvalid, "%s responses are not decoded", api)
	}
	root, err := parseJSON(body)
	if err != nil {
		return nil, err
	}
	if root.kind != kObject {
		return nil, bulwark.Errorf(bulwark.CodeInvalid, "the response body must be a JSON object, got %s", kindOf(root))
	}
	r := &Response{API: api, Model: root.getString("model"), Usage: usageOf(api, root.get("usage"))}
	r.body, r.root = body, root
	x := &extractor{}
	switch api {
	case APIChat:
		x.chatResponse(root)
	case APIResponses:
		x.responsesOutput(root.get("output"), "output")
	case APIMessages:
		x.messagesContent(root.get("content"), "content")
	}
	r.Parts, r.nodes, r.embs, r.embedded = x.parts, x.nodes, x.embs, x.embedded
	return r, nil
}

func (x *extractor) chatResponse(root *node) {
	choices := root.get("choices")
	if choices == nil || choices.kind != kArray {
		return
	}
	for i, c := range choices.vals {
		x.key = "choice" + choiceIndex(c, i)
		x.chatMessage(c.get("message"), join(index("choices", i), "message"))
	}
	x.key = ""
}

func choiceIndex(c *node, pos int) string {
	if n := c.get("index"); n != nil && n.kind == kNumber {
		return n.str
	}
	return strconv.Itoa(pos)
}

// chatMessage handles an assistant message of a chat response.
func (x *extractor) chatMessage(m *node, p string) {
	if m == nil || m.kind != kObject {
		return
	}
	const role = "assistant"
	s := bulwark.SurfaceModelOutput
	_ = x.content(m.get("content"), join(p, "content"), s, role)
	base := x.key
	for _, k := range []string{"refusal", "reasoning_content", "reasoning"} {
		x.key = base + "." + k
		x.add(join(p, k), s, role, m.get(k))
	}
	if tcs := m.get("tool_calls"); tcs != nil && tcs.kind == kArray {
		for k, tc := range tcs.vals {
			x.key = base + ".tool" + choiceIndex(tc, k)
			tp := index(join(p, "tool_calls"), k)
			x.arguments(tc.get("function").get("arguments"), join(tp, "function.arguments"), role)
			x.add(join(tp, "custom.input"), bulwark.SurfaceToolArguments, role, tc.get("custom").get("input"))
		}
	}
	x.key = base + ".tool0"
	x.arguments(m.get("function_call").get("arguments"), join(p, "function_call.arguments"), role)
	x.key = base
}

// responsesOutput handles the output items of a Responses response.
func (x *extractor) responsesOutput(out *node, base string) {
	if out == nil || out.kind != kArray {
		return
	}
	for i, item := range out.vals {
		x.responsesOutputItem(item, index(base, i), i)
	}
	x.key = ""
}

// responsesOutputItem handles one output item; oi is its output_index,
// used for the stream slot keys.
func (x *extractor) responsesOutputItem(item *node, p string, oi int) {
	const role = "assistant"
	s := bulwark.SurfaceModelOutput
	slot := "output" + strconv.Itoa(oi)
	switch typ := item.getString("type"); typ {
	case "message":
		if c := item.get("content"); c != nil && c.kind == kArray {
			for j, part := range c.vals {
				x.key = slot + ".content" + strconv.Itoa(j)
				pp := index(join(p, "content"), j)
				x.add(join(pp, "text"), s, role, part.get("text"))
				x.add(join(pp, "refusal"), s, role, part.get("refusal"))
			}
		}
	case "function_call", "mcp_call":
		x.key = slot
		x.arguments(item.get("arguments"), join(p, "arguments"), role)
		if typ == "mcp_call" {
			x.key = slot + ".output"
			x.add(join(p, "output"), bulwark.SurfaceToolResult, role, item.get("output"))
		}
	case "custom_tool_call":
		x.key = slot
		x.add(join(p, "input"), bulwark.SurfaceToolArguments, role, item.get("input"))
	case "reasoning":
		// Stream events index summary parts by summary_index and
		// reasoning text by content_index.
		for _, kn := range [...][2]string{{"summary", ".summary"}, {"content", ".reasoning"}} {
			k, name := kn[0], kn[1]
			if list := item.get(k); list != nil && list.kind == kArray {
				for j, e := range list.vals {
					x.key = slot + name + strconv.Itoa(j)
					x.add(join(index(join(p, k), j), "text"), s, role, e.get("text"))
				}
			}
		}
	}
}

// messagesContent handles the content blocks of an Anthropic response.
func (x *extractor) messagesContent(c *node, base string) {
	if c == nil || c.kind != kArray {
		return
	}
	const role = "assistant"
	for i, b := range c.vals {
		p := index(base, i)
		x.key = "block" + strconv.Itoa(i)
		switch b.getString("type") {
		case "tool_use", "server_tool_use", "mcp_tool_use":
			if x.rawArgs {
				continue // streams carry tool input as JSON fragments only
			}
			x.walkStrings(b.get("input"), join(p, "input"), bulwark.SurfaceToolArguments, role)
		case "thinking":
			x.add(join(p, "thinking"), bulwark.SurfaceModelOutput, role, b.get("thinking"))
		case "mcp_tool_result":
			_ = x.content(b.get("content"), join(p, "content"), bulwark.SurfaceToolResult, role)
		default:
			x.add(join(p, "text"), bulwark.SurfaceModelOutput, role, b.get("text"))
		}
	}
	x.key = ""
}

// SetText replaces the text of Parts[i] in the body (to redact it).
func (r *Response) SetText(i int, s string) {
	r.Parts[i].Text = s
	r.setText(i, s)
}

// Modified reports whether the body changed since it was parsed.
func (r *Response) Modified() bool { return r.modified }

// Encode returns the body: the original bytes when nothing was modified,
// the re-encoded document otherwise. The result must not be modified.
func (r *Response) Encode() ([]byte, error) {
	if !r.modified {
		return r.body, nil
	}
	return r.encode(), nil
}
