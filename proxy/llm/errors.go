package llm

import (
	"net/http"
	"slices"

	"github.com/bulwarkhq/bulwark/proxy/sse"
)

// Anthropic's error types (https://docs.anthropic.com/en/api/errors).
var anthropicTypes = []string{
	"invalid_request_error", "authentication_error", "billing_error", "permission_error",
	"not_found_error", "request_too_large", "rate_limit_error", "api_error", "overloaded_error",
}

// AnthropicErrorType is Anthropic's error type for an HTTP status. 4xx
// statuses without a type of their own are invalid_request_error, as
// Anthropic documents; 5xx ones are api_error, except 503 and 529, which
// say the service is overloaded.
func AnthropicErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusPaymentRequired:
		return "billing_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}

// OpenAIErrorType is the error type OpenAI-compatible APIs use for an HTTP
// status, for callers that have no more specific type.
func OpenAIErrorType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	}
	if status >= 500 {
		return "server_error"
	}
	return "invalid_request_error"
}

// anthropicType maps an error type to Anthropic's names: its own names
// pass, the OpenAI-style ones the gateway uses are translated, and anything
// else falls back to the status (api_error when there is none, as in a
// stream).
func anthropicType(errType string, status int) string {
	if slices.Contains(anthropicTypes, errType) {
		return errType
	}
	switch errType {
	case "server_error":
		return "api_error"
	case "rate_limit_exceeded", "insufficient_quota":
		return "rate_limit_error"
	}
	if status == 0 {
		return "api_error"
	}
	return AnthropicErrorType(status)
}

// ErrorBody returns an error response body in the shape the API's clients
// parse:
//
//	OpenAI:    {"error":{"message":…,"type":…,"param":null,"code":…}}
//	Anthropic: {"type":"error","error":{"type":…,"message":…}}
//
// An empty errType is derived from status. code is null when empty. The
// Anthropic shape has no code: put a stable identifier (a rule id) into the
// message as well when the client must see it.
func ErrorBody(api API, status int, errType, code, message string) []byte {
	if api.Anthropic() {
		return anthropicError(nil, anthropicType(errType, status), message)
	}
	if errType == "" {
		errType = OpenAIErrorType(status)
	}
	return openAIError(nil, errType, code, message)
}

func openAIError(dst []byte, errType, code, message string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = appendString(dst, message)
	dst = append(dst, `,"type":`...)
	dst = appendString(dst, errType)
	dst = append(dst, `,"param":null,"code":`...)
	dst = appendNullable(dst, code)
	return append(dst, "}}"...)
}

func anthropicError(dst []byte, errType, message string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = appendString(dst, errType)
	dst = append(dst, `,"message":`...)
	dst = appendString(dst, message)
	return append(dst, "}}"...)
}

func appendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return appendString(dst, s)
}

// StreamErrorEvent returns an SSE event that reports an error inside a
// stream that has already started, in the shape each SDK recognises:
//
//	chat:      data: {"error":{"message","type","param":null,"code"}}
//	           (the OpenAI SDKs raise on a chunk with an "error" key)
//	Responses: event: error
//	           data: {"type":"error","code":…,"message":…,"param":null}
//	Anthropic: event: error
//	           data: {"type":"error","error":{"type":…,"message":…}}
//
// An empty errType becomes server_error (OpenAI) or api_error (Anthropic).
func StreamErrorEvent(api API, errType, code, message string) []byte {
	switch {
	case api.Anthropic():
		return sse.Encode(sse.Event{Event: "error", Data: string(anthropicError(nil, anthropicType(errType, 0), message))})
	case api == APIResponses:
		d := append([]byte(nil), `{"type":"error","code":`...)
		d = appendNullable(d, code)
		d = append(d, `,"message":`...)
		d = appendString(d, message)
		d = append(d, `,"param":null}`...)
		return sse.Encode(sse.Event{Event: "error", Data: string(d)})
	}
	if errType == "" {
		errType = "server_error"
	}
	return sse.Encode(sse.Event{Data: string(openAIError(nil, errType, code, message))})
}
