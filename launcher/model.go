package launcher

import (
	"encoding/json"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// LaunchType names a SMART launch flow (docs/architecture.md, launch API contract).
type LaunchType string

const (
	ProviderEHR        LaunchType = "provider-ehr"
	PatientPortal      LaunchType = "patient-portal"
	ProviderStandalone LaunchType = "provider-standalone"
	PatientStandalone  LaunchType = "patient-standalone"
	BackendService     LaunchType = "backend-service"
)

// LaunchTypes lists every launch type in the order the launcher shows them.
var LaunchTypes = []LaunchType{ProviderEHR, PatientPortal, ProviderStandalone, PatientStandalone, BackendService}

// IsEHR reports whether the type is an EHR launch (the app receives iss + launch).
func (t LaunchType) IsEHR() bool { return t == ProviderEHR || t == PatientPortal }

// IsProvider reports whether the user is a practitioner.
func (t LaunchType) IsProvider() bool { return t == ProviderEHR || t == ProviderStandalone }

// Client is a launch's client section: for an unregistered client_id it
// defines an ad-hoc client for this launch only (sandbox mode); for a
// registered one it may only narrow the registered rules.
type Client struct {
	ClientID     string          `json:"client_id,omitempty"`
	ClientType   string          `json:"client_type,omitempty"`
	ClientSecret string          `json:"client_secret,omitempty"`
	RedirectURIs []string        `json:"redirect_uris,omitempty"`
	Scope        string          `json:"scope,omitempty"` // allowed scopes, space separated; empty = any valid
	JWKSURL      string          `json:"jwks_url,omitempty"`
	JWKS         json.RawMessage `json:"jwks,omitempty"` // {"keys":[...]}
	PKCE         string          `json:"pkce,omitempty"` // required (default) | optional
}

// Definition is the client this section defines for a launch of type t when
// its client_id is not registered (sandbox mode). The secret is not part of
// it (see ClientSecret). A backend launch's confidential-asymmetric client is
// a backend-service client: client_credentials only.
func (c *Client) Definition(t LaunchType) clients.Client {
	d := clients.Client{
		ID: c.ClientID, Type: c.ClientType, Scope: c.Scope, JWKSURL: c.JWKSURL, PKCE: c.PKCE,
		RedirectURIs: append([]string(nil), c.RedirectURIs...),
		JWKS:         append(json.RawMessage(nil), c.JWKS...),
	}
	if d.Type == "" {
		d.Type = clients.TypePublic
	}
	if t == BackendService && d.Type != clients.TypeSymmetric {
		d.Type = clients.TypeBackend
	}
	return d
}

// FHIRContextItem is the launch API's name for smart.FHIRContextItem.
type FHIRContextItem = smart.FHIRContextItem

// Launch is one minted launch: everything the authorization server, the FHIR
// server and the simulated EHR need to play it. It travels sealed inside the
// launch code and the /sim/{scenario} path segment.
type Launch struct {
	ID                string               `json:"id"`
	Type              LaunchType           `json:"launch_type"`
	Patients          []string             `json:"patients,omitempty"`  // one = fixed patient; several = picker limited to them; none = picker over all
	Encounter         string               `json:"encounter,omitempty"` // resolved id; empty = none
	Practitioner      string               `json:"practitioner,omitempty"`
	FHIRContext       []FHIRContextItem    `json:"fhir_context,omitempty"`
	NeedPatientBanner *bool                `json:"need_patient_banner,omitempty"`
	SmartStyleURL     string               `json:"smart_style_url,omitempty"`
	Intent            string               `json:"intent,omitempty"`
	Tenant            string               `json:"tenant,omitempty"`
	SkipLogin         bool                 `json:"skip_login,omitempty"`
	SkipConsent       bool                 `json:"skip_consent,omitempty"`
	Client            Client               `json:"client,omitzero"`
	SimulateError     smart.SimulatedError `json:"simulate_error,omitempty"`
	AppLaunchURL      string               `json:"app_launch_url,omitempty"`
	LaunchOnce        bool                 `json:"launch_once,omitempty"`

	AccessTokenLifetime  int `json:"access_token_lifetime,omitempty"`  // seconds; 0 = server default
	RefreshTokenLifetime int `json:"refresh_token_lifetime,omitempty"` // seconds; 0 = server default

	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"` // when the launch code stops working

	// code and scenario remember the sealed strings this launch was minted
	// as or opened from (never serialised), so FHIRBase and the API answer
	// with the exact strings the app was given.
	code, scenario string
	// adhoc: Client defines a launch-defined client (its id is not
	// registered); set by validation, not serialised.
	adhoc bool
}

// Context is the launch context this launch decides: the patient (when
// one is fixed), the encounter, fhirContext and the presentation hints.
// Pickers may still fill in the patient and encounter.
func (l *Launch) Context() smart.LaunchContext {
	return smart.LaunchContext{
		Patient: l.Patient(), Encounter: l.Encounter, FHIRContext: l.FHIRContext,
		NeedPatientBanner: l.NeedPatientBanner, SmartStyleURL: l.SmartStyleURL, Intent: l.Intent, Tenant: l.Tenant,
	}
}

// Patient returns the single patient in context, or "" when the launch has
// none or lets the user pick among several.
func (l *Launch) Patient() string {
	if len(l.Patients) == 1 {
		return l.Patients[0]
	}
	return ""
}

// Scenario returns the scenario id this launch was minted as or opened
// from; "" for EHR launches (see Service.Scenario for any launch).
func (l *Launch) Scenario() string { return l.scenario }

// Code returns the launch code (the "launch" parameter) this launch was
// minted as or opened from; "" for standalone and backend launches.
func (l *Launch) Code() string { return l.code }

// Stored is a launch as an authorization request in a shared database
// keeps it between requests: its JSON without the client secret (a
// launch-defined secret is needed only to build the client, at authorize)
// and the sealed strings it was opened from, which JSON does not carry.
type Stored struct {
	Launch   *Launch `json:"launch"`
	Code     string  `json:"code,omitempty"`
	Scenario string  `json:"scenario,omitempty"`
	Adhoc    bool    `json:"adhoc,omitempty"`
}

// Store returns l for storing; l is not changed.
func (l *Launch) Store() *Stored {
	cp := *l
	cp.Client.ClientSecret = ""
	return &Stored{Launch: &cp, Code: l.code, Scenario: l.scenario, Adhoc: l.adhoc}
}

// Restore returns the launch s stored (without its client secret).
func (s *Stored) Restore() *Launch {
	if s == nil || s.Launch == nil {
		return nil
	}
	l := *s.Launch
	l.code, l.scenario, l.adhoc = s.Code, s.Scenario, s.Adhoc
	return &l
}

// Expired reports whether the launch code or scenario no longer works at now.
func (l *Launch) Expired(now time.Time) bool { return !now.Before(l.ExpiresAt) }
