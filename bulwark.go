// Package bulwark holds Bulwark's domain types and the storage interfaces the
// rest of the program is written against. It imports the standard library
// only: no I/O happens here, only validation and the shape of the data.
package bulwark

import (
	"errors"
	"fmt"
)

// ErrorCode is a stable, machine-readable error class. The admin API maps
// each code to one HTTP status; clients switch on the code, not the text.
type ErrorCode string

// Error codes. Their HTTP statuses are fixed in the api package.
const (
	CodeInvalid                ErrorCode = "invalid_request"          // 400
	CodeUnauthenticated        ErrorCode = "unauthenticated"          // 401
	CodeForbidden              ErrorCode = "forbidden"                // 403
	CodePasswordChangeRequired ErrorCode = "password_change_required" // 403
	CodeNotFound               ErrorCode = "not_found"                // 404
	CodeConflict               ErrorCode = "conflict"                 // 409
	CodeUnprocessable          ErrorCode = "validation_failed"        // 422
	CodeRateLimited            ErrorCode = "rate_limited"             // 429
	CodeInternal               ErrorCode = "internal"                 // 500
	CodeUnavailable            ErrorCode = "unavailable"              // 503
)

// FieldError names one invalid input field and what is wrong with it.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the error type every layer returns for conditions a caller can
// act on. Message is safe to show to the client: never put secrets in it.
type Error struct {
	Code    ErrorCode
	Message string
	Fields  []FieldError
	// RetryAfterSeconds is set on CodeRateLimited errors.
	RetryAfterSeconds int
	// Err is the underlying cause, logged but never shown to clients.
	Err error
}

func (e *Error) Error() string {
	// The sentinels only mark the class for errors.Is; they add nothing to the text.
	if e.Err != nil && e.Err != ErrNotFound && e.Err != ErrConflict { //nolint:errorlint // identity with the sentinels is meant
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error with a formatted message.
func Errorf(code ErrorCode, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrNotFound is returned by stores when a looked-up record does not exist.
var ErrNotFound = &Error{Code: CodeNotFound, Message: "not found"}

// ErrConflict is returned by stores when a unique constraint would be broken.
var ErrConflict = &Error{Code: CodeConflict, Message: "already exists"}

// ErrorCodeOf returns the code of err, or CodeInternal when err is not an *Error.
func ErrorCodeOf(err error) ErrorCode {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// IsNotFound reports whether err has the not-found code.
func IsNotFound(err error) bool { return err != nil && ErrorCodeOf(err) == CodeNotFound }

// IsConflict reports whether err has the conflict code.
func IsConflict(err error) bool { return err != nil && ErrorCodeOf(err) == CodeConflict }

// ValidationError collects field errors into one CodeUnprocessable error.
// It returns nil when there are none, so callers can return it directly.
func ValidationError(fields []FieldError) error {
	if len(fields) == 0 {
		return nil
	}
	msg := fields[0].Field + ": " + fields[0].Message
	if len(fields) > 1 {
		msg = fmt.Sprintf("%s (and %d more)", msg, len(fields)-1)
	}
	return &Error{Code: CodeUnprocessable, Message: msg, Fields: fields}
}
