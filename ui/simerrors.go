package ui

// SimError explains one simulated error (DESIGN.md "Simulated errors").
// The launcher's select shows Explanation under each option; the table in
// docs/simulated-errors.md is kept equal to SimErrors by a test.
type SimError struct {
	Name        string
	Applies     string // which flows it applies to
	Explanation string // one sentence: what the app will see
}

// SimErrors lists every simulated error in smart.SimulatedErrors order.
var SimErrors = []SimError{
	{"auth_invalid_client_id", "EHR and standalone launches", "Authorize refuses the client: no code is issued and the browser stays on an error page (never a redirect to an unvalidated URI)."},
	{"auth_invalid_redirect_uri", "EHR and standalone launches", "Authorize refuses the redirect URI: no code is issued and the browser stays on an error page."},
	{"auth_invalid_scope", "EHR and standalone launches", "Authorize redirects back to the app with error=invalid_scope and the state."},
	{"auth_access_denied", "EHR and standalone launches", "Authorize redirects back with error=access_denied and the state, as if the user had denied consent."},
	{"auth_temporarily_unavailable", "EHR and standalone launches", "Authorize redirects back with error=temporarily_unavailable and the state."},
	{"auth_invalid_client_secret", "EHR and standalone launches", "The code is issued, then the token request fails 401 invalid_client as if the secret were wrong."},
	{"token_invalid_token", "code exchange, refresh, backend services", "The code is issued, then the token request fails 400 invalid_grant."},
	{"token_invalid_scope", "code exchange, refresh, backend services", "The token request fails 400 invalid_scope."},
	{"token_invalid_jti", "code exchange, refresh, backend services", "The client assertion is refused as a replayed jti: the token request fails with invalid_client."},
	{"token_expired_registration_token", "code exchange, refresh, backend services", "The client's registration is treated as expired: the token request fails 401 invalid_client."},
	{"token_server_error", "code exchange, refresh, backend services", "The token request fails 500 with error=server_error."},
	{"token_expired_refresh_token", "refresh", "The code exchange works; every refresh_token request fails 400 invalid_grant."},
	{"request_invalid_token", "every launch type", "Tokens are issued; every FHIR request fails 401 invalid_token with an OperationOutcome and WWW-Authenticate."},
	{"request_expired_token", "every launch type", "Tokens are issued; every FHIR request fails 401 as if the access token had expired."},
	{"request_insufficient_scope", "every launch type", "Tokens are issued; FHIR requests fail 403 insufficient_scope."},
	{"request_server_error", "every launch type", "Tokens are issued; FHIR requests fail 500 with an OperationOutcome."},
	{"request_rate_limited", "every launch type", "Tokens are issued; FHIR requests fail 429 with a Retry-After header."},
	{"request_slow", "every launch type", "FHIR requests succeed, after an added delay (1 second by default)."},
}

// simErrorExplanation returns the sentence for name, "" when unknown.
func simErrorExplanation(name string) string {
	for _, e := range SimErrors {
		if e.Name == name {
			return e.Explanation
		}
	}
	return ""
}
