package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/launcher"
)

func (h *testServer) scenario(req launcher.Request) string {
	req.SkipLogin, req.SkipConsent = true, true
	if req.LaunchType == "" {
		req.LaunchType = "patient-standalone"
		req.Patient = "p-1"
	}
	return h.mint(req).FHIRBaseURL
}

// rawAuthorize sends authorize with exactly the given PKCE parameters.
func (h *testServer) rawAuthorize(clientID, aud string, extra url.Values) url.Values {
	v := url.Values{"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {cbURL}, "scope": {"patient/*.rs"}, "state": {"s-1"}, "aud": {aud}}
	for k, vs := range extra {
		v[k] = vs
	}
	return h.redirectParams(h.get(h.base + "/auth/authorize?" + v.Encode()))
}

func TestPKCE01_NoChallengeRefused(t *testing.T) {
	h := newTestServer(t)
	q := h.rawAuthorize("pub", h.scenario(launcher.Request{}), nil)
	if q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("state") != "s-1" {
		t.Fatalf("%v", q)
	}
}

func TestPKCE01_OptionalForLaunchDefinedLegacyClient(t *testing.T) {
	h := newTestServer(t)
	aud := h.scenario(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", Client: launcher.Client{ClientID: "legacy", ClientType: "public", PKCE: "optional"}})
	q := h.rawAuthorize("legacy", aud, nil)
	if q.Get("code") == "" {
		t.Fatalf("%v", q)
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")}, "redirect_uri": {cbURL}, "client_id": {"legacy"}}
	resp, body := h.tokenPost(form, "", "")
	if resp.StatusCode != 200 || body["access_token"] == nil {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

func TestPKCE02_PlainRefused(t *testing.T) {
	h := newTestServer(t)
	aud := h.scenario(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", Client: launcher.Client{ClientID: "legacy", ClientType: "public", PKCE: "optional"}})
	// plain is refused even when PKCE is optional.
	q := h.rawAuthorize("legacy", aud, url.Values{"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"plain"}})
	if q.Get("error") != "invalid_request" || q.Get("code") != "" {
		t.Fatalf("%v", q)
	}
}

func TestPKCE03_ChallengeWithoutMethodRefused(t *testing.T) {
	h := newTestServer(t)
	q := h.rawAuthorize("pub", h.scenario(launcher.Request{}), url.Values{"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}})
	if q.Get("error") != "invalid_request" || q.Get("code") != "" {
		t.Fatalf("%v", q)
	}
}

// pkceExchange gets a code for the confidential client (PKCE-09: PKCE is
// enforced for confidential clients too) and posts the given verifier.
func pkceExchange(t *testing.T, verifier *string) (*http.Response, map[string]any) {
	h := newTestServer(t)
	f := h.newFlow("conf", "conf-secret-0123456789abcdef", h.scenario(launcher.Request{}), "patient/*.rs")
	code := h.code(f)
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cbURL}}
	if verifier != nil {
		v := *verifier
		if v == "=challenge" {
			v = oauth2.S256ChallengeFromVerifier(f.verifier)
		} else if v == "=right" {
			v = f.verifier
		}
		form.Set("code_verifier", v)
	}
	return h.tokenPost(form, "conf", "conf-secret-0123456789abcdef")
}

func ptr(s string) *string { return &s }

func TestPKCE04_NoVerifierRefused(t *testing.T) {
	resp, body := pkceExchange(t, nil)
	wantError(t, resp, body, 400, "invalid_request")
}

func TestPKCE05_BlankVerifierRefused(t *testing.T) {
	resp, body := pkceExchange(t, ptr(""))
	wantError(t, resp, body, 400, "invalid_request")
}

func TestPKCE06_WrongVerifierRefused(t *testing.T) {
	resp, body := pkceExchange(t, ptr("7b5e1c8a-4d2f-4c3b-9a1e-2f6d8c0b5a3e-1f2e3d4c-5b6a-4789-8a7b-6c5d4e3f2a1b"))
	wantError(t, resp, body, 400, "invalid_grant")
}

func TestPKCE07_ChallengeAsVerifierRefused(t *testing.T) {
	resp, body := pkceExchange(t, ptr("=challenge"))
	wantError(t, resp, body, 400, "invalid_grant")
}

func TestPKCE08_PKCE09_RightVerifierConfidentialClient(t *testing.T) {
	resp, body := pkceExchange(t, ptr("=right"))
	if resp.StatusCode != 200 || body["access_token"] == nil {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

func TestPKCE10_MalformedVerifierRefused(t *testing.T) {
	resp, body := pkceExchange(t, ptr("short"))
	wantError(t, resp, body, 400, "invalid_grant")
}
