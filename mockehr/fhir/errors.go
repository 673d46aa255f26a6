package fhir

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// fhirJSON is the media type of every response body (FHIR R4 http §mime-type).
const fhirJSON = "application/fhir+json; charset=utf-8"

// apiError is a FHIR-side protocol error, written once in writeError as an
// OperationOutcome (checklist ERR-08).
type apiError struct {
	status int
	code   string // OperationOutcome.issue.code (FHIR issue-type)
	msg    string
	// authErr, when set, adds WWW-Authenticate: Bearer error=… (RFC 6750 §3).
	authErr string
	// realmOnly adds WWW-Authenticate: Bearer realm="ehrsim" (no token sent).
	realmOnly  bool
	retryAfter int
	// allow, for 405, lists the path's methods in an Allow header.
	allow string
}

func (e *apiError) Error() string { return e.msg }

func errf(status int, code, msg string) *apiError {
	return &apiError{status: status, code: code, msg: msg}
}

func notFound(msg string) *apiError   { return errf(http.StatusNotFound, "not-found", msg) }
func badRequest(msg string) *apiError { return errf(http.StatusBadRequest, "invalid", msg) }
func forbidden(msg string) *apiError {
	return &apiError{status: http.StatusForbidden, code: "forbidden", msg: msg, authErr: "insufficient_scope"}
}
func invalidToken(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: "login", msg: msg, authErr: "invalid_token"}
}

const realm = "ehrsim"

type issue struct {
	Severity    string `json:"severity"`
	Code        string `json:"code"`
	Diagnostics string `json:"diagnostics,omitempty"`
}

func outcome(issues ...issue) []byte {
	b, _ := json.Marshal(struct {
		ResourceType string  `json:"resourceType"`
		Issue        []issue `json:"issue"`
	}{"OperationOutcome", issues})
	return b
}

func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	switch {
	case e.realmOnly:
		h.Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
	case e.authErr != "":
		h.Set("WWW-Authenticate", `Bearer error="`+e.authErr+`", error_description=`+strconv.Quote(e.msg))
	}
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	if e.retryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	sev := "error"
	if e.status >= 500 {
		sev = "fatal"
	}
	writeBody(w, e.status, outcome(issue{Severity: sev, Code: e.code, Diagnostics: e.msg}))
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", fhirJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}
