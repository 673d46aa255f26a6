package apierr

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// The error codes of the API, one per status.
const (
	InvalidRequest       = "invalid_request"        // 400: Field names the member at fault
	NotFound             = "not_found"              // 404
	Conflict             = "conflict"               // 409: e.g. a client id that is taken
	Expired              = "expired"                // 410: a launch past its expiry
	RequestTooLarge      = "request_too_large"      // 413
	UnsupportedMediaType = "unsupported_media_type" // 415
	ServerError          = "server_error"           // 500: the details are in the server log only
	Unavailable          = "unavailable"            // 503: a data source ehrsim depends on is down; the message says which
)

// Body is the JSON body of every /api/* error answer.
type Body struct {
	Error       string `json:"error"`
	Field       string `json:"field,omitempty"`
	Description string `json:"error_description"`
}

// FieldError is a client mistake in a request. Field is the member's JSON
// name, dotted for nested members ("client.redirect_uris"; an item's index
// goes in Message); it is "" when the body as a whole is at fault.
type FieldError struct {
	Field   string
	Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Fieldf returns a FieldError for field with a formatted message.
func Fieldf(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// WriteJSON answers status with v as JSON. HTML characters are not escaped:
// the answers hold URLs with & and are read by programs, not browsers.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// Write answers an error: status with the Body {code, field, description}.
// Every /api/* error goes through it.
func Write(w http.ResponseWriter, status int, code, field, description string) {
	WriteJSON(w, status, &Body{Error: code, Field: field, Description: description})
}

// WriteField answers a client mistake: 400 invalid_request naming fe.Field.
func WriteField(w http.ResponseWriter, fe *FieldError) {
	Write(w, http.StatusBadRequest, InvalidRequest, fe.Field, fe.Message)
}

// WriteServerError answers 500 server_error without details; the caller
// logs the cause.
func WriteServerError(w http.ResponseWriter) {
	Write(w, http.StatusInternalServerError, ServerError, "", "internal error; see the server log")
}
