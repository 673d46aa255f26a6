package ui

import (
	"encoding/json"
	"net/url"
	"strconv"
	"strings"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// LaunchForm is the launcher page's form state. Its query-string form uses
// the launch API's JSON names flattened (client.client_id → client_id), so a
// configured launch is a bookmarkable URL: GET /?launch_type=…&patient=….
type LaunchForm struct {
	LaunchType   string
	Patient      string // the chosen patient (radio); "" = picker
	PatientIDs   string // comma-separated ids; when set, wins over Patient
	PatientQuery string // chooser search, not part of the launch
	PatientPage  int    // chooser page, from 1; not part of the launch
	Advanced     bool   // the Advanced fold is open; not part of the launch
	Encounter    string // AUTO | NONE | id
	Practitioner string
	FHIRContext  []ContextRow

	NeedPatientBanner string // "" (default) | "true" | "false"
	SmartStyleURL     string
	Intent            string
	Tenant            string
	SkipLogin         bool
	SkipConsent       bool
	LaunchOnce        bool

	ClientID     string
	ClientType   string
	ClientSecret string // never put in the bookmark link
	RedirectURIs string // one per line
	Scope        string
	JWKSURL      string
	JWKS         string
	PKCE         string

	SimulateError        string
	AppLaunchURL         string
	SampleScopes         string // a sampleScopePresets key: what the built-in sample app asks for
	AccessTokenLifetime  string
	RefreshTokenLifetime string
}

// ContextRow is one fhirContext editor row: a reference ("Type/id") or a
// canonical URL (anything with "://"), with an optional role.
type ContextRow struct {
	Reference string
	Role      string
}

// defaultLaunchForm is the form of a first visit: a provider EHR launch of
// the sample app.
func defaultLaunchForm(base string) LaunchForm {
	return LaunchForm{
		LaunchType:   string(launcher.ProviderEHR),
		Encounter:    launcher.EncounterAuto,
		AppLaunchURL: base + "/sample-app/launch.html",
	}
}

// parseLaunchForm reads the form from query or post values. Keys that are
// absent keep the defaults, so short hand-written links work.
func parseLaunchForm(v url.Values, base string) LaunchForm {
	f := defaultLaunchForm(base)
	str := func(key string, dst *string) {
		if v.Has(key) {
			*dst = strings.TrimSpace(v.Get(key))
		}
	}
	str("launch_type", &f.LaunchType)
	str("patient", &f.Patient)
	str("patient_ids", &f.PatientIDs)
	str("patient_q", &f.PatientQuery)
	if n, err := strconv.Atoi(v.Get("patient_page")); err == nil && n > 1 {
		f.PatientPage = n
	}
	f.Advanced = isOn(v.Get("advanced"))
	str("encounter", &f.Encounter)
	str("practitioner", &f.Practitioner)
	str("need_patient_banner", &f.NeedPatientBanner)
	str("smart_style_url", &f.SmartStyleURL)
	str("intent", &f.Intent)
	str("tenant", &f.Tenant)
	str("client_id", &f.ClientID)
	str("client_type", &f.ClientType)
	if v.Has("client_secret") {
		f.ClientSecret = v.Get("client_secret") // secrets keep their spaces
	}
	str("redirect_uris", &f.RedirectURIs)
	str("scope", &f.Scope)
	str("jwks_url", &f.JWKSURL)
	str("jwks", &f.JWKS)
	str("pkce", &f.PKCE)
	str("simulate_error", &f.SimulateError)
	str("app_launch_url", &f.AppLaunchURL)
	str("sample_scopes", &f.SampleScopes)
	str("access_token_lifetime", &f.AccessTokenLifetime)
	str("refresh_token_lifetime", &f.RefreshTokenLifetime)
	f.SkipLogin = isOn(v.Get("skip_login"))
	f.SkipConsent = isOn(v.Get("skip_consent"))
	f.LaunchOnce = isOn(v.Get("launch_once"))
	if f.LaunchType == string(launcher.BackendService) && f.ClientID == "" {
		// A backend service is nothing without its registered client: the
		// demo one, whose public keys the result's commands sign with, makes
		// the launch work from its defaults.
		f.ClientID = clients.DemoBackend
	}
	refs, roles := v["fc_reference"], v["fc_role"]
	for i, ref := range refs {
		row := ContextRow{Reference: strings.TrimSpace(ref)}
		if i < len(roles) {
			row.Role = strings.TrimSpace(roles[i])
		}
		if row.Reference != "" || row.Role != "" {
			f.FHIRContext = append(f.FHIRContext, row)
		}
	}
	return f
}

func isOn(s string) bool { return s == "1" || s == "on" || s == "true" }

// Query is the bookmarkable query string of the form (without the secret).
func (f LaunchForm) Query() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	v.Set("launch_type", f.LaunchType)
	set("patient", f.Patient)
	set("patient_ids", f.PatientIDs)
	set("patient_q", f.PatientQuery)
	if f.PatientPage > 1 {
		v.Set("patient_page", strconv.Itoa(f.PatientPage))
	}
	set("encounter", f.Encounter)
	set("practitioner", f.Practitioner)
	for _, r := range f.FHIRContext {
		v.Add("fc_reference", r.Reference)
		v.Add("fc_role", r.Role)
	}
	set("need_patient_banner", f.NeedPatientBanner)
	set("smart_style_url", f.SmartStyleURL)
	set("intent", f.Intent)
	set("tenant", f.Tenant)
	for k, on := range map[string]bool{"skip_login": f.SkipLogin, "skip_consent": f.SkipConsent, "launch_once": f.LaunchOnce, "advanced": f.Advanced} {
		if on {
			v.Set(k, "1")
		}
	}
	set("client_id", f.ClientID)
	set("client_type", f.ClientType)
	set("redirect_uris", f.RedirectURIs)
	set("scope", f.Scope)
	set("jwks_url", f.JWKSURL)
	set("jwks", f.JWKS)
	set("pkce", f.PKCE)
	set("simulate_error", f.SimulateError)
	v.Set("app_launch_url", f.AppLaunchURL) // present even when empty: absent means "the sample app"
	set("sample_scopes", f.SampleScopes)
	set("access_token_lifetime", f.AccessTokenLifetime)
	set("refresh_token_lifetime", f.RefreshTokenLifetime)
	return v
}

// Permalink is the launcher URL that reopens this configuration.
func (f LaunchForm) Permalink() string { return "/?" + f.Query().Encode() }

// Applies reports whether a field group applies to the form's launch type.
// The form sends only fields that apply, so switching to backend-service
// does not fail on a leftover patient (the launcher refuses those).
func (f LaunchForm) Applies(group string) bool {
	return groupApplies(group, launcher.LaunchType(f.LaunchType))
}

// Field groups and the launch types that use them; the page prints the
// same list under each group's heading.
var groupTypes = map[string][]launcher.LaunchType{
	"patient":      {launcher.ProviderEHR, launcher.PatientPortal, launcher.ProviderStandalone, launcher.PatientStandalone},
	"practitioner": {launcher.ProviderEHR, launcher.ProviderStandalone},
	"context":      {launcher.ProviderEHR, launcher.PatientPortal, launcher.ProviderStandalone, launcher.PatientStandalone},
	"app":          {launcher.ProviderEHR, launcher.PatientPortal, launcher.ProviderStandalone, launcher.PatientStandalone},
	"login":        {launcher.ProviderEHR, launcher.PatientPortal, launcher.ProviderStandalone, launcher.PatientStandalone},
	"authorize":    {launcher.ProviderEHR, launcher.PatientPortal, launcher.ProviderStandalone, launcher.PatientStandalone},
	"backend":      {launcher.BackendService},
}

func groupApplies(group string, t launcher.LaunchType) bool {
	types, ok := groupTypes[group]
	if !ok {
		return true
	}
	for _, x := range types {
		if x == t {
			return true
		}
	}
	return false
}

// groupTypesAttr is the data-applies attribute value (space separated) the
// page's script uses to hide groups that do not apply.
func groupTypesAttr(group string) string {
	types, ok := groupTypes[group]
	if !ok {
		return "all"
	}
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, " ")
}

// groupTypesText is the human list under a group heading (no-JS view).
func groupTypesText(group string) string {
	types, ok := groupTypes[group]
	if !ok || len(types) == len(launcher.LaunchTypes) {
		return "all launch types"
	}
	s := make([]string, len(types))
	for i, t := range types {
		s[i] = string(t)
	}
	return strings.Join(s, ", ")
}

// singlePatient reports whether the form names exactly one patient.
func (f LaunchForm) singlePatient() bool {
	if f.PatientIDs != "" {
		return len(strings.FieldsFunc(f.PatientIDs, func(r rune) bool { return r == ',' || r == ' ' })) == 1
	}
	return f.Patient != ""
}

// SkipLoginReason says why "Skip login" cannot take effect for the form's
// launch, "" when it can. A patient launch signs the patient in as
// themselves, so without one chosen patient the login page must ask who
// they are; the form then leaves skip_login out of the launch.
func (f LaunchForm) SkipLoginReason() string {
	switch launcher.LaunchType(f.LaunchType) {
	case launcher.PatientPortal, launcher.PatientStandalone:
		if !f.singlePatient() {
			return "Choose one patient to skip login: a patient signs in as themselves, so without one the login page asks who they are."
		}
	}
	return ""
}

// SkipLoginHint explains what "Skip login" does for the launch type.
func (f LaunchForm) SkipLoginHint() string {
	if r := f.SkipLoginReason(); r != "" {
		return r
	}
	switch t := launcher.LaunchType(f.LaunchType); {
	case t.IsEHR():
		return "In an EHR launch the user is signed in to the EHR already; this also skips login when the app authorizes without the launch parameter."
	case t.IsProvider():
		return "The chosen practitioner is signed in without the login page."
	}
	return "The chosen patient is signed in without the login page."
}

// Request turns the form into the launch API request. Fields of groups that
// do not apply to the launch type are left out. A malformed number is a
// field error here, before the launcher sees it.
func (f LaunchForm) Request() (launcher.Request, FieldErrors) {
	t := launcher.LaunchType(f.LaunchType)
	req := launcher.Request{LaunchType: f.LaunchType, SimulateError: f.SimulateError, LaunchOnce: f.LaunchOnce}
	errs := FieldErrors{}
	if groupApplies("patient", t) {
		req.Patient = f.Patient
		if f.PatientIDs != "" {
			req.Patient = f.PatientIDs
		}
		req.Encounter = f.Encounter
	}
	if groupApplies("practitioner", t) {
		req.Practitioner = f.Practitioner
	}
	if groupApplies("context", t) {
		for _, r := range f.FHIRContext {
			it := launcher.FHIRContextItem{Role: r.Role}
			if strings.Contains(r.Reference, "://") {
				it.Canonical = r.Reference
			} else {
				it.Reference = r.Reference
			}
			req.FHIRContext = append(req.FHIRContext, it)
		}
		switch f.NeedPatientBanner {
		case "true", "false":
			b := f.NeedPatientBanner == "true"
			req.NeedPatientBanner = &b
		}
		req.SmartStyleURL, req.Intent, req.Tenant = f.SmartStyleURL, f.Intent, f.Tenant
	}
	if groupApplies("app", t) {
		req.AppLaunchURL = f.AppLaunchURL
		if f.SampleScopes != "" {
			u, msg := sampleAppURL(f.AppLaunchURL, f.SampleScopes, t)
			if msg != "" {
				errs["sample_scopes"] = msg
			} else {
				req.AppLaunchURL = u
			}
		}
	}
	if groupApplies("login", t) {
		req.SkipConsent = f.SkipConsent
		req.SkipLogin = f.SkipLogin && f.SkipLoginReason() == ""
	}
	req.Client = launcher.Client{
		ClientID:     f.ClientID,
		ClientType:   f.ClientType,
		ClientSecret: f.ClientSecret,
		Scope:        strings.Join(strings.Fields(f.Scope), " "),
		JWKSURL:      f.JWKSURL,
	}
	if groupApplies("authorize", t) {
		req.Client.PKCE = f.PKCE
		req.Client.RedirectURIs = strings.Fields(f.RedirectURIs)
	}
	if f.JWKS != "" {
		if !json.Valid([]byte(f.JWKS)) {
			errs["jwks"] = "is not valid JSON; paste a JWK Set like {\"keys\":[…]}"
		} else {
			req.Client.JWKS = json.RawMessage(f.JWKS)
		}
	}
	num := func(field, s string, dst *int) {
		if s == "" {
			return
		}
		n, err := strconv.Atoi(s)
		if err != nil {
			errs[field] = "must be a whole number of seconds"
			return
		}
		*dst = n
	}
	num("access_token_lifetime", f.AccessTokenLifetime, &req.AccessTokenLifetime)
	num("refresh_token_lifetime", f.RefreshTokenLifetime, &req.RefreshTokenLifetime)
	if len(errs) == 0 {
		errs = nil
	}
	return req, errs
}
