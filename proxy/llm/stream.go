package llm

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/proxy/sse"
)

// DeltaText is one text carried by a stream event.
type DeltaText struct {
	// Key names the output slot the text belongs to, stable for the whole
	// stream: "choice0", "choice0.tool1", "choice0.refusal",
	// "choice0.reasoning_content" (chat); "output1.content0", "output1" (a
	// function call's arguments), "output0.summary0", "output0.reasoning0"
	// (Responses); "block0" (Anthropic). Concatenating the increments of a
	// key gives the slot's text so far.
	Key     string
	Surface bulwark.Surface
	Text    string
	// Full marks a text that is the whole text of the slot rather than an
	// increment: the *.done events and the final response of the Responses
	// API repeat what the deltas carried. A proxy that redacts deltas must
	// replace these too, with the redacted whole.
	Full bool
	// Path locates the text in the event's data (see RewriteEvent).
	Path string
}

// Delta is what one stream event carries.
type Delta struct {
	Texts []DeltaText
	// Usage is set (Present) by the events that report usage: the last
	// chat chunk when stream_options.include_usage is on, Responses
	// response.completed (and .incomplete, .failed), Anthropic
	// message_start (input) and message_delta (input from message_start
	// with the output so far; the counts are cumulative, so the last
	// Present Usage of a stream is its total).
	Usage Usage
	// Done marks the end of the stream: chat "[DONE]", Responses
	// response.completed/.incomplete/.failed, Anthropic message_stop.
	Done bool
	// Model is the model the provider says answered, when the event names it.
	Model string
	// Error marks an error the upstream sent inside the stream (after its
	// 200 status); ErrorMessage is its message.
	Error        bool
	ErrorMessage string
}

// StreamDecoder decodes the events of one response stream. It keeps the
// little state a stream needs (Anthropic's input usage from message_start)
// and is not safe for concurrent use.
type StreamDecoder struct {
	api API
	// Anthropic reports input usage in message_start and output usage in
	// message_delta; the decoder joins them.
	anth Usage
}

// NewStreamDecoder returns a decoder for a stream of api.
func NewStreamDecoder(api API) *StreamDecoder { return &StreamDecoder{api: api} }

// Decode decodes one event. Events without data (comments, keep-alives),
// pings and event types that carry no text give an empty Delta. Data that
// is not the JSON the API sends is an error.
func (d *StreamDecoder) Decode(ev *sse.Event) (Delta, error) {
	var out Delta
	if ev == nil || ev.Data == "" {
		return out, nil
	}
	var err error
	switch d.api {
	case APIChat:
		err = decodeChat(ev.Data, &out)
	case APIResponses:
		err = decodeResponses(ev.Data, &out)
	case APIMessages:
		err = d.decodeMessages(ev.Data, &out)
	default:
		return out, fmt.Errorf("llm: %s has no stream format", d.api)
	}
	return out, err
}

func streamError(api API, err error) error {
	return fmt.Errorf("llm: %s stream event: %w", api, err)
}

// Chat Completions chunks. Only the fields read are declared, so that the
// rest of the chunk is skipped without being decoded.
type chatChunk struct {
	Model   string          `json:"model"`
	Choices []chatChoice    `json:"choices"`
	Usage   *chatUsage      `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type chatChoice struct {
	Index int       `json:"index"`
	Delta chatDelta `json:"delta"`
}

type chatDelta struct {
	Content          *string         `json:"content"`
	Refusal          *string         `json:"refusal"`
	ReasoningContent *string         `json:"reasoning_content"`
	Reasoning        *string         `json:"reasoning"`
	ToolCalls        []chatToolDelta `json:"tool_calls"`
	FunctionCall     *struct {
		Arguments *string `json:"arguments"`
	} `json:"function_call"`
}

type chatToolDelta struct {
	Index    int `json:"index"`
	Function struct {
		Arguments *string `json:"arguments"`
	} `json:"function"`
}

type chatUsage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	PromptTokensDetails *struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
}

type errorObject struct {
	Message string `json:"message"`
}

func decodeChat(data string, out *Delta) error {
	if data == "[DONE]" {
		out.Done = true
		return nil
	}
	var c chatChunk
	if err := json.Unmarshal([]byte(data), &c); err != nil {
		return streamError(APIChat, err)
	}
	out.Model = c.Model
	if len(c.Error) > 0 && string(c.Error) != "null" {
		out.Error = true
		var e errorObject
		if json.Unmarshal(c.Error, &e) == nil {
			out.ErrorMessage = e.Message
		}
	}
	for k := range c.Choices {
		ch := &c.Choices[k]
		dl := &ch.Delta
		// Most chunks carry one piece of content; build keys and paths only
		// for what is there.
		if dl.Content == nil && dl.Refusal == nil && dl.ReasoningContent == nil && dl.Reasoning == nil &&
			len(dl.ToolCalls) == 0 && dl.FunctionCall == nil {
			continue
		}
		slot := "choice" + strconv.Itoa(ch.Index)
		p := "choices[" + strconv.Itoa(k) + "].delta."
		mo := bulwark.SurfaceModelOutput
		if dl.Content != nil {
			out.add(slot, mo, dl.Content, p+"content", false)
		}
		if dl.Refusal != nil {
			out.add(slot+".refusal", mo, dl.Refusal, p+"refusal", false)
		}
		if dl.ReasoningContent != nil {
			out.add(slot+".reasoning_content", mo, dl.ReasoningContent, p+"reasoning_content", false)
		}
		if dl.Reasoning != nil {
			out.add(slot+".reasoning", mo, dl.Reasoning, p+"reasoning", false)
		}
		for j, tc := range dl.ToolCalls {
			if tc.Function.Arguments != nil {
				out.add(slot+".tool"+strconv.Itoa(tc.Index), bulwark.SurfaceToolArguments, tc.Function.Arguments,
					p+"tool_calls["+strconv.Itoa(j)+"].function.arguments", false)
			}
		}
		if dl.FunctionCall != nil {
			out.add(slot+".tool0", bulwark.SurfaceToolArguments, dl.FunctionCall.Arguments, p+"function_call.arguments", false)
		}
	}
	if c.Usage != nil {
		out.Usage = Usage{InputTokens: c.Usage.PromptTokens, OutputTokens: c.Usage.CompletionTokens, Present: true}
		if c.Usage.PromptTokensDetails != nil {
			out.Usage.CachedTokens = c.Usage.PromptTokensDetails.CachedTokens
		}
	}
	return nil
}

func (out *Delta) add(key string, s bulwark.Surface, text *string, path string, full bool) {
	if text == nil || *text == "" {
		return
	}
	out.Texts = append(out.Texts, DeltaText{Key: key, Surface: s, Text: *text, Full: full, Path: path})
}

// Responses events. Fields whose type differs between event types are
// kept raw and read only for the types that use them.
type responsesEvent struct {
	Type         string          `json:"type"`
	OutputIndex  int             `json:"output_index"`
	ContentIndex int             `json:"content_index"`
	SummaryIndex int             `json:"summary_index"`
	Delta        json.RawMessage `json:"delta"`
	Text         json.RawMessage `json:"text"`
	Arguments    json.RawMessage `json:"arguments"`
	Refusal      json.RawMessage `json:"refusal"`
	Input        json.RawMessage `json:"input"`
	Part         json.RawMessage `json:"part"`
	Item         json.RawMessage `json:"item"`
	Response     json.RawMessage `json:"response"`
	Message      string          `json:"message"`
}

// rawString returns the string a raw JSON value holds, or nil.
func rawString(raw json.RawMessage) *string {
	if len(raw) == 0 || raw[0] != '"' {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return nil
	}
	return &s
}

func decodeResponses(data string, out *Delta) error {
	var e responsesEvent
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return streamError(APIResponses, err)
	}
	out0 := "output" + strconv.Itoa(e.OutputIndex)
	content := out0 + ".content" + strconv.Itoa(e.ContentIndex)
	mo, ta := bulwark.SurfaceModelOutput, bulwark.SurfaceToolArguments
	switch e.Type {
	case "response.output_text.delta", "response.refusal.delta":
		out.add(content, mo, rawString(e.Delta), "delta", false)
	case "response.output_text.done":
		out.add(content, mo, rawString(e.Text), "text", true)
	case "response.refusal.done":
		out.add(content, mo, rawString(e.Refusal), "refusal", true)
	case "response.function_call_arguments.delta", "response.custom_tool_call_input.delta", "response.mcp_call_arguments.delta":
		out.add(out0, ta, rawString(e.Delta), "delta", false)
	case "response.function_call_arguments.done", "response.mcp_call_arguments.done":
		out.add(out0, ta, rawString(e.Arguments), "arguments", true)
	case "response.custom_tool_call_input.done":
		out.add(out0, ta, rawString(e.Input), "input", true)
	case "response.reasoning_summary_text.delta":
		out.add(out0+".summary"+strconv.Itoa(e.SummaryIndex), mo, rawString(e.Delta), "delta", false)
	case "response.reasoning_summary_text.done":
		out.add(out0+".summary"+strconv.Itoa(e.SummaryIndex), mo, rawString(e.Text), "text", true)
	case "response.reasoning_text.delta":
		out.add(out0+".reasoning"+strconv.Itoa(e.ContentIndex), mo, rawString(e.Delta), "delta", false)
	case "response.reasoning_text.done":
		out.add(out0+".reasoning"+strconv.Itoa(e.ContentIndex), mo, rawString(e.Text), "text", true)
	case "response.content_part.added", "response.content_part.done":
		if len(e.Part) > 0 {
			var part struct {
				Text    *string `json:"text"`
				Refusal *string `json:"refusal"`
			}
			if err := json.Unmarshal(e.Part, &part); err != nil {
				return streamError(APIResponses, err)
			}
			out.add(content, mo, part.Text, "part.text", true)
			out.add(content, mo, part.Refusal, "part.refusal", true)
		}
	case "response.reasoning_summary_part.added", "response.reasoning_summary_part.done":
		if len(e.Part) > 0 {
			var part struct {
				Text *string `json:"text"`
			}
			if err := json.Unmarshal(e.Part, &part); err != nil {
				return streamError(APIResponses, err)
			}
			out.add(out0+".summary"+strconv.Itoa(e.SummaryIndex), mo, part.Text, "part.text", true)
		}
	case "response.output_item.added", "response.output_item.done":
		if len(e.Item) > 0 {
			item, err := parseJSON(e.Item)
			if err != nil {
				return streamError(APIResponses, err)
			}
			x := &extractor{rawArgs: true}
			x.responsesOutputItem(item, "item", e.OutputIndex)
			out.addParts(x, true)
		}
	case "error":
		out.Error = true
		out.ErrorMessage = e.Message
	}
	if len(e.Response) > 0 && e.Response[0] == '{' {
		// response.created, .in_progress, .completed, .incomplete, .failed, …
		resp, err := parseJSON(e.Response)
		if err != nil {
			return streamError(APIResponses, err)
		}
		out.Model = resp.getString("model")
		switch e.Type {
		case "response.completed", "response.incomplete", "response.failed":
			out.Done = true
			out.Usage = usageOf(APIResponses, resp.get("usage"))
			x := &extractor{rawArgs: true}
			x.responsesOutput(resp.get("output"), "response.output")
			out.addParts(x, true)
			if e.Type == "response.failed" {
				out.Error = true
				out.ErrorMessage = resp.get("error").getString("message")
			}
		}
	}
	return nil
}

// addParts adds the texts an extractor found in an embedded object.
func (out *Delta) addParts(x *extractor, full bool) {
	for i, p := range x.parts {
		out.Texts = append(out.Texts, DeltaText{Key: x.keys[i], Surface: p.Surface, Text: p.Text, Full: full, Path: p.Path})
	}
}

// Anthropic Messages events.
type messagesEvent struct {
	Type         string `json:"type"`
	Index        int    `json:"index"`
	ContentBlock *struct {
		Type     string  `json:"type"`
		Text     *string `json:"text"`
		Thinking *string `json:"thinking"`
	} `json:"content_block"`
	Delta *struct {
		Type        string  `json:"type"`
		Text        *string `json:"text"`
		PartialJSON *string `json:"partial_json"`
		Thinking    *string `json:"thinking"`
	} `json:"delta"`
	Message *struct {
		Model string         `json:"model"`
		Usage *messagesUsage `json:"usage"`
	} `json:"message"`
	Usage *messagesUsage `json:"usage"`
	Error *errorObject   `json:"error"`
}

// messagesUsage has pointers so that a field message_delta leaves out (or
// sends as null) is told apart from a 0.
type messagesUsage struct {
	InputTokens              *int64 `json:"input_tokens"`
	OutputTokens             *int64 `json:"output_tokens"`
	CacheReadInputTokens     *int64 `json:"cache_read_input_tokens"`
	CacheCreationInputTokens *int64 `json:"cache_creation_input_tokens"`
}

func (u *messagesUsage) mergeInto(dst *Usage) {
	set := func(d *int64, s *int64) {
		if s != nil {
			*d = *s
		}
	}
	set(&dst.InputTokens, u.InputTokens)
	set(&dst.OutputTokens, u.OutputTokens)
	set(&dst.CachedTokens, u.CacheReadInputTokens)
	set(&dst.CacheWriteTokens, u.CacheCreationInputTokens)
	dst.Present = true
}

func (d *StreamDecoder) decodeMessages(data string, out *Delta) error {
	var e messagesEvent
	if err := json.Unmarshal([]byte(data), &e); err != nil {
		return streamError(APIMessages, err)
	}
	slot := "block" + strconv.Itoa(e.Index)
	mo := bulwark.SurfaceModelOutput
	switch e.Type {
	case "message_start":
		if e.Message != nil {
			out.Model = e.Message.Model
			if e.Message.Usage != nil {
				d.anth = Usage{}
				e.Message.Usage.mergeInto(&d.anth)
				out.Usage = d.anth
			}
		}
	case "content_block_start":
		// Text blocks start empty, but nothing forbids a first piece here.
		if b := e.ContentBlock; b != nil {
			out.add(slot, mo, b.Text, "content_block.text", false)
			out.add(slot, mo, b.Thinking, "content_block.thinking", false)
		}
	case "content_block_delta":
		if dl := e.Delta; dl != nil {
			switch dl.Type {
			case "text_delta":
				out.add(slot, mo, dl.Text, "delta.text", false)
			case "input_json_delta":
				out.add(slot, bulwark.SurfaceToolArguments, dl.PartialJSON, "delta.partial_json", false)
			case "thinking_delta":
				out.add(slot, mo, dl.Thinking, "delta.thinking", false)
			}
		}
	case "message_delta":
		if e.Usage != nil {
			e.Usage.mergeInto(&d.anth)
			out.Usage = d.anth
		}
	case "message_stop":
		out.Done = true
	case "error":
		out.Error = true
		if e.Error != nil {
			out.ErrorMessage = e.Error.Message
		}
	}
	return nil
}

// RewriteEvent replaces texts of an event and returns its new wire bytes.
// texts maps indexes into the Texts of the Delta that Decode returned for
// ev to their new text. The texts an event carries do not depend on earlier
// events, so no decoder state is needed. Without replacements it returns
// ev.Raw. The other fields of the data are kept; the data is re-encoded
// compactly on one line.
func RewriteEvent(api API, ev *sse.Event, texts map[int]string) ([]byte, error) {
	if len(texts) == 0 {
		if ev.Raw != nil {
			return ev.Raw, nil
		}
		return sse.Encode(*ev), nil
	}
	delta, err := NewStreamDecoder(api).Decode(ev)
	if err != nil {
		return nil, err
	}
	root, err := parseJSON([]byte(ev.Data))
	if err != nil {
		return nil, streamError(api, err)
	}
	for i, s := range texts {
		if i < 0 || i >= len(delta.Texts) {
			return nil, fmt.Errorf("llm: the event carries %d texts, no text %d", len(delta.Texts), i)
		}
		n, err := resolve(root, delta.Texts[i].Path)
		if err != nil || n.kind != kString {
			return nil, fmt.Errorf("llm: text %d at %s cannot be replaced", i, delta.Texts[i].Path)
		}
		n.str = s
	}
	return sse.Encode(sse.Event{Event: ev.Event, Data: string(appendJSON(nil, root)), ID: ev.ID, Retry: ev.Retry}), nil
}
