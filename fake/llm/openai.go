package llm

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// decode parses a request body into v and writes the provider's error when
// it cannot: a syntax error is "not JSON", a type mismatch names the field.
func decode(w http.ResponseWriter, d dialect, body []byte, v any) bool {
	err := json.Unmarshal(body, v)
	if err == nil {
		return true
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		if d == anthropic {
			d.invalid(w, http.StatusBadRequest, te.Field+": Input should be a valid "+te.Type.String(), "")
		} else {
			d.write(w, http.StatusBadRequest, "invalid_request_error", "Invalid type for '"+te.Field+"': expected "+te.Type.String()+", but got "+te.Value+" instead.", te.Field, "invalid_type")
		}
		return false
	}
	d.badJSON(w)
	return false
}

// ---- Chat Completions (OpenAI and Azure) ----

type chatRequest struct {
	Model         *string        `json:"model"`
	Messages      *[]chatMessage `json:"messages"`
	Stream        bool           `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

type chatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

var chatRoles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

type chatUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
		AudioTokens  int `json:"audio_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens          int `json:"reasoning_tokens"`
		AudioTokens              int `json:"audio_tokens"`
		AcceptedPredictionTokens int `json:"accepted_prediction_tokens"`
		RejectedPredictionTokens int `json:"rejected_prediction_tokens"`
	} `json:"completion_tokens_details"`
}

func newChatUsage(prompt, completion, cached int) *chatUsage {
	u := &chatUsage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	// OpenAI counts cached tokens inside prompt_tokens.
	u.PromptTokensDetails.CachedTokens = min(cached, prompt)
	return u
}

type chatCompletion struct {
	ID                  string          `json:"id"`
	Object              string          `json:"object"`
	Created             int64           `json:"created"`
	Model               string          `json:"model"`
	PromptFilterResults []promptFilter  `json:"prompt_filter_results,omitempty"`
	Choices             []chatChoice    `json:"choices"`
	Usage               json.RawMessage `json:"usage,omitempty"`
	ServiceTier         string          `json:"service_tier,omitempty"`
	SystemFingerprint   string          `json:"system_fingerprint"`
}

type chatChoice struct {
	Index                int             `json:"index"`
	Message              *chatOutMessage `json:"message,omitempty"`
	Delta                *chatDelta      `json:"delta,omitempty"`
	Logprobs             json.RawMessage `json:"logprobs"`
	FinishReason         *string         `json:"finish_reason"`
	ContentFilterResults *filterResults  `json:"content_filter_results,omitempty"`
}

type chatOutMessage struct {
	Role        string          `json:"role"`
	Content     string          `json:"content"`
	Refusal     json.RawMessage `json:"refusal"`
	Annotations []any           `json:"annotations"`
}

type chatDelta struct {
	Role    string          `json:"role,omitempty"`
	Content *string         `json:"content,omitempty"`
	Refusal json.RawMessage `json:"refusal,omitempty"`
}

// Azure adds content-filter verdicts to every answer; gateways parsing
// Azure streams must tolerate them (and the choice-less first chunk).
type filterVerdict struct {
	Filtered bool   `json:"filtered"`
	Severity string `json:"severity"`
}

type filterResults struct {
	Hate     filterVerdict `json:"hate"`
	SelfHarm filterVerdict `json:"self_harm"`
	Sexual   filterVerdict `json:"sexual"`
	Violence filterVerdict `json:"violence"`
}

type promptFilter struct {
	PromptIndex          int           `json:"prompt_index"`
	ContentFilterResults filterResults `json:"content_filter_results"`
}

var safe = filterVerdict{Severity: "safe"}

func cleanFilter() *filterResults {
	return &filterResults{Hate: safe, SelfHarm: safe, Sexual: safe, Violence: safe}
}

const fingerprint = "fp_fake0000"

func strp(s string) *string { return &s }

func (s *Server) chat(w http.ResponseWriter, r *http.Request, body []byte, c controls, d dialect, deployment string) {
	var req chatRequest
	if !decode(w, d, body, &req) {
		return
	}
	model := ""
	if req.Model != nil {
		model = *req.Model
	}
	if d == azure && model == "" {
		model = deployment // the deployment picks the model; a body model is optional
	}
	if model == "" {
		d.invalid(w, http.StatusBadRequest, "you must provide a model parameter", "")
		return
	}
	if req.Messages == nil {
		d.missing(w, "messages")
		return
	}
	msgs := *req.Messages
	if len(msgs) == 0 {
		d.write(w, http.StatusBadRequest, "invalid_request_error", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "messages", "empty_array")
		return
	}
	if req.StreamOptions != nil && !req.Stream {
		d.invalid(w, http.StatusBadRequest, "The 'stream_options' parameter is only allowed when 'stream' is enabled.", "stream_options")
		return
	}
	pieces := make([]string, 0, len(msgs))
	lastUser := ""
	for i, m := range msgs {
		param := "messages[" + strconv.Itoa(i) + "]"
		if !chatRoles[m.Role] {
			d.write(w, http.StatusBadRequest, "invalid_request_error", "Invalid value: '"+m.Role+"'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.", param+".role", "invalid_value")
			return
		}
		text, ok := contentText(m.Content)
		if !ok {
			d.write(w, http.StatusBadRequest, "invalid_request_error", "Invalid type for '"+param+".content': expected one of a string or array of objects.", param+".content", "invalid_type")
			return
		}
		pieces = append(pieces, text)
		if m.Role == "user" {
			lastUser = text
		}
	}
	// Like the providers, the body is validated before the model is looked up.
	if d == azure && !s.knownModel(deployment) {
		d.modelNotFound(w, deployment)
		return
	}
	if d != azure && !s.knownModel(model) {
		d.modelNotFound(w, model)
		return
	}

	reply := c.replyFor(lastUser)
	usage := newChatUsage(promptTokens(pieces), tokens(reply), c.cached)
	id := s.id("chatcmpl-")
	created := time.Now().Unix()
	tier := "default"
	var filter *filterResults
	var prompts []promptFilter
	if d == azure {
		tier, filter = "", cleanFilter()
		prompts = []promptFilter{{ContentFilterResults: *cleanFilter()}}
	}
	if !req.Stream {
		u, _ := json.Marshal(usage)
		respondJSON(w, c, chatCompletion{
			ID: id, Object: "chat.completion", Created: created, Model: model, PromptFilterResults: prompts,
			Choices: []chatChoice{{
				Message:      &chatOutMessage{Role: "assistant", Content: reply, Refusal: jsonNull, Annotations: []any{}},
				Logprobs:     jsonNull,
				FinishReason: strp("stop"), ContentFilterResults: filter,
			}},
			Usage: u, ServiceTier: tier, SystemFingerprint: fingerprint,
		})
		return
	}

	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	chunk := func(choices []chatChoice) chatCompletion {
		ch := chatCompletion{ID: id, Object: "chat.completion.chunk", Created: created, Model: model,
			Choices: choices, ServiceTier: tier, SystemFingerprint: fingerprint}
		if includeUsage {
			ch.Usage = jsonNull // OpenAI sends "usage": null on every chunk but the last
		}
		return ch
	}
	deltas := split(reply, c.chunks)
	abortAfter := 2 // the role chunk and the first delta
	if d == azure {
		abortAfter++
	}
	st := startSSE(w, r, c, abortAfter)
	if d == azure && !st.event("", chatCompletion{Choices: []chatChoice{}, PromptFilterResults: prompts}) {
		return
	}
	if !st.event("", chunk([]chatChoice{{Delta: &chatDelta{Role: "assistant", Content: strp(""), Refusal: jsonNull}, Logprobs: jsonNull}})) {
		return
	}
	for _, p := range deltas {
		if !st.event("", chunk([]chatChoice{{Delta: &chatDelta{Content: strp(p)}, Logprobs: jsonNull, ContentFilterResults: filter}})) {
			return
		}
	}
	if !st.event("", chunk([]chatChoice{{Delta: &chatDelta{}, Logprobs: jsonNull, FinishReason: strp("stop")}})) {
		return
	}
	if includeUsage {
		last := chunk([]chatChoice{})
		last.Usage, _ = json.Marshal(usage)
		if !st.event("", last) {
			return
		}
	}
	st.data("", []byte("[DONE]"))
}

var jsonNull = json.RawMessage("null")

// ---- Responses API ----

type responsesRequest struct {
	Model              *string           `json:"model"`
	Input              json.RawMessage   `json:"input"`
	Instructions       *string           `json:"instructions"`
	Stream             bool              `json:"stream"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Temperature        *float64          `json:"temperature"`
	TopP               *float64          `json:"top_p"`
	Store              *bool             `json:"store"`
	Metadata           map[string]string `json:"metadata"`
	PreviousResponseID *string           `json:"previous_response_id"`
	User               *string           `json:"user"`
}

type responsesUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

type responseObject struct {
	ID                 string            `json:"id"`
	Object             string            `json:"object"`
	CreatedAt          int64             `json:"created_at"`
	Status             string            `json:"status"`
	Error              json.RawMessage   `json:"error"`
	IncompleteDetails  json.RawMessage   `json:"incomplete_details"`
	Instructions       *string           `json:"instructions"`
	MaxOutputTokens    *int              `json:"max_output_tokens"`
	Model              string            `json:"model"`
	Output             []responseItem    `json:"output"`
	ParallelToolCalls  bool              `json:"parallel_tool_calls"`
	PreviousResponseID *string           `json:"previous_response_id"`
	Reasoning          json.RawMessage   `json:"reasoning"`
	Store              bool              `json:"store"`
	Temperature        float64           `json:"temperature"`
	Text               json.RawMessage   `json:"text"`
	ToolChoice         string            `json:"tool_choice"`
	Tools              []any             `json:"tools"`
	TopP               float64           `json:"top_p"`
	Truncation         string            `json:"truncation"`
	Usage              *responsesUsage   `json:"usage"`
	User               *string           `json:"user"`
	Metadata           map[string]string `json:"metadata"`
}

type responseItem struct {
	ID      string       `json:"id"`
	Type    string       `json:"type"`
	Status  string       `json:"status"`
	Role    string       `json:"role"`
	Content []outputText `json:"content"`
}

type outputText struct {
	Type        string `json:"type"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
	Text        string `json:"text"`
}

type responsesEvent struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       *responseObject `json:"response,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	Item           *responseItem   `json:"item,omitempty"`
	Part           *outputText     `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Logprobs       *[]any          `json:"logprobs,omitempty"`
}

// responsesInput extracts the prompt texts and the last user text from an
// input that is a string or an array of input items.
func responsesInput(raw json.RawMessage) (pieces []string, lastUser string, ok bool) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return []string{s}, s, true
	}
	var items []struct {
		Type    string          `json:"type"`
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
		Output  json.RawMessage `json:"output"`
	}
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, "", false
	}
	for _, it := range items {
		content := it.Content
		if it.Type == "function_call_output" {
			content = it.Output
		}
		text, ok := contentText(content)
		if !ok {
			return nil, "", false
		}
		pieces = append(pieces, text)
		if it.Role == "user" && (it.Type == "" || it.Type == "message") {
			lastUser = text
		}
	}
	return pieces, lastUser, true
}

func (s *Server) responses(w http.ResponseWriter, r *http.Request, body []byte, c controls) {
	d := openAI
	var req responsesRequest
	if !decode(w, d, body, &req) {
		return
	}
	if req.Model == nil || *req.Model == "" {
		d.invalid(w, http.StatusBadRequest, "you must provide a model parameter", "")
		return
	}
	model := *req.Model
	if len(req.Input) == 0 || string(req.Input) == "null" {
		d.missing(w, "input")
		return
	}
	pieces, lastUser, ok := responsesInput(req.Input)
	if !ok {
		d.write(w, http.StatusBadRequest, "invalid_request_error", "Invalid type for 'input': expected one of a string or array of input items.", "input", "invalid_type")
		return
	}
	if req.Instructions != nil {
		pieces = append(pieces, *req.Instructions)
	}
	if !s.knownModel(model) {
		d.modelNotFound(w, model)
		return
	}
	reply := c.replyFor(lastUser)
	prompt := promptTokens(pieces)
	usage := &responsesUsage{InputTokens: prompt, OutputTokens: tokens(reply), TotalTokens: prompt + tokens(reply)}
	usage.InputTokensDetails.CachedTokens = min(c.cached, prompt)

	resp := responseObject{
		ID: s.id("resp_"), Object: "response", CreatedAt: time.Now().Unix(), Status: "completed",
		Instructions: req.Instructions, MaxOutputTokens: req.MaxOutputTokens, Model: model,
		ParallelToolCalls: true, PreviousResponseID: req.PreviousResponseID,
		Reasoning: json.RawMessage(`{"effort":null,"summary":null}`), Store: true, Temperature: 1,
		Text: json.RawMessage(`{"format":{"type":"text"}}`), ToolChoice: "auto", Tools: []any{}, TopP: 1,
		Truncation: "disabled", User: req.User, Metadata: map[string]string{},
	}
	if req.Store != nil {
		resp.Store = *req.Store
	}
	if req.Temperature != nil {
		resp.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		resp.TopP = *req.TopP
	}
	if req.Metadata != nil {
		resp.Metadata = req.Metadata
	}
	msgID := s.id("msg_")
	done := outputText{Type: "output_text", Annotations: []any{}, Logprobs: []any{}, Text: reply}
	doneItem := responseItem{ID: msgID, Type: "message", Status: "completed", Role: "assistant", Content: []outputText{done}}
	if !req.Stream {
		resp.Output, resp.Usage = []responseItem{doneItem}, usage
		respondJSON(w, c, resp)
		return
	}

	zero := 0
	seq := 0
	st := startSSE(w, r, c, 5) // created, in_progress, item added, part added, first delta
	emit := func(ev responsesEvent) bool {
		ev.SequenceNumber = seq
		seq++
		return st.event(ev.Type, ev)
	}
	pending := resp
	pending.Status, pending.Output = "in_progress", []responseItem{}
	if !emit(responsesEvent{Type: "response.created", Response: &pending}) ||
		!emit(responsesEvent{Type: "response.in_progress", Response: &pending}) {
		return
	}
	startItem := responseItem{ID: msgID, Type: "message", Status: "in_progress", Role: "assistant", Content: []outputText{}}
	if !emit(responsesEvent{Type: "response.output_item.added", OutputIndex: &zero, Item: &startItem}) {
		return
	}
	emptyPart := outputText{Type: "output_text", Annotations: []any{}, Logprobs: []any{}}
	if !emit(responsesEvent{Type: "response.content_part.added", ItemID: msgID, OutputIndex: &zero, ContentIndex: &zero, Part: &emptyPart}) {
		return
	}
	noLogprobs := []any{}
	for _, p := range split(reply, c.chunks) {
		if !emit(responsesEvent{Type: "response.output_text.delta", ItemID: msgID, OutputIndex: &zero, ContentIndex: &zero, Delta: strp(p), Logprobs: &noLogprobs}) {
			return
		}
	}
	if !emit(responsesEvent{Type: "response.output_text.done", ItemID: msgID, OutputIndex: &zero, ContentIndex: &zero, Text: strp(reply), Logprobs: &noLogprobs}) ||
		!emit(responsesEvent{Type: "response.content_part.done", ItemID: msgID, OutputIndex: &zero, ContentIndex: &zero, Part: &done}) ||
		!emit(responsesEvent{Type: "response.output_item.done", OutputIndex: &zero, Item: &doneItem}) {
		return
	}
	resp.Output, resp.Usage = []responseItem{doneItem}, usage
	emit(responsesEvent{Type: "response.completed", Response: &resp})
}

// ---- Models ----

// defaultModels is listed when Options.Models is empty (any model is then
// accepted).
var defaultModels = []string{"gpt-4o-mini", "gpt-4o", "gpt-4.1", "claude-sonnet-4-5", "claude-haiku-4-5"}

type openAIModel struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type anthropicModel struct {
	Type        string `json:"type"`
	ID          string `json:"id"`
	DisplayName string `json:"display_name"`
	CreatedAt   string `json:"created_at"`
}

func (s *Server) models(w http.ResponseWriter, _ *http.Request, d dialect, c controls) {
	names := s.opts.Models
	if len(names) == 0 {
		names = defaultModels
	}
	if d == anthropic {
		list := struct {
			Data    []anthropicModel `json:"data"`
			HasMore bool             `json:"has_more"`
			FirstID *string          `json:"first_id"`
			LastID  *string          `json:"last_id"`
		}{Data: []anthropicModel{}}
		for _, n := range names {
			list.Data = append(list.Data, anthropicModel{Type: "model", ID: n, DisplayName: n, CreatedAt: "2025-01-01T00:00:00Z"})
		}
		list.FirstID, list.LastID = strp(names[0]), strp(names[len(names)-1])
		respondJSON(w, c, list)
		return
	}
	list := struct {
		Object string        `json:"object"`
		Data   []openAIModel `json:"data"`
	}{Object: "list", Data: []openAIModel{}}
	for _, n := range names {
		owner := "openai"
		if strings.HasPrefix(n, "claude") {
			owner = "anthropic"
		}
		list.Data = append(list.Data, openAIModel{ID: n, Object: "model", Created: 1700000000, OwnedBy: owner})
	}
	respondJSON(w, c, list)
}
