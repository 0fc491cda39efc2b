// Package llm is the protocol layer of the LLM proxy: it decodes and
// re-encodes the bodies and streams of the OpenAI Chat Completions, OpenAI
// Responses and Anthropic Messages APIs.
//
// It owns the wire formats only. A request or response becomes a list of
// Parts, one per text the model reads or writes, each with its JSON path
// and surface; callers scan the Parts, replace texts with SetText and get
// the body back with Encode, which keeps everything else (numbers, key
// order, image parts, unknown fields) as it was. Streams are decoded event
// by event into Deltas. Errors are written in each provider's own shape.
// HTTP handling and policy decisions belong to the proxy and inspect
// packages built on top.
package llm

import (
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// API is the provider API a request speaks.
type API string

// APIs.
const (
	APIChat      API = "openai.chat"        // OpenAI Chat Completions (also Azure OpenAI deployments)
	APIResponses API = "openai.responses"   // OpenAI Responses
	APIMessages  API = "anthropic.messages" // Anthropic Messages
	APIModels    API = "models"             // GET models list (OpenAI and Anthropic share the path)
	APIOther     API = "other"              // anything else: relayed, not decoded
)

// Anthropic reports whether errors of this API use Anthropic's shape.
func (a API) Anthropic() bool { return a == APIMessages }

// Classify tells which API a request calls. path is relative to the proxy
// root, with or without a query string.
func Classify(method, path string) API {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	path = strings.TrimSuffix(path, "/")
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	// Azure OpenAI: /openai/deployments/{deployment}/chat/completions, and
	// the v1 surface /openai/v1/… that mirrors OpenAI's paths.
	if d, ok := AzureDeployment(path); ok && d != "" {
		if strings.HasSuffix(path, "/chat/completions") && strings.Count(path, "/") == 5 {
			if method == "POST" {
				return APIChat
			}
		}
		return APIOther
	}
	if strings.HasPrefix(path, "/openai/") {
		path = strings.TrimPrefix(path, "/openai")
	}
	switch path {
	case "/v1/chat/completions", "/chat/completions":
		if method == "POST" {
			return APIChat
		}
	case "/v1/responses", "/responses":
		if method == "POST" {
			return APIResponses
		}
	case "/v1/messages":
		if method == "POST" {
			return APIMessages
		}
	case "/v1/models", "/models":
		if method == "GET" {
			return APIModels
		}
	}
	return APIOther
}

// AzureDeployment returns the deployment name of an Azure OpenAI path
// (/openai/deployments/{deployment}/…). Azure names the model there, so its
// request bodies may omit "model": pass the deployment to ParseRequest with
// WithDefaultModel.
func AzureDeployment(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/openai/deployments/")
	if !ok {
		return "", false
	}
	d, _, _ := strings.Cut(rest, "/")
	return d, true
}

// Part is one text of a request or response that a model reads or wrote.
type Part struct {
	// Path locates the text in the body, in the syntax of the detect
	// package's finding paths: messages[2].content[0].text. Texts inside a
	// JSON-encoded string (tool call arguments) continue the path into
	// that document: messages[1].tool_calls[0].function.arguments.city.
	Path    string
	Surface bulwark.Surface
	// Role is the role of the message the text belongs to ("system",
	// "developer", "user", "assistant", "tool"), so an Anthropic tool_result
	// block keeps the role of its user message; "system" for top-level
	// instructions and system prompts, "tool" for Responses tool outputs,
	// "assistant" for Responses tool calls and for all response output, and
	// "" for tool definitions. Surface, not Role, says what the text is.
	Role string
	Text string
}

// Usage is the token usage a provider reported, as it reported it: the
// counts are not normalised across providers, because the same field means
// different things.
//
//   - OpenAI (chat and responses): InputTokens is the whole prompt
//     (prompt_tokens / input_tokens) and includes CachedTokens
//     (prompt_tokens_details.cached_tokens / input_tokens_details.cached_tokens).
//     OpenAI reports no cache writes: CacheWriteTokens is 0.
//     OutputTokens (completion_tokens / output_tokens) includes reasoning tokens.
//   - Anthropic: InputTokens (input_tokens) counts only the uncached input;
//     CachedTokens (cache_read_input_tokens) and CacheWriteTokens
//     (cache_creation_input_tokens) come on top of it.
//
// Present is false when the provider reported nothing.
type Usage struct {
	InputTokens      int64
	OutputTokens     int64
	CachedTokens     int64
	CacheWriteTokens int64
	Present          bool
}
