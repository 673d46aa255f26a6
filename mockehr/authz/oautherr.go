package authz

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// oauthError is an OAuth 2.0 protocol error (RFC 6749 §5.2, RFC 7009
// §2.2.1, RFC 7662): the one error value the token, revocation and
// introspection endpoints answer with, written to the wire only by
// writeOAuthError. (Authorize errors travel as *oidc.Error, because zitadel
// turns them into the redirect of RFC 6749 §4.1.2.1.)
type oauthError struct {
	Status      int    // HTTP status; 0 = the code's default (see status)
	Code        string // the "error" member
	Description string // the "error_description" member: what went wrong and what to do
	// Challenge is the WWW-Authenticate value of a 401. RFC 6749 §5.2 asks
	// for one when the client used the Authorization header (Basic); a
	// client that sent credentials in the body gets none (a Bearer
	// challenge belongs to resource servers, RFC 6750).
	Challenge string
	cause     error // internal detail for the log, never sent
}

func (e *oauthError) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

func (e *oauthError) Unwrap() error { return e.cause }

// status is the HTTP status of the answer: invalid_client 401 (RFC 6749
// §5.2), server_error 500, temporarily_unavailable 503, else 400.
func (e *oauthError) status() int {
	if e.Status != 0 {
		return e.Status
	}
	switch e.Code {
	case "invalid_client":
		return http.StatusUnauthorized
	case "server_error":
		return http.StatusInternalServerError
	case "temporarily_unavailable":
		return http.StatusServiceUnavailable
	}
	return http.StatusBadRequest
}

func newOAuthError(code, format string, args ...any) *oauthError {
	return &oauthError{Code: code, Description: fmt.Sprintf(format, args...)}
}

func errInvalidRequest(format string, args ...any) *oauthError {
	return newOAuthError("invalid_request", format, args...)
}
func errInvalidClient(format string, args ...any) *oauthError {
	return newOAuthError("invalid_client", format, args...)
}
func errInvalidGrant(format string, args ...any) *oauthError {
	return newOAuthError("invalid_grant", format, args...)
}
func errInvalidScope(format string, args ...any) *oauthError {
	return newOAuthError("invalid_scope", format, args...)
}
func errUnauthorizedClient(format string, args ...any) *oauthError {
	return newOAuthError("unauthorized_client", format, args...)
}

// errServer is a failure of ours; the cause is logged, not sent.
func errServer(cause error) *oauthError {
	return &oauthError{Code: "server_error", Description: "the authorization server failed; see its log", cause: cause}
}

// asOAuthError turns any error into an oauthError: ours as is, zitadel's
// *oidc.Error (from helpers such as op.AuthorizeCodeChallenge) by its code,
// anything else a server_error.
func asOAuthError(err error) *oauthError {
	var oe *oauthError
	if errors.As(err, &oe) {
		return oe
	}
	var ze *oidc.Error
	if errors.As(err, &ze) {
		return &oauthError{Code: string(ze.ErrorType), Description: ze.Description, cause: ze.Parent}
	}
	return errServer(err)
}
