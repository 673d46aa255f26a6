package inspect

// Severity of a diagnostic.
type Severity string

const (
	// SevError: a strict EHR would refuse this.
	SevError Severity = "error"
	// SevWarning: it works here, but it is fragile or deprecated.
	SevWarning Severity = "warning"
	// SevInfo: worth knowing.
	SevInfo Severity = "info"
)

// Rule is one check the inspector applies to what an app does.
type Rule struct {
	ID       string
	Severity Severity
	Title    string // what the rule expects, one line
	Fix      string // what to change in the app
	Spec     string // the section it cites
	SpecURL  string
}

const (
	smartLaunch  = "https://hl7.org/fhir/smart-app-launch/STU2.2/app-launch.html"
	smartScopes  = "https://hl7.org/fhir/smart-app-launch/STU2.2/scopes-and-launch-context.html"
	smartBackend = "https://hl7.org/fhir/smart-app-launch/STU2.2/backend-services.html"
	rfc6749      = "https://www.rfc-editor.org/rfc/rfc6749"
	rfc6750      = "https://www.rfc-editor.org/rfc/rfc6750"
	rfc7636      = "https://www.rfc-editor.org/rfc/rfc7636"
	rfc9700      = "https://www.rfc-editor.org/rfc/rfc9700"
)

// Rule ids. docs/diagnostics.md lists every rule (a test keeps it in sync).
const (
	RuleStateMissing       = "state-missing"
	RuleStateReused        = "state-reused"
	RulePKCEMissing        = "pkce-missing"
	RulePKCEPlain          = "pkce-plain"
	RuleAudMissing         = "aud-missing"
	RuleAudMismatch        = "aud-mismatch"
	RuleLaunchMissing      = "launch-missing"
	RuleLaunchStale        = "launch-stale"
	RuleScopeUnsupported   = "scope-unsupported"
	RuleScopeV1            = "scope-v1-syntax"
	RuleScopeWildcard      = "scope-wildcard"
	RuleRedirectMismatch   = "redirect-uri-mismatch"
	RuleCodeReused         = "code-reused"
	RuleTokenInQuery       = "token-in-query"
	RuleTokenExpiredUse    = "token-used-after-expiry"
	RuleRefreshLate        = "refresh-not-used"
	RuleOtherPatient       = "other-patient-read"
	RuleFHIRUserScopes     = "fhiruser-without-openid"
	RuleSecretInQuery      = "client-secret-in-query"
	RuleAssertionNoKid     = "assertion-kid-missing"
	RuleAssertionLongExp   = "assertion-exp-too-long"
	RuleAssertionJTIReused = "assertion-jti-reused"
)

// Rules is the catalogue, in the order reports list it.
var Rules = []Rule{
	{RuleStateMissing, SevError, "The authorize request carries a state parameter.",
		"Send an unguessable state with every authorize request and check it on the redirect.", "SMART App Launch 2.2 §Obtain authorization code; RFC 6749 §10.12", smartLaunch + "#obtain-authorization-code"},
	{RuleStateReused, SevWarning, "Each authorize request has a fresh state.",
		"Generate a new random state per authorization; a reused state no longer protects against CSRF.", "RFC 6749 §10.12; RFC 9700 §4.7", rfc9700 + "#section-4.7"},
	{RulePKCEMissing, SevError, "The authorize request carries an S256 code_challenge.",
		"Send code_challenge (BASE64URL(SHA-256(code_verifier))) with code_challenge_method=S256.", "SMART App Launch 2.2 §PKCE; RFC 7636 §4.3", smartLaunch + "#considerations-for-pkce-support"},
	{RulePKCEPlain, SevError, "PKCE uses S256, never plain.",
		"Use code_challenge_method=S256; SMART servers refuse plain.", "SMART App Launch 2.2 §PKCE; RFC 7636 §4.2", smartLaunch + "#considerations-for-pkce-support"},
	{RuleAudMissing, SevError, "The authorize request names the FHIR server in aud.",
		"Send aud = the FHIR base URL the app will call (the iss it was launched with).", "SMART App Launch 2.2 §Obtain authorization code (aud)", smartLaunch + "#obtain-authorization-code"},
	{RuleAudMismatch, SevError, "aud is exactly the FHIR base the app was given.",
		"Use the iss of the launch (or the FHIR base of the scenario) as aud, unchanged.", "SMART App Launch 2.2 §Obtain authorization code (aud)", smartLaunch + "#obtain-authorization-code"},
	{RuleLaunchMissing, SevError, "An EHR launch passes the launch parameter on to authorize.",
		"Copy the launch parameter the app was started with into the authorize request, with the launch scope.", "SMART App Launch 2.2 §EHR launch", smartLaunch + "#launch-app-ehr-launch"},
	{RuleLaunchStale, SevError, "The launch parameter is one the EHR just gave the app.",
		"Start each authorization from a fresh launch; do not store and replay launch values.", "SMART App Launch 2.2 §EHR launch", smartLaunch + "#launch-app-ehr-launch"},
	{RuleScopeUnsupported, SevWarning, "Requested scopes are among scopes_supported.",
		"Request only scopes the server advertises in .well-known/smart-configuration; others may be dropped.", "SMART App Launch 2.2 §Conformance (scopes_supported)", "https://hl7.org/fhir/smart-app-launch/STU2.2/conformance.html"},
	{RuleScopeV1, SevWarning, "Resource scopes use SMART v2 syntax (.rs, .cruds).",
		"Ask for patient/Observation.rs instead of patient/Observation.read; v1 scopes are deprecated.", "SMART App Launch 2.2 §Scopes for requesting FHIR resources", smartScopes + "#scopes-for-requesting-fhir-resources"},
	{RuleScopeWildcard, SevWarning, "Resource scopes name the types the app uses.",
		"Ask for the resource types you read (patient/Observation.rs) rather than patient/*.rs; a strict EHR may narrow wildcards.", "SMART App Launch 2.2 §Scopes (wildcards)", smartScopes + "#scopes-for-requesting-fhir-resources"},
	{RuleRedirectMismatch, SevError, "The token request repeats the authorize request's redirect_uri.",
		"Send the same redirect_uri string at the token endpoint as at authorize.", "RFC 6749 §4.1.3", rfc6749 + "#section-4.1.3"},
	{RuleCodeReused, SevError, "An authorization code is redeemed once.",
		"Redeem each code once; a second redemption is refused and revokes the tokens issued from it.", "RFC 6749 §4.1.2", rfc6749 + "#section-4.1.2"},
	{RuleTokenInQuery, SevError, "The access token travels in the Authorization header.",
		"Send Authorization: Bearer <token>; never put the token in the URL, where logs and referrers keep it.", "RFC 6750 §2.3, §5.3", rfc6750 + "#section-2.3"},
	{RuleTokenExpiredUse, SevWarning, "The app stops using an access token when it expires.",
		"Track expires_in and refresh (or re-authorize) before the token expires.", "SMART App Launch 2.2 §Access token response (expires_in)", smartLaunch + "#response-5"},
	{RuleRefreshLate, SevWarning, "With offline_access, the app refreshes instead of using an expired token.",
		"When the access token expires, use the refresh token you were given.", "SMART App Launch 2.2 §Refresh access token", smartLaunch + "#refresh-access-token"},
	{RuleOtherPatient, SevError, "The app reads only the patient in context.",
		"Use the patient id of the token response; a patient-level token gives no access to other patients.", "SMART App Launch 2.2 §Scopes (patient-specific)", smartScopes + "#patient-specific-scopes"},
	{RuleFHIRUserScopes, SevWarning, "The app asks for openid with fhirUser.",
		"Request openid fhirUser together: fhirUser reaches the app in the id_token, which needs openid.", "SMART App Launch 2.2 §Scopes for requesting identity data", smartScopes + "#scopes-for-requesting-identity-data"},
	{RuleSecretInQuery, SevError, "A confidential client sends its secret in the body or Basic header.",
		"Use HTTP Basic (client_secret_basic) or the form body; never put client_secret in the URL.", "RFC 6749 §2.3.1", rfc6749 + "#section-2.3.1"},
	{RuleAssertionNoKid, SevError, "A client assertion's JOSE header names its key (kid).",
		"Put the kid of the signing key in the JWT header.", "SMART Backend Services §Authentication JWT header", smartBackend + "#authentication-jwt-header-values"},
	{RuleAssertionLongExp, SevError, "A client assertion expires at most 5 minutes ahead.",
		"Set exp to no more than 5 minutes in the future.", "SMART Backend Services §Authentication JWT claims", smartBackend + "#authentication-jwt-claims"},
	{RuleAssertionJTIReused, SevError, "Every client assertion has a fresh jti.",
		"Generate a new random jti for each assertion.", "SMART Backend Services §Authentication JWT claims", smartBackend + "#authentication-jwt-claims"},
}

var rulesByID = func() map[string]*Rule {
	m := make(map[string]*Rule, len(Rules))
	for i := range Rules {
		m[Rules[i].ID] = &Rules[i]
	}
	return m
}()

// LookupRule returns the rule with id.
func LookupRule(id string) (*Rule, bool) { r, ok := rulesByID[id]; return r, ok }
