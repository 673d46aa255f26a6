package ui

import (
	"net/url"
	"strings"

	"github.com/ehrsim/ehrsim/launcher"
)

// The built-in sample app asks for the scopes in its launch URL's scope
// parameter (static/sample-app/app.js), or for its defaults without one.
// The launcher offers a few sets worth trying, each worded for EHR and for
// standalone launches (an EHR launch asks for "launch", a standalone one
// for "launch/patient").
const vitalSignsScope = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"

// ScopePreset is one choice of the "Scopes the sample app asks for" select.
type ScopePreset struct {
	Key, Label      string
	EHR, Standalone string
	WhatItExercises string
}

var sampleScopePresets = []ScopePreset{
	{Key: "encounter", Label: "Default plus launch/encounter",
		EHR:             "launch launch/encounter openid fhirUser offline_access patient/*.rs user/*.rs",
		Standalone:      "launch/patient launch/encounter openid fhirUser offline_access patient/*.rs",
		WhatItExercises: "the encounter in context (AUTO: the patient's current stay), with the encounter picker in standalone launches without one"},
	{Key: "vitals", Label: "Vital signs only (granular scope)",
		EHR:             "launch openid fhirUser patient/Patient.rs patient/Encounter.rs " + vitalSignsScope,
		Standalone:      "launch/patient openid fhirUser patient/Patient.rs patient/Encounter.rs " + vitalSignsScope,
		WhatItExercises: "a SMART v2 granular scope: only vital-sign observations are readable, no refresh token"},
	{Key: "no-identity", Label: "Patient data without identity",
		EHR:             "launch patient/*.rs",
		Standalone:      "launch/patient patient/*.rs",
		WhatItExercises: "no openid or fhirUser: no id_token, so the app cannot say who is signed in"},
}

func lookupScopePreset(key string) (ScopePreset, bool) {
	for _, p := range sampleScopePresets {
		if p.Key == key {
			return p, true
		}
	}
	return ScopePreset{}, false
}

// sampleAppURL adds the preset's scopes to the sample app's launch URL, or
// says why it cannot.
func sampleAppURL(appURL, preset string, t launcher.LaunchType) (string, string) {
	p, ok := lookupScopePreset(preset)
	if !ok {
		return "", "is not one of the offered scope sets"
	}
	u, err := url.Parse(appURL)
	if err != nil || !strings.HasSuffix(u.Path, "/sample-app/launch.html") {
		return "", "applies to the built-in sample app only: set the app launch URL to its launch.html, or choose the default scopes"
	}
	scope := p.Standalone
	if t.IsEHR() {
		scope = p.EHR
	}
	q := u.Query()
	q.Set("scope", scope)
	u.RawQuery = q.Encode()
	return u.String(), ""
}
