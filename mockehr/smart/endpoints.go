package smart

import "strings"

// Endpoints are the absolute public URLs of the authorization server. One
// value feeds the OIDC discovery document, every SMART discovery document
// and the CapabilityStatement's oauth-uris extension (checklist CS-05).
type Endpoints struct {
	Issuer        string
	Authorization string
	Token         string
	Introspection string
	Revocation    string
	Registration  string
	Management    string
	UserInfo      string
	JWKS          string
	EndSession    string
}

// TrimSlash removes one trailing slash: "aud" matching and FHIR base
// comparisons ignore exactly one (docs/architecture.md, launch API contract).
func TrimSlash(u string) string { return strings.TrimSuffix(u, "/") }

// SimulatedErrors lists every simulated error name
// (docs/simulated-errors.md), in the order the launcher shows them.
var SimulatedErrors = []string{
	"auth_invalid_client_id",
	"auth_invalid_redirect_uri",
	"auth_invalid_scope",
	"auth_access_denied",
	"auth_temporarily_unavailable",
	"auth_invalid_client_secret",
	"token_invalid_token",
	"token_invalid_scope",
	"token_invalid_jti",
	"token_expired_registration_token",
	"token_server_error",
	"token_expired_refresh_token",
	"request_invalid_token",
	"request_expired_token",
	"request_insufficient_scope",
	"request_server_error",
	"request_rate_limited",
	"request_slow",
}

// IsSimulatedError reports whether name is one of SimulatedErrors.
func IsSimulatedError(name string) bool {
	for _, n := range SimulatedErrors {
		if n == name {
			return true
		}
	}
	return false
}
