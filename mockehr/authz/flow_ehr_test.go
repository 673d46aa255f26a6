package authz

import (
	"context"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

func truePtr() *bool { t := true; return &t }

// app-launch §EHR launch: launch + aud → code → token with the context.
func TestEHR03_ProviderEHRLaunchEndToEnd(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{
		LaunchType: "provider-ehr", Patient: "p-1", Encounter: "e-1", Practitioner: "pr-1",
		FHIRContext:   []launcher.FHIRContextItem{{Reference: "DocumentReference/d-1", Role: "launch"}},
		SmartStyleURL: h.base + "/static/smart-style.json", Intent: "reconcile-medications", Tenant: "t-1",
		NeedPatientBanner: truePtr(), SkipConsent: true, Client: launcher.Client{ClientID: "pub"},
	})
	f := h.newFlow("pub", "", res.ISS, "launch", "openid", "fhirUser", "offline_access", "patient/*.rs").with("launch", res.Launch).with("nonce", "n-123")
	code := h.code(f)
	tok := h.exchange(f, code)

	if tok.TokenType != "Bearer" || tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token %+v", tok)
	}
	if got, want := scopeSet(tok.Extra("scope").(string)), scopeSet("launch openid fhirUser offline_access patient/*.rs"); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("scope %v, want %v", got, want)
	}
	if tok.Extra("patient") != "p-1" || tok.Extra("encounter") != "e-1" { // EHR-04/05: bare ids
		t.Errorf("patient %v encounter %v", tok.Extra("patient"), tok.Extra("encounter"))
	}
	if tok.Extra("need_patient_banner") != true { // EHR-06
		t.Errorf("need_patient_banner %v", tok.Extra("need_patient_banner"))
	}
	if tok.Extra("smart_style_url") != h.base+"/static/smart-style.json" || tok.Extra("intent") != "reconcile-medications" || tok.Extra("tenant") != "t-1" {
		t.Errorf("style/intent/tenant %v %v %v", tok.Extra("smart_style_url"), tok.Extra("intent"), tok.Extra("tenant"))
	}
	fc, _ := tok.Extra("fhirContext").([]any) // TOK-11: 2.2 objects
	if len(fc) != 1 || fc[0].(map[string]any)["reference"] != "DocumentReference/d-1" || fc[0].(map[string]any)["role"] != "launch" {
		t.Errorf("fhirContext %v", tok.Extra("fhirContext"))
	}
	if _, ok := tok.Extra("expires_in").(float64); !ok { // TOK-05: a JSON number
		t.Errorf("expires_in %T", tok.Extra("expires_in"))
	}

	// OIDC-01…08: the id_token verifies with go-oidc against our discovery.
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, h.base+"/auth")
	if err != nil {
		t.Fatal(err)
	}
	idt, err := provider.Verifier(&oidc.Config{ClientID: "pub", SupportedSigningAlgs: []string{"RS256"}}).Verify(ctx, tok.Extra("id_token").(string))
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	var claims struct {
		FHIRUser string `json:"fhirUser"`
		Nonce    string `json:"nonce"`
	}
	idt.Claims(&claims)
	if claims.FHIRUser != h.base+"/fhir/Practitioner/pr-1" || claims.Nonce != "n-123" || idt.Issuer != h.base+"/auth" || idt.Subject == "" {
		t.Errorf("id_token claims %+v iss %s sub %s", claims, idt.Issuer, idt.Subject)
	}

	// The FHIR server's view of the token (smart.GrantResolver).
	g, err := h.srv.ResolveGrant(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if g.ClientID != "pub" || g.Patient != "p-1" || g.Encounter != "e-1" || g.FHIRUser != "Practitioner/pr-1" || g.Audience != h.base+"/fhir" {
		t.Errorf("grant %+v", g)
	}
	if _, err := h.srv.ResolveGrant(ctx, "nope"); err != smart.ErrInvalidToken {
		t.Errorf("unknown token: %v", err)
	}
}

// A patient-portal launch: the patient is the user (fhirUser Patient/…).
func TestEHR04_PatientPortalLaunch(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "patient-portal", Patient: "p-2", SkipConsent: true, Client: launcher.Client{ClientID: "pub"}})
	f := h.newFlow("pub", "", res.ISS, "launch", "openid", "fhirUser", "patient/*.rs").with("launch", res.Launch)
	tok := h.exchange(f, h.code(f))
	if tok.Extra("patient") != "p-2" {
		t.Errorf("patient %v", tok.Extra("patient"))
	}
	g, _ := h.srv.ResolveGrant(context.Background(), tok.AccessToken)
	if g.FHIRUser != "Patient/p-2" {
		t.Errorf("fhirUser %q", g.FHIRUser)
	}
	if tok.RefreshToken != "" {
		t.Error("refresh token without offline_access")
	}
	if s, _ := tok.Extra("id_token").(string); s == "" {
		t.Error("openid was granted but no id_token (TOK-08)")
	}
}

// EHR-09: unknown launch → redirect invalid_request with state, no code.
func TestEHR09_UnknownLaunchRefused(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("pub", "", h.fhirBase(), "launch", "patient/*.rs").with("launch", "not-a-launch")
	q := h.redirectParams(h.get(f.authURL()))
	if q.Get("error") != "invalid_request" || q.Get("state") != f.state || q.Get("code") != "" {
		t.Fatalf("got %v", q)
	}
}

// EHR-09: a launch minted for client A used by client B.
func TestEHR09_LaunchForAnotherClientRefused(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "provider-ehr", Patient: "p-1", Practitioner: "pr-1", SkipConsent: true, Client: launcher.Client{ClientID: "conf"}})
	f := h.newFlow("pub", "", res.ISS, "launch", "patient/*.rs").with("launch", res.Launch)
	q := h.redirectParams(h.get(f.authURL()))
	if q.Get("error") != "invalid_request" || q.Get("code") != "" {
		t.Fatalf("got %v", q)
	}
}

// launch_once: the second authorization with the same launch is refused.
func TestEHR09_LaunchOnceSecondUseRefused(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "provider-ehr", Patient: "p-1", Practitioner: "pr-1", SkipConsent: true, LaunchOnce: true, Client: launcher.Client{ClientID: "pub"}})
	f := h.newFlow("pub", "", res.ISS, "launch", "patient/*.rs").with("launch", res.Launch)
	h.code(f)
	q := h.redirectParams(h.get(f.authURL()))
	if q.Get("error") != "invalid_request" {
		t.Fatalf("second use: %v", q)
	}
}
