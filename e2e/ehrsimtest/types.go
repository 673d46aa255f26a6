package ehrsimtest

import "encoding/json"

// LaunchRequest is what to launch: the body of POST /api/launches, field for
// field (docs/architecture.md, "Launch API contract"; GET /api/openapi.json).
// The zero value of every optional field means "use the default"; only
// LaunchType is required.
//
// The usual test launch is an EHR launch of your app for one patient that
// goes straight to your redirect URI:
//
//	ehrsimtest.LaunchRequest{
//		LaunchType:   ehrsimtest.ProviderEHR,
//		Patient:      ehrsimtest.PatientGraceKim,
//		SkipConsent:  true,
//		AppLaunchURL: app.URL + "/launch",
//		Client:       ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{app.URL + "/callback"}},
//	}
type LaunchRequest struct {
	// LaunchType is the SMART flow: ProviderEHR, PatientPortal,
	// ProviderStandalone, PatientStandalone or BackendService. Required.
	LaunchType LaunchType `json:"launch_type"`

	// Patient is the patient in context: one id (PatientAmyShaw, …), or
	// several comma-separated ids, which makes the patient picker offer only
	// those. Empty: the picker offers every patient (standalone launches).
	// A PatientPortal launch needs exactly one: the signed-in patient.
	Patient string `json:"patient,omitempty"`

	// Encounter is the encounter in context: an id of the patient's, or
	// EncounterAuto (the default: the patient's most recent in-progress
	// encounter, none if there is none) or EncounterNone.
	Encounter string `json:"encounter,omitempty"`

	// Practitioner is the signed-in clinician of a provider launch (the
	// token's fhirUser); default PractitionerEmilyCarter. In patient
	// launches the patient is the user.
	Practitioner string `json:"practitioner,omitempty"`

	// FHIRContext adds SMART 2.2 fhirContext objects to the token response.
	FHIRContext []FHIRContextItem `json:"fhir_context,omitempty"`

	// NeedPatientBanner is need_patient_banner in the token response
	// (default true for EHR launches).
	NeedPatientBanner *bool `json:"need_patient_banner,omitempty"`

	// SmartStyleURL is smart_style_url in the token response (default: the
	// server's /smart-style/v1.json for EHR launches).
	SmartStyleURL string `json:"smart_style_url,omitempty"`

	// Intent is intent in the token response (e.g. "reconcile-medications").
	Intent string `json:"intent,omitempty"`

	// Tenant is tenant in the token response.
	Tenant string `json:"tenant,omitempty"`

	// SkipLogin skips the login page of standalone launches. EHR launches
	// never show one (the user is already signed in to the EHR), so it
	// changes nothing for them.
	SkipLogin bool `json:"skip_login,omitempty"`

	// SkipConsent skips the consent page: every requested scope that the
	// client may have is granted, and authorize answers at once with a
	// redirect to the app's redirect URI. With SkipLogin (standalone) or
	// alone (EHR launches) no browser is needed: see Server.Authorize.
	SkipConsent bool `json:"skip_consent,omitempty"`

	// Client is the app this launch is for. Default for EHR launches: the
	// built-in sample app (ClientSampleApp).
	Client Client `json:"client,omitzero"`

	// SimulateError makes one failure really happen at the step it names
	// (SimAuthAccessDenied, SimTokenServerError, SimRequestRateLimited, …;
	// docs/simulated-errors.md).
	SimulateError SimulatedError `json:"simulate_error,omitempty"`

	// AppLaunchURL is your app's launch page (EHR launches): the launch's
	// LaunchURL is AppLaunchURL?iss=…&launch=…. Default: the built-in
	// sample app's launch page.
	AppLaunchURL string `json:"app_launch_url,omitempty"`

	// LaunchOnce makes the launch single use; by default one launch serves
	// any number of authorizations for 24 hours.
	LaunchOnce bool `json:"launch_once,omitempty"`

	// AccessTokenLifetime is the access tokens' lifetime in seconds (0: the
	// server's default), e.g. 2 to test refresh without waiting.
	AccessTokenLifetime int `json:"access_token_lifetime,omitempty"`

	// RefreshTokenLifetime is the refresh tokens' lifetime in seconds (0:
	// the server's default).
	RefreshTokenLifetime int `json:"refresh_token_lifetime,omitempty"`
}

// Client is the app a launch is for. In sandbox mode (the default) an
// unregistered ClientID defines a client that exists for this launch alone;
// for a registered one (the demo clients, or one made with POST
// /api/clients) the registration holds and these fields may only narrow it.
type Client struct {
	// ClientID is the app's client_id.
	ClientID string `json:"client_id,omitempty"`

	// ClientType is "public" (the default), "confidential-symmetric"
	// (ClientSecret) or "confidential-asymmetric" (private_key_jwt with
	// JWKS or JWKSURL).
	ClientType string `json:"client_type,omitempty"`

	// ClientSecret is the secret of a confidential-symmetric client. It is
	// sealed inside the launch and never readable from any URL.
	ClientSecret string `json:"client_secret,omitempty"`

	// RedirectURIs are the redirect URIs the app may use; an ad-hoc client
	// needs at least one (your app's callback).
	RedirectURIs []string `json:"redirect_uris,omitempty"`

	// Scope lists, space separated, what may be granted; empty: any valid
	// SMART scope.
	Scope string `json:"scope,omitempty"`

	// JWKSURL or JWKS ({"keys":[…]}) hold the public keys of a
	// confidential-asymmetric client.
	JWKSURL string          `json:"jwks_url,omitempty"`
	JWKS    json.RawMessage `json:"jwks,omitempty"`

	// PKCE is "required" (the default) or "optional" (a legacy app that
	// sends no code_challenge). "plain" is always refused.
	PKCE string `json:"pkce,omitempty"`
}

// FHIRContextItem is one SMART 2.2 fhirContext object: Reference
// ("DocumentReference/doc-1"), Canonical or Identifier, with optional Type
// and Role.
type FHIRContextItem struct {
	Reference  string          `json:"reference,omitempty"`
	Canonical  string          `json:"canonical,omitempty"`
	Identifier json.RawMessage `json:"identifier,omitempty"`
	Type       string          `json:"type,omitempty"`
	Role       string          `json:"role,omitempty"`
}

// Launch is a minted launch: the launch API's 201 answer.
type Launch struct {
	// ID names the launch in GET /api/launches/{ID} and
	// /api/launches/{ID}/events (the launch inspector).
	ID string `json:"id"`
	// Launch is the launch code an EHR passes as launch=…; empty for
	// standalone and backend launches.
	Launch string `json:"launch"`
	// ISS is the FHIR base an EHR passes as iss=….
	ISS string `json:"iss"`
	// LaunchURL is what an EHR opens: AppLaunchURL?iss=…&launch=… (EHR
	// launches).
	LaunchURL string `json:"launch_url"`
	// FHIRBaseURL is the FHIR base (and aud) the app must use: ISS for EHR
	// launches, a /sim/{scenario}/fhir base carrying the launch for
	// standalone and backend launches.
	FHIRBaseURL string `json:"fhir_base_url"`
	// SimEHRURL shows the app inside the simulated EHR, under a patient
	// banner.
	SimEHRURL string `json:"sim_ehr_url"`
}

// LaunchType names a SMART launch flow.
type LaunchType string

const (
	// ProviderEHR: a clinician, already signed in, opens the app from the
	// EHR (iss + launch).
	ProviderEHR LaunchType = "provider-ehr"
	// PatientPortal: a patient, already signed in, opens the app from the
	// portal (iss + launch).
	PatientPortal LaunchType = "patient-portal"
	// ProviderStandalone: the app starts on its own; a clinician logs in and
	// picks a patient.
	ProviderStandalone LaunchType = "provider-standalone"
	// PatientStandalone: the app starts on its own; a patient (or a parent,
	// as proxy) logs in.
	PatientStandalone LaunchType = "patient-standalone"
	// BackendService: no user and no browser; client_credentials with
	// private_key_jwt.
	BackendService LaunchType = "backend-service"
)

// Encounter selectors for LaunchRequest.Encounter.
const (
	EncounterAuto = "AUTO" // the patient's most recent in-progress encounter (the default)
	EncounterNone = "NONE" // no encounter in context
)

// SimulatedError names a failure a launch makes really happen
// (docs/simulated-errors.md has what each does).
type SimulatedError string

// Every simulated error. auth_* happen at authorize (or, for
// SimAuthInvalidClientSecret, at the token request), token_* at the token
// endpoint, request_* on FHIR requests.
const (
	SimAuthInvalidClientID        SimulatedError = "auth_invalid_client_id"           // authorize shows an error page, no redirect
	SimAuthInvalidRedirectURI     SimulatedError = "auth_invalid_redirect_uri"        // authorize shows an error page, no redirect
	SimAuthInvalidScope           SimulatedError = "auth_invalid_scope"               // redirect with error=invalid_scope
	SimAuthAccessDenied           SimulatedError = "auth_access_denied"               // redirect with error=access_denied
	SimAuthTemporarilyUnavailable SimulatedError = "auth_temporarily_unavailable"     // redirect with error=temporarily_unavailable
	SimAuthInvalidClientSecret    SimulatedError = "auth_invalid_client_secret"       // token request fails 401 invalid_client
	SimTokenInvalidToken          SimulatedError = "token_invalid_token"              // token request fails 400 invalid_grant
	SimTokenInvalidScope          SimulatedError = "token_invalid_scope"              // token request fails 400 invalid_scope
	SimTokenInvalidJTI            SimulatedError = "token_invalid_jti"                // token request fails invalid_client (replayed jti)
	SimTokenExpiredRegistration   SimulatedError = "token_expired_registration_token" // token request fails 401 invalid_client
	SimTokenServerError           SimulatedError = "token_server_error"               // token request fails 500 server_error
	SimTokenExpiredRefreshToken   SimulatedError = "token_expired_refresh_token"      // every refresh fails 400 invalid_grant
	SimRequestInvalidToken        SimulatedError = "request_invalid_token"            // FHIR requests fail 401 invalid_token
	SimRequestExpiredToken        SimulatedError = "request_expired_token"            // FHIR requests fail 401 (expired)
	SimRequestInsufficientScope   SimulatedError = "request_insufficient_scope"       // FHIR requests fail 403 insufficient_scope
	SimRequestServerError         SimulatedError = "request_server_error"             // FHIR requests fail 500
	SimRequestRateLimited         SimulatedError = "request_rate_limited"             // FHIR requests fail 429 with Retry-After
	SimRequestSlow                SimulatedError = "request_slow"                     // FHIR requests succeed after a delay (1 s)
)

// Demo patients of the default data set (fixtures/doc.go describes the
// whole cast).
const (
	PatientAmyShaw         = "pat-amy-shaw"         // 38 F, hypertension; the default patient
	PatientGraceKim        = "pat-grace-kim"        // 8 F, asthma, growth charts; parent RelatedPersonHannahKim
	PatientDanielRivera    = "pat-daniel-rivera"    // 58 M, type 2 diabetes on insulin
	PatientJamesNguyen     = "pat-james-nguyen"     // 45 M, hypertension, smoker
	PatientMayaPatel       = "pat-maya-patel"       // 30 F, 26 weeks pregnant
	PatientHaroldWilson    = "pat-harold-wilson"    // 84 M, polypharmacy, in-progress inpatient stay
	PatientSarahLee        = "pat-sarah-lee"        // 41 F, depression (PHQ-9 series)
	PatientRobertChen      = "pat-robert-chen"      // 66 M, diabetes on insulin, CKD 3
	PatientNoahJohnson     = "pat-noah-johnson"     // 6 M, peanut allergy
	PatientWilliamAnderson = "pat-william-anderson" // 72 M, atrial fibrillation on warfarin
)

// Demo users.
const (
	PractitionerEmilyCarter = "prac-emily-carter" // family medicine; the default clinician
	PractitionerRajMehta    = "prac-raj-mehta"    // pediatrics
	RelatedPersonHannahKim  = "rp-hannah-kim"     // PatientGraceKim's parent (proxy login)
)

// Demo clients every server has (see Server.Clients for their secrets and
// keys).
const (
	ClientSampleApp    = "sample-app"        // public; the built-in sample app, default client of EHR launches
	ClientPublic       = "demo-public"       // public, PKCE; redirect http://localhost:9000/callback
	ClientConfidential = "demo-confidential" // confidential-symmetric, secret DemoSecret
	ClientAsymmetric   = "demo-asymmetric"   // confidential-asymmetric (private_key_jwt)
	ClientBackend      = "demo-backend"      // backend service (client_credentials + private_key_jwt)
	DemoSecret         = "demo-secret"       // ClientConfidential's secret
)

// FixturesMode says how WithFixtures' data joins the demo data.
type FixturesMode string

const (
	FixturesAdd     FixturesMode = "add"     // your data beside the demo data
	FixturesReplace FixturesMode = "replace" // your data only
)
