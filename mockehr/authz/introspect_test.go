package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/launcher"
)

func (h *testServer) introspectReq(token string, set func(*http.Request)) (*http.Response, map[string]any) {
	req, _ := http.NewRequest(http.MethodPost, h.base+"/auth/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if set != nil {
		set(req)
	}
	return h.do(req)
}

func TestINT02_INT08_IntrospectActiveToken(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "provider-ehr", Patient: "p-1", Encounter: "e-1", Practitioner: "pr-1", Intent: "i-1", SkipConsent: true, Client: launcher.Client{ClientID: "pub"},
		FHIRContext: []launcher.FHIRContextItem{{Reference: "DocumentReference/d-1"}}})
	f := h.newFlow("pub", "", res.ISS, "launch", "openid", "fhirUser", "patient/*.rs").with("launch", res.Launch)
	tok := h.exchange(f, h.code(f))
	resp, body := h.introspectReq(tok.AccessToken, nil) // INT-02: no Authorization (sandbox)
	if resp.StatusCode != 200 || body["active"] != true {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	if body["client_id"] != "pub" || body["patient"] != "p-1" || body["encounter"] != "e-1" || body["intent"] != "i-1" ||
		body["need_patient_banner"] != true || body["fhirUser"] != h.base+"/fhir/Practitioner/pr-1" || body["iss"] != h.base+"/auth" {
		t.Errorf("introspection %v", body)
	}
	if strings.Join(scopeSet(body["scope"].(string)), " ") != strings.Join(scopeSet(tok.Extra("scope").(string)), " ") { // INT-05
		t.Errorf("scope %v vs %v", body["scope"], tok.Extra("scope"))
	}
	if exp, ok := body["exp"].(float64); !ok || int64(exp) != tok.Expiry.Unix() && int64(exp) != tok.Expiry.Unix()+1 && int64(exp) != tok.Expiry.Unix()-1 { // INT-06
		t.Errorf("exp %v vs %v", body["exp"], tok.Expiry.Unix())
	}
	if fc, _ := body["fhirContext"].([]any); len(fc) != 1 {
		t.Errorf("fhirContext %v", body["fhirContext"])
	}
}

func TestINT09_InvalidTokenExactlyInactive(t *testing.T) {
	h := newTestServer(t)
	resp, body := h.introspectReq("invalid_token_value", nil)
	if resp.StatusCode != 200 || len(body) != 1 || body["active"] != false {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

func TestINT11_BearerAndClientAuth(t *testing.T) {
	h := newTestServer(t, func(o *Options) { o.Strict = true })
	f, code := h.codeFor("conf", "conf-secret-0123456789abcdef", "patient/*.rs")
	tok := h.exchange(f, code)
	// strict: no auth → 401
	if resp, body := h.introspectReq(tok.AccessToken, nil); resp.StatusCode != 401 || body["error"] != "invalid_client" {
		t.Errorf("unauthenticated: %d %v", resp.StatusCode, body)
	}
	// bearer token of any active SMART token
	resp, body := h.introspectReq(tok.AccessToken, func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok.AccessToken) })
	if resp.StatusCode != 200 || body["active"] != true {
		t.Errorf("bearer: %d %v", resp.StatusCode, body)
	}
	resp, body = h.introspectReq(tok.AccessToken, func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") })
	if resp.StatusCode != 401 {
		t.Errorf("bad bearer: %d %v", resp.StatusCode, body)
	}
	// Basic client auth
	resp, body = h.introspectReq(tok.AccessToken, func(r *http.Request) { r.SetBasicAuth("conf", "conf-secret-0123456789abcdef") })
	if resp.StatusCode != 200 || body["active"] != true {
		t.Errorf("basic: %d %v", resp.StatusCode, body)
	}
	resp, _ = h.introspectReq(tok.AccessToken, func(r *http.Request) { r.SetBasicAuth("conf", "wrong") })
	if resp.StatusCode != 401 {
		t.Errorf("bad basic: %d", resp.StatusCode)
	}
}

func (h *testServer) revoke(token, hint, id, secret string) (*http.Response, map[string]any) {
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	if secret == "" {
		form.Set("client_id", id)
		id = ""
	}
	req, _ := http.NewRequest(http.MethodPost, h.base+"/auth/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(id, secret)
	}
	return h.do(req)
}

func TestREV02_REV04_RevokeAccessToken(t *testing.T) {
	h := newTestServer(t)
	body := refreshable(t, h, "offline_access", "patient/*.rs")
	at := body["access_token"].(string)
	if resp, _ := h.revoke(at, "access_token", "conf", "conf-secret-0123456789abcdef"); resp.StatusCode != 200 {
		t.Fatalf("revoke %d", resp.StatusCode)
	}
	if _, b := h.introspectReq(at, nil); b["active"] != false { // INT-10
		t.Errorf("revoked token introspects %v", b)
	}
	if _, err := h.srv.ResolveGrant(t.Context(), at); err == nil {
		t.Error("revoked token resolves")
	}
}

func TestREV03_UnknownTokenIsFine(t *testing.T) {
	h := newTestServer(t)
	if resp, b := h.revoke("garbage", "", "pub", ""); resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, b)
	}
}

func TestREV05_RevokeRefreshKillsFamily(t *testing.T) {
	h := newTestServer(t)
	body := refreshable(t, h, "offline_access", "patient/*.rs")
	if resp, b := h.revoke(body["refresh_token"].(string), "refresh_token", "conf", "conf-secret-0123456789abcdef"); resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, b)
	}
	resp, b := refresh(h, body["refresh_token"].(string), "")
	wantError(t, resp, b, 400, "invalid_grant")
	if _, err := h.srv.ResolveGrant(t.Context(), body["access_token"].(string)); err == nil {
		t.Error("access token of a revoked refresh token still valid")
	}
}

func TestREV06_OtherClientsTokenStaysValid(t *testing.T) {
	h := newTestServer(t)
	body := refreshable(t, h, "offline_access", "patient/*.rs")
	resp, _ := h.revoke(body["access_token"].(string), "", "pub", "")
	if resp.StatusCode == 200 {
		t.Fatalf("revoked another client's token: %d", resp.StatusCode)
	}
	if _, err := h.srv.ResolveGrant(t.Context(), body["access_token"].(string)); err != nil {
		t.Error("token died")
	}
}

func TestREV07_BadClientCredentials(t *testing.T) {
	h := newTestServer(t)
	resp, b := h.revoke("x", "", "conf", "wrong")
	wantError(t, resp, b, 401, "invalid_client")
}
