package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/launcher"
)

// SAP-01: standalone patient launch through a /sim scenario base with
// skip_login + skip_consent answers /authorize straight with the code.
func TestSAP01_StandalonePatientSkipLoginConsent(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true})
	f := h.newFlow("pub", "", res.FHIRBaseURL, "launch/patient", "openid", "fhirUser", "offline_access", "patient/*.rs")
	tok := h.exchange(f, h.code(f))
	if tok.Extra("patient") != "p-1" {
		t.Fatalf("patient %v", tok.Extra("patient"))
	}
	g, err := h.srv.ResolveGrant(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if g.FHIRUser != "Patient/p-1" || g.Audience != strings.TrimSuffix(res.FHIRBaseURL, "/") {
		t.Errorf("grant %+v", g)
	}
}

// SAP-04: patient/ scopes without launch/patient still establish a patient.
func TestSAP04_PatientScopesImplyPatientContext(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-2", SkipLogin: true, SkipConsent: true})
	f := h.newFlow("pub", "", res.FHIRBaseURL, "patient/Observation.rs")
	tok := h.exchange(f, h.code(f))
	if tok.Extra("patient") != "p-2" {
		t.Fatalf("patient %v", tok.Extra("patient"))
	}
}

// SAP-03: launch/encounter returns the scenario's encounter.
func TestSAP03_StandaloneEncounter(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", Encounter: "e-1", SkipLogin: true, SkipConsent: true})
	f := h.newFlow("pub", "", res.FHIRBaseURL, "launch/patient", "launch/encounter", "patient/*.rs")
	tok := h.exchange(f, h.code(f))
	if tok.Extra("encounter") != "e-1" {
		t.Fatalf("encounter %v", tok.Extra("encounter"))
	}
}

// SPR-02: provider standalone with user/ scopes: fhirUser Practitioner, no patient.
func TestSPR02_StandaloneProvider(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "provider-standalone", Practitioner: "pr-2", Encounter: "NONE", SkipLogin: true, SkipConsent: true})
	f := h.newFlow("conf", "conf-secret-0123456789abcdef", res.FHIRBaseURL, "openid", "fhirUser", "user/*.rs")
	tok := h.exchange(f, h.code(f))
	if tok.Extra("patient") != nil {
		t.Errorf("patient %v without patient context", tok.Extra("patient"))
	}
	g, _ := h.srv.ResolveGrant(context.Background(), tok.AccessToken)
	if g.FHIRUser != "Practitioner/pr-2" || g.ClientID != "conf" {
		t.Errorf("grant %+v", g)
	}
}

// AZ-07: aud naming another server → no code, invalid_request with state.
func TestAZ07_WrongAudRefused(t *testing.T) {
	h := newTestServer(t)
	for _, aud := range []string{"https://inferno.healthit.gov/invalid_aud", h.base + "/fhir/r4", h.base + "/sim/bogus/fhir", strings.Replace(h.base, "127.0.0.1", "localhost", 1) + "/fhir"} {
		f := h.newFlow("pub", "", aud, "launch/patient", "patient/*.rs")
		q := h.redirectParams(h.get(f.authURL()))
		if q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("state") != f.state {
			t.Errorf("aud %s: %v", aud, q)
		}
	}
}

// AZ-08: no aud → invalid_request redirect.
func TestAZ08_MissingAudRefused(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("pub", "", "", "patient/*.rs")
	q := h.redirectParams(h.get(f.authURL()))
	if q.Get("error") != "invalid_request" || q.Get("code") != "" {
		t.Fatalf("%v", q)
	}
}

// AZ-09 and docs/architecture.md (launch API contract): resource works as aud, one trailing slash ignored.
func TestAZ09_ResourceAndTrailingSlash(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true})
	f := h.newFlow("pub", "", "", "patient/*.rs").with("resource", res.FHIRBaseURL+"/")
	h.code(f)
}

// AZ-02: the same parameters as a form POST.
func TestAZ02_AuthorizePost(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true})
	f := h.newFlow("pub", "", res.FHIRBaseURL, "patient/*.rs")
	u, _ := url.Parse(f.authURL())
	resp := h.postForm(h.base+"/auth/authorize", u.Query())
	q := h.redirectParams(resp)
	if q.Get("code") == "" || q.Get("state") != f.state {
		t.Fatalf("%v", q)
	}
	h.exchange(f, q.Get("code"))
}

// AZ-05/06: bad client or redirect_uri → HTML 400, never a redirect.
func TestAZ05_AZ06_BadClientOrRedirectRendersPage(t *testing.T) {
	h := newTestServer(t, func(o *Options) { o.Strict = true })
	cases := map[string]url.Values{
		"unregistered redirect": {"client_id": {"pub"}, "redirect_uri": {"https://evil.example/cb"}},
		"unknown client strict": {"client_id": {"nobody"}, "redirect_uri": {cbURL}},
		"missing client":        {"redirect_uri": {cbURL}},
		"missing redirect":      {"client_id": {"pub"}},
	}
	for name, v := range cases {
		v.Set("response_type", "code")
		v.Set("scope", "patient/*.rs")
		v.Set("aud", h.fhirBase())
		v.Set("state", "s1")
		resp := h.get(h.base + "/auth/authorize?" + v.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: %d %q %q", name, resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("Content-Type"))
		}
	}
}

// AZ-10: response_type other than code → unsupported_response_type redirect.
func TestAZ10_UnsupportedResponseType(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("pub", "", h.fhirBase(), "patient/*.rs")
	u := strings.Replace(f.authURL(), "response_type=code", "response_type=token", 1)
	q := h.redirectParams(h.get(u))
	if q.Get("error") != "unsupported_response_type" || q.Get("state") != f.state {
		t.Fatalf("%v", q)
	}
}

// Sandbox: an unregistered client id is an ad-hoc public client that
// accepts the redirect_uri it presents.
func TestSandboxAdhocPublicClient(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true})
	f := h.newFlow("my-new-app", "", res.FHIRBaseURL, "patient/*.rs")
	tok := h.exchange(f, h.code(f))
	if tok.AccessToken == "" {
		t.Fatal("no token")
	}
}

// A launch-defined client narrows: its redirect_uris are exact.
func TestLaunchDefinedClientRedirectExact(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true,
		Client: launcher.Client{ClientID: "adhoc-1", ClientType: "public", RedirectURIs: []string{"https://other.example/cb"}}})
	f := h.newFlow("adhoc-1", "", res.FHIRBaseURL, "patient/*.rs")
	resp := h.get(f.authURL())
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
