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

// writeBody answers status with body as FHIR JSON, and the headers of
// more: pairs of a name, in canonical form (textproto.CanonicalMIMEHeaderKey:
// "Etag", not "ETag"), and a value.
func writeBody(w http.ResponseWriter, status int, body []byte, more ...string) {
	setHeaders(w.Header(), "Content-Type", fhirJSON, "Content-Length", strconv.Itoa(len(body)), more...)
	w.WriteHeader(status)
	w.Write(body)
}

// setHeaders sets the headers k1: v1, k2: v2 and those of more (name, value
// pairs), as Header.Set would, with one allocation for every value. Each
// value gets its own one-element slice (capacity one: an Add appends to a
// copy), so no header shares storage with another. Names must be in
// canonical form.
func setHeaders(h http.Header, k1, v1, k2, v2 string, more ...string) {
	vals := make([]string, 2+len(more)/2)
	vals[0], vals[1] = v1, v2
	h[k1], h[k2] = vals[0:1:1], vals[1:2:2]
	for i := 0; i+1 < len(more); i += 2 {
		j := 2 + i/2
		vals[j] = more[i+1]
		h[more[i]] = vals[j : j+1 : j+1]
	}
}
