package smart

// SimulatedError names one simulated error a launch can carry
// (simulate_error in the launch API; docs/simulated-errors.md). The launch
// model keeps the name as a string on the wire; code that acts on an error
// compares against the constants below, so a misspelt name does not compile.
type SimulatedError string

// Every simulated error, in catalogue order.
const (
	SimAuthInvalidClientID        SimulatedError = "auth_invalid_client_id"
	SimAuthInvalidRedirectURI     SimulatedError = "auth_invalid_redirect_uri"
	SimAuthInvalidScope           SimulatedError = "auth_invalid_scope"
	SimAuthAccessDenied           SimulatedError = "auth_access_denied"
	SimAuthTemporarilyUnavailable SimulatedError = "auth_temporarily_unavailable"
	SimAuthInvalidClientSecret    SimulatedError = "auth_invalid_client_secret"
	SimTokenInvalidToken          SimulatedError = "token_invalid_token"
	SimTokenInvalidScope          SimulatedError = "token_invalid_scope"
	SimTokenInvalidJTI            SimulatedError = "token_invalid_jti"
	SimTokenExpiredRegistration   SimulatedError = "token_expired_registration_token"
	SimTokenServerError           SimulatedError = "token_server_error"
	SimTokenExpiredRefreshToken   SimulatedError = "token_expired_refresh_token"
	SimRequestInvalidToken        SimulatedError = "request_invalid_token"
	SimRequestExpiredToken        SimulatedError = "request_expired_token"
	SimRequestInsufficientScope   SimulatedError = "request_insufficient_scope"
	SimRequestServerError         SimulatedError = "request_server_error"
	SimRequestRateLimited         SimulatedError = "request_rate_limited"
	SimRequestSlow                SimulatedError = "request_slow"
)

// SimulatedErrorPhase is the step at which an app sees a simulated error.
type SimulatedErrorPhase string

const (
	PhaseAuthorize SimulatedErrorPhase = "authorize" // the authorize request (error page or error redirect)
	PhaseToken     SimulatedErrorPhase = "token"     // the token endpoint (code exchange, refresh, client_credentials)
	PhaseRequest   SimulatedErrorPhase = "request"   // FHIR requests
)

// SimulatedErrorInfo is everything known about one simulated error: the
// launcher validates against it, the launcher page and the simulated EHR
// show it, and docs/simulated-errors.md is kept equal to it by a test in
// this package.
type SimulatedErrorInfo struct {
	Name  SimulatedError
	Phase SimulatedErrorPhase
	// Backend reports whether the error can happen in a backend-service
	// launch: those have no authorize step and get no refresh token.
	Backend bool
	// Label is a few words for a select option, shown beside the name.
	Label string
	// Applies says, for people, which flows the error happens in (the
	// "Applies to" column of docs/simulated-errors.md).
	Applies string
	// Explanation is one sentence: what the app will see.
	Explanation string
}

const (
	appliesCodeFlow = "EHR and standalone launches"
	appliesToken    = "code exchange, refresh, backend services"
	appliesRefresh  = "refresh"
	appliesRequest  = "every launch type"
)

// SimulatedErrors is the catalogue, in the order the launcher shows it.
var SimulatedErrors = []SimulatedErrorInfo{
	{
		Name: SimAuthInvalidClientID, Phase: PhaseAuthorize, Backend: false,
		Label: "Client ID refused at authorize", Applies: appliesCodeFlow,
		Explanation: "Authorize refuses the client: no code is issued and the browser stays on an error page (never a redirect to an unvalidated URI).",
	},
	{
		Name: SimAuthInvalidRedirectURI, Phase: PhaseAuthorize, Backend: false,
		Label: "Redirect URI refused at authorize", Applies: appliesCodeFlow,
		Explanation: "Authorize refuses the redirect URI: no code is issued and the browser stays on an error page.",
	},
	{
		Name: SimAuthInvalidScope, Phase: PhaseAuthorize, Backend: false,
		Label: "Scope refused at authorize", Applies: appliesCodeFlow,
		Explanation: "Authorize redirects back to the app with error=invalid_scope and the state.",
	},
	{
		Name: SimAuthAccessDenied, Phase: PhaseAuthorize, Backend: false,
		Label: "User denies access", Applies: appliesCodeFlow,
		Explanation: "Authorize redirects back with error=access_denied and the state, as if the user had denied consent.",
	},
	{
		Name: SimAuthTemporarilyUnavailable, Phase: PhaseAuthorize, Backend: false,
		Label: "Authorize temporarily unavailable", Applies: appliesCodeFlow,
		Explanation: "Authorize redirects back with error=temporarily_unavailable and the state.",
	},
	// An auth_ error (it belongs to the authorization-code flow) that the
	// app sees at the token endpoint.
	{
		Name: SimAuthInvalidClientSecret, Phase: PhaseToken, Backend: false,
		Label: "Client secret refused", Applies: appliesCodeFlow,
		Explanation: "The code is issued, then the token request fails 401 invalid_client as if the secret were wrong.",
	},
	{
		Name: SimTokenInvalidToken, Phase: PhaseToken, Backend: true,
		Label: "Authorization code refused", Applies: appliesToken,
		Explanation: "The code is issued, then the token request fails 400 invalid_grant.",
	},
	{
		Name: SimTokenInvalidScope, Phase: PhaseToken, Backend: true,
		Label: "Scope refused at token", Applies: appliesToken,
		Explanation: "The token request fails 400 invalid_scope.",
	},
	{
		Name: SimTokenInvalidJTI, Phase: PhaseToken, Backend: true,
		Label: "Client assertion jti replayed", Applies: appliesToken,
		Explanation: "The client assertion is refused as a replayed jti: the token request fails with invalid_client.",
	},
	{
		Name: SimTokenExpiredRegistration, Phase: PhaseToken, Backend: true,
		Label: "Client registration expired", Applies: appliesToken,
		Explanation: "The client's registration is treated as expired: the token request fails 401 invalid_client.",
	},
	{
		Name: SimTokenServerError, Phase: PhaseToken, Backend: true,
		Label: "Token endpoint server error", Applies: appliesToken,
		Explanation: "The token request fails 500 with error=server_error.",
	},
	{
		Name: SimTokenExpiredRefreshToken, Phase: PhaseToken, Backend: false,
		Label: "Refresh token expired", Applies: appliesRefresh,
		Explanation: "The code exchange works; every refresh_token request fails 400 invalid_grant.",
	},
	{
		Name: SimRequestInvalidToken, Phase: PhaseRequest, Backend: true,
		Label: "Access token invalid", Applies: appliesRequest,
		Explanation: "Tokens are issued; every FHIR request fails 401 invalid_token with an OperationOutcome and WWW-Authenticate.",
	},
	{
		Name: SimRequestExpiredToken, Phase: PhaseRequest, Backend: true,
		Label: "Access token expired", Applies: appliesRequest,
		Explanation: "Tokens are issued; every FHIR request fails 401 as if the access token had expired.",
	},
	{
		Name: SimRequestInsufficientScope, Phase: PhaseRequest, Backend: true,
		Label: "Insufficient scope on FHIR requests", Applies: appliesRequest,
		Explanation: "Tokens are issued; FHIR requests fail 403 insufficient_scope.",
	},
	{
		Name: SimRequestServerError, Phase: PhaseRequest, Backend: true,
		Label: "FHIR server error", Applies: appliesRequest,
		Explanation: "Tokens are issued; FHIR requests fail 500 with an OperationOutcome.",
	},
	{
		Name: SimRequestRateLimited, Phase: PhaseRequest, Backend: true,
		Label: "FHIR rate limited", Applies: appliesRequest,
		Explanation: "Tokens are issued; FHIR requests fail 429 with a Retry-After header.",
	},
	{
		Name: SimRequestSlow, Phase: PhaseRequest, Backend: true,
		Label: "Slow FHIR responses", Applies: appliesRequest,
		Explanation: "FHIR requests succeed, after an added delay (1 second by default).",
	},
}

// LookupSimulatedError returns the catalogue entry named name.
func LookupSimulatedError(name string) (SimulatedErrorInfo, bool) {
	for _, e := range SimulatedErrors {
		if string(e.Name) == name {
			return e, true
		}
	}
	return SimulatedErrorInfo{}, false
}

// SimulatedErrorNames lists the catalogue's names in order (the launch
// API's enum).
func SimulatedErrorNames() []string {
	out := make([]string, len(SimulatedErrors))
	for i, e := range SimulatedErrors {
		out[i] = string(e.Name)
	}
	return out
}
