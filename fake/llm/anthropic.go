package llm

import (
	"encoding/json"
	"net/http"
	"strconv"
)

type messagesRequest struct {
	Model     *string             `json:"model"`
	Messages  *[]anthropicMessage `json:"messages"`
	MaxTokens *int                `json:"max_tokens"`
	System    json.RawMessage     `json:"system"`
	Stream    bool                `json:"stream"`
}

type anthropicMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type anthropicUsage struct {
	InputTokens              int    `json:"input_tokens"`
	CacheCreationInputTokens int    `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int    `json:"cache_read_input_tokens"`
	OutputTokens             int    `json:"output_tokens"`
	ServiceTier              string `json:"service_tier,omitempty"`
}

type textBlock struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type anthropicMessageOut struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	Role         string          `json:"role"`
	Model        string          `json:"model"`
	Content      []textBlock     `json:"content"`
	StopReason   *string         `json:"stop_reason"`
	StopSequence *string         `json:"stop_sequence"`
	Usage        *anthropicUsage `json:"usage"`
}

type anthropicEvent struct {
	Type         string               `json:"type"`
	Message      *anthropicMessageOut `json:"message,omitempty"`
	Index        *int                 `json:"index,omitempty"`
	ContentBlock *textBlock           `json:"content_block,omitempty"`
	Delta        any                  `json:"delta,omitempty"`
	Usage        any                  `json:"usage,omitempty"`
}

type textDelta struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type stopDelta struct {
	StopReason   string  `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request, body []byte, c controls) {
	d := anthropic
	var req messagesRequest
	if !decode(w, d, body, &req) {
		return
	}
	switch {
	case req.Model == nil || *req.Model == "":
		d.missing(w, "model")
		return
	case req.Messages == nil:
		d.missing(w, "messages")
		return
	case req.MaxTokens == nil:
		d.missing(w, "max_tokens")
		return
	case *req.MaxTokens < 1:
		d.invalid(w, http.StatusBadRequest, "max_tokens: Input should be greater than or equal to 1", "")
		return
	case len(*req.Messages) == 0:
		d.invalid(w, http.StatusBadRequest, "messages: at least one message is required", "")
		return
	}
	var pieces []string
	if sys, ok := contentText(req.System); !ok {
		d.invalid(w, http.StatusBadRequest, "system: Input should be a valid string or list of text blocks", "")
		return
	} else if sys != "" {
		pieces = append(pieces, sys)
	}
	lastUser := ""
	for i, m := range *req.Messages {
		field := "messages." + strconv.Itoa(i)
		if m.Role != "user" && m.Role != "assistant" {
			d.invalid(w, http.StatusBadRequest, field+".role: Input should be 'user' or 'assistant'", "")
			return
		}
		if len(m.Content) == 0 {
			d.missing(w, field+".content")
			return
		}
		text, ok := contentText(m.Content)
		if !ok {
			d.invalid(w, http.StatusBadRequest, field+".content: Input should be a valid string or list of content blocks", "")
			return
		}
		pieces = append(pieces, text)
		if m.Role == "user" {
			lastUser = text
		}
	}
	model := *req.Model
	if !s.knownModel(model) {
		d.modelNotFound(w, model)
		return
	}

	reply := c.replyFor(lastUser)
	prompt := promptTokens(pieces)
	cached := min(c.cached, prompt)
	// Anthropic reports cache reads apart from input_tokens, not inside it.
	usage := &anthropicUsage{InputTokens: prompt - cached, CacheReadInputTokens: cached, OutputTokens: tokens(reply), ServiceTier: "standard"}
	msg := anthropicMessageOut{ID: s.id("msg_"), Type: "message", Role: "assistant", Model: model,
		Content: []textBlock{{Type: "text", Text: reply}}, StopReason: strp("end_turn"), Usage: usage}
	if !req.Stream {
		respondJSON(w, c, msg)
		return
	}

	st := startSSE(w, r, c, 4) // message_start, content_block_start, ping, first delta
	start := msg
	startUsage := *usage
	startUsage.OutputTokens = min(1, usage.OutputTokens) // the real API reports a token or so up front
	start.Content, start.StopReason, start.Usage = []textBlock{}, nil, &startUsage
	zero := 0
	if !st.event("message_start", anthropicEvent{Type: "message_start", Message: &start}) ||
		!st.event("content_block_start", anthropicEvent{Type: "content_block_start", Index: &zero, ContentBlock: &textBlock{Type: "text"}}) ||
		!st.event("ping", anthropicEvent{Type: "ping"}) {
		return
	}
	for _, p := range split(reply, c.chunks) {
		if !st.event("content_block_delta", anthropicEvent{Type: "content_block_delta", Index: &zero, Delta: textDelta{Type: "text_delta", Text: p}}) {
			return
		}
	}
	if !st.event("content_block_stop", anthropicEvent{Type: "content_block_stop", Index: &zero}) ||
		!st.event("message_delta", anthropicEvent{Type: "message_delta", Delta: stopDelta{StopReason: "end_turn"}, Usage: map[string]int{"output_tokens": usage.OutputTokens}}) {
		return
	}
	st.event("message_stop", anthropicEvent{Type: "message_stop"})
}
