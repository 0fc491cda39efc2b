package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/danielgtaylor/huma/v2"
)

// ErrorDetail points at one problem in the request.
type ErrorDetail struct {
	Field    string `json:"field,omitempty" doc:"Request field at fault, e.g. username"`
	Location string `json:"location,omitempty" doc:"Where in the request, e.g. body.username or query.limit"`
	Message  string `json:"message" doc:"What is wrong and how to fix it"`
}

// ErrorInfo is the content of every error response.
type ErrorInfo struct {
	Code    string        `json:"code" doc:"Stable machine-readable code" example:"validation_failed"`
	Message string        `json:"message" doc:"Human-readable explanation"`
	Details []ErrorDetail `json:"details,omitempty"`
}

// ErrorBody is the one error shape of the admin API: {"error":{"code","message","details"}}.
type ErrorBody struct {
	status int
	Err    ErrorInfo `json:"error"`
}

func (e *ErrorBody) Error() string { return e.Err.Code + ": " + e.Err.Message }

// GetStatus implements huma.StatusError.
func (e *ErrorBody) GetStatus() int { return e.status }

// statusOf maps domain error codes to HTTP statuses.
func statusOf(c bulwark.ErrorCode) int {
	switch c {
	case bulwark.CodeInvalid:
		return http.StatusBadRequest
	case bulwark.CodeUnauthenticated:
		return http.StatusUnauthorized
	case bulwark.CodeForbidden, bulwark.CodePasswordChangeRequired:
		return http.StatusForbidden
	case bulwark.CodeNotFound:
		return http.StatusNotFound
	case bulwark.CodeConflict:
		return http.StatusConflict
	case bulwark.CodeUnprocessable:
		return http.StatusUnprocessableEntity
	case bulwark.CodeRateLimited:
		return http.StatusTooManyRequests
	case bulwark.CodeUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// codeOfStatus names the code for errors raised by huma itself.
func codeOfStatus(status int) string {
	switch status {
	case http.StatusBadRequest:
		return string(bulwark.CodeInvalid)
	case http.StatusUnauthorized:
		return string(bulwark.CodeUnauthenticated)
	case http.StatusForbidden:
		return string(bulwark.CodeForbidden)
	case http.StatusNotFound:
		return string(bulwark.CodeNotFound)
	case http.StatusMethodNotAllowed:
		return "method_not_allowed"
	case http.StatusNotAcceptable:
		return "not_acceptable"
	case http.StatusConflict:
		return string(bulwark.CodeConflict)
	case http.StatusRequestEntityTooLarge:
		return "body_too_large"
	case http.StatusUnsupportedMediaType:
		return "unsupported_media_type"
	case http.StatusUnprocessableEntity:
		return string(bulwark.CodeUnprocessable)
	case http.StatusTooManyRequests:
		return string(bulwark.CodeRateLimited)
	case http.StatusServiceUnavailable:
		return string(bulwark.CodeUnavailable)
	}
	if status >= 500 {
		return string(bulwark.CodeInternal)
	}
	return "error"
}

func init() {
	// Every error huma raises (bad JSON, schema validation, body too large)
	// takes our error shape instead of RFC 9457 problem details, so clients
	// parse one format.
	huma.NewError = newHumaError
}

func newHumaError(status int, msg string, errs ...error) huma.StatusError {
	body := &ErrorBody{status: status, Err: ErrorInfo{Code: codeOfStatus(status), Message: msg}}
	for _, e := range errs {
		if e == nil {
			continue
		}
		var d huma.ErrorDetailer
		if errors.As(e, &d) {
			dd := d.ErrorDetail()
			field := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(dd.Location, "body."), "query."), "path.")
			if field == "body" {
				field = ""
				// huma reports a missing property at the body; name the field.
				if name, ok := strings.CutPrefix(dd.Message, "expected required property "); ok {
					field, _, _ = strings.Cut(name, " ")
				}
			}
			body.Err.Details = append(body.Err.Details, ErrorDetail{Field: field, Location: dd.Location, Message: dd.Message})
		} else if status < 500 {
			body.Err.Details = append(body.Err.Details, ErrorDetail{Message: e.Error()})
		}
	}
	switch {
	case status == http.StatusUnprocessableEntity && len(body.Err.Details) > 0:
		d := body.Err.Details[0]
		body.Err.Message = fmt.Sprintf("%s: %s", orDefault(d.Field, d.Location), d.Message)
		if len(body.Err.Details) > 1 {
			body.Err.Message += fmt.Sprintf(" (and %d more)", len(body.Err.Details)-1)
		}
	case status == http.StatusBadRequest && len(body.Err.Details) > 0 && body.Err.Details[0].Location == "body":
		body.Err.Message = "request body is not valid JSON: " + body.Err.Details[0].Message
	case status == http.StatusRequestEntityTooLarge:
		body.Err.Message = "request body is too large"
	}
	return body
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// toAPIError converts an error from a handler into the error body, keeping
// internal details out of the response.
func toAPIError(err error) error {
	var ab *ErrorBody
	if errors.As(err, &ab) {
		return err
	}
	var se huma.StatusError
	if errors.As(err, &se) {
		return err
	}
	var be *bulwark.Error
	if !errors.As(err, &be) {
		return &ErrorBody{status: 500, Err: ErrorInfo{Code: string(bulwark.CodeInternal), Message: "internal error; the server log has the details"}}
	}
	body := &ErrorBody{status: statusOf(be.Code), Err: ErrorInfo{Code: string(be.Code), Message: be.Message}}
	if be.Code == bulwark.CodeInternal {
		body.Err.Message = "internal error; the server log has the details"
	}
	for _, f := range be.Fields {
		body.Err.Details = append(body.Err.Details, ErrorDetail{Field: f.Field, Location: "body." + f.Field, Message: f.Message})
	}
	if be.RetryAfterSeconds > 0 {
		return huma.ErrorWithHeaders(body, http.Header{"Retry-After": {strconv.Itoa(be.RetryAfterSeconds)}})
	}
	return body
}

// writeError writes the error body outside huma (middleware).
func writeError(w http.ResponseWriter, status int, code bulwark.ErrorCode, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(&ErrorBody{Err: ErrorInfo{Code: string(code), Message: msg}})
}
