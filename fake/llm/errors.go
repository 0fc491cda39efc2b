package llm

import (
	"encoding/json"
	"net/http"
	"time"
)

// dialect is whose error shapes and headers a response uses.
type dialect int

const (
	openAI dialect = iota
	azure
	anthropic
)

// setRequestID sets the provider's request id header; Anthropic repeats it
// in error bodies.
func (d dialect) setRequestID(w http.ResponseWriter, id string) {
	switch d {
	case anthropic:
		w.Header().Set("request-id", id)
	case azure:
		w.Header().Set("apim-request-id", id)
		w.Header().Set("x-request-id", id)
	default:
		w.Header().Set("x-request-id", id)
	}
}

type openAIError struct {
	Error openAIErrorBody `json:"error"`
}

type openAIErrorBody struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// azureError is the shape Azure's API management layer answers with (auth,
// routing, rate limits); validation errors from the model service itself
// use the OpenAI shape.
type azureError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

type anthropicError struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
	RequestID string `json:"request_id,omitempty"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// write sends an error body. For Azure, an empty typ selects the
// {"error":{"code","message"}} gateway shape with code.
func (d dialect) write(w http.ResponseWriter, status int, typ, msg, param, code string) {
	var body any
	switch {
	case d == anthropic:
		e := anthropicError{Type: "error", RequestID: w.Header().Get("request-id")}
		e.Error.Type, e.Error.Message = typ, msg
		body = e
	case d == azure && typ == "":
		var e azureError
		e.Error.Code, e.Error.Message = code, msg
		body = e
	default:
		body = openAIError{Error: openAIErrorBody{Message: msg, Type: typ, Param: nullable(param), Code: nullable(code)}}
	}
	writeJSON(w, status, body)
}

// invalid is the provider's 400-class request validation error.
func (d dialect) invalid(w http.ResponseWriter, status int, msg, param string) {
	d.write(w, status, "invalid_request_error", msg, param, "")
}

// missing reports a required body field that is absent.
func (d dialect) missing(w http.ResponseWriter, field string) {
	if d == anthropic {
		d.invalid(w, http.StatusBadRequest, field+": Field required", "")
		return
	}
	d.write(w, http.StatusBadRequest, "invalid_request_error", "Missing required parameter: '"+field+"'.", field, "missing_required_parameter")
}

// badJSON reports a body that does not parse.
func (d dialect) badJSON(w http.ResponseWriter) {
	if d == anthropic {
		d.invalid(w, http.StatusBadRequest, "There was an error parsing the body of your request. Please make sure it is valid JSON.", "")
		return
	}
	d.invalid(w, http.StatusBadRequest, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)", "")
}

func (d dialect) notFound(w http.ResponseWriter, r *http.Request) {
	switch d {
	case anthropic:
		d.write(w, http.StatusNotFound, "not_found_error", "Not Found", "", "")
	case azure:
		d.write(w, http.StatusNotFound, "", "Resource not found", "", "404")
	default:
		d.write(w, http.StatusNotFound, "invalid_request_error", "Invalid URL ("+r.Method+" "+r.URL.Path+")", "", "")
	}
}

func (d dialect) modelNotFound(w http.ResponseWriter, model string) {
	switch d {
	case anthropic:
		d.write(w, http.StatusNotFound, "not_found_error", "model: "+model, "", "")
	case azure:
		d.write(w, http.StatusNotFound, "", "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again.", "", "DeploymentNotFound")
	default:
		d.write(w, http.StatusNotFound, "invalid_request_error", "The model `"+model+"` does not exist or you do not have access to it.", "", "model_not_found")
	}
}

// rateLimited answers 429 with Retry-After and the provider's rate-limit
// headers. Retry-After is one second so retry tests stay fast.
func (d dialect) rateLimited(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Retry-After", "1")
	switch d {
	case anthropic:
		h.Set("anthropic-ratelimit-requests-limit", "50")
		h.Set("anthropic-ratelimit-requests-remaining", "0")
		h.Set("anthropic-ratelimit-requests-reset", time.Now().Add(time.Second).UTC().Format(time.RFC3339))
		d.write(w, http.StatusTooManyRequests, "rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per minute. Please retry after 1 second.", "", "")
	case azure:
		d.write(w, http.StatusTooManyRequests, "", "Requests to the ChatCompletions_Create Operation under Azure OpenAI API have exceeded call rate limit of your current pricing tier. Please retry after 1 second.", "", "429")
	default:
		h.Set("x-ratelimit-limit-requests", "60")
		h.Set("x-ratelimit-remaining-requests", "0")
		h.Set("x-ratelimit-reset-requests", "1s")
		d.write(w, http.StatusTooManyRequests, "requests", "Rate limit reached for requests per min (RPM): Limit 60, Used 60, Requested 1. Please try again in 1s.", "", "rate_limit_exceeded")
	}
}

func (d dialect) serverError(w http.ResponseWriter) {
	switch d {
	case anthropic:
		d.write(w, http.StatusInternalServerError, "api_error", "Internal server error", "", "")
	case azure:
		d.write(w, http.StatusInternalServerError, "", "The server had an error while processing your request. Sorry about that!", "", "InternalServerError")
	default:
		d.write(w, http.StatusInternalServerError, "server_error", "The server had an error while processing your request. Sorry about that!", "", "")
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n')) // a client that went away is not the fake's problem
}
