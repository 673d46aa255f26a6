package authz

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
)

// codeFor runs a skip-login standalone authorization and returns flow + code.
func (h *testServer) codeFor(clientID, secret string, scopes ...string) (*flow, string) {
	f := h.newFlow(clientID, secret, h.scenario(launcher.Request{}), scopes...)
	return f, h.code(f)
}

func codeForm(f *flow, code string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {cbURL}, "code_verifier": {f.verifier}}
}

func TestTOK02_NoStoreHeaders(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("pub", "", "patient/*.rs")
	form := codeForm(f, code)
	form.Set("client_id", "pub")
	resp, body := h.tokenPost(form, "", "")
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("%d %v %v", resp.StatusCode, resp.Header, body)
	}
	if body["token_type"] != "Bearer" || body["id_token"] != nil || body["refresh_token"] != nil { // TOK-08: no openid → no id_token
		t.Errorf("body %v", body)
	}
	// ERR-08: errors carry no-store too.
	resp, _ = h.tokenPost(url.Values{"grant_type": {"authorization_code"}, "code": {"BAD_CODE"}, "redirect_uri": {cbURL}, "client_id": {"pub"}, "code_verifier": {f.verifier}}, "", "")
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("error Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
}

func TestTOK13_CodeOfAnotherClient(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("conf", "conf-secret-0123456789abcdef", "patient/*.rs")
	form := codeForm(f, code)
	form.Set("client_id", "pub")
	resp, body := h.tokenPost(form, "", "")
	wantError(t, resp, body, 400, "invalid_grant")
}

func TestTOK14_RedirectURIMismatch(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("pub", "", "patient/*.rs")
	form := codeForm(f, code)
	form.Set("client_id", "pub")
	form.Set("redirect_uri", "https://app.example/other")
	resp, body := h.tokenPost(form, "", "")
	wantError(t, resp, body, 400, "invalid_grant")
}

func TestTOK15_ReplayedCodeRevokesTokens(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("pub", "", "offline_access", "patient/*.rs")
	form := codeForm(f, code)
	form.Set("client_id", "pub")
	resp, body := h.tokenPost(form, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	at := body["access_token"].(string)
	resp, body2 := h.tokenPost(form, "", "")
	wantError(t, resp, body2, 400, "invalid_grant")
	if _, err := h.srv.ResolveGrant(context.Background(), at); err == nil {
		t.Error("access token from a replayed code still valid")
	}
	if h.srv.introspect(body["refresh_token"].(string)).(map[string]bool)["active"] {
		t.Error("refresh token from a replayed code still active")
	}
}

func TestTOK16_ExpiredCode(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("pub", "", "patient/*.rs")
	h.clock.Add(61 * time.Second)
	form := codeForm(f, code)
	form.Set("client_id", "pub")
	resp, body := h.tokenPost(form, "", "")
	wantError(t, resp, body, 400, "invalid_grant")
}

func TestTOK17_BadCode(t *testing.T) {
	h := newTestServer(t)
	resp, body := h.tokenPost(url.Values{"grant_type": {"authorization_code"}, "code": {"BAD_CODE"}, "redirect_uri": {cbURL}, "client_id": {"pub"}, "code_verifier": {strings.Repeat("a", 43)}}, "", "")
	wantError(t, resp, body, 400, "invalid_grant")
}

func TestTOK18_BadClientID(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("conf", "conf-secret-0123456789abcdef", "patient/*.rs")
	resp, body := h.tokenPost(codeForm(f, code), "BAD_CLIENT_ID", "secret")
	wantError(t, resp, body, 401, "invalid_client")
	// RFC 6749 §5.2: Basic was used, so the challenge is Basic.
	if got := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic ") {
		t.Errorf("WWW-Authenticate after Basic auth = %q, want a Basic challenge", got)
	}
	form := codeForm(f, code)
	form.Set("client_id", "BAD_CLIENT_ID")
	resp, body = h.tokenPost(form, "", "")
	wantError(t, resp, body, 401, "invalid_client")
	// No Authorization header was sent: no challenge. A Bearer challenge
	// belongs to resource servers (RFC 6750), and a Basic one would make a
	// browser prompt for a password over the app (RFC 6749 §5.2 asks for
	// one only when the client used the Authorization header).
	if got := resp.Header.Get("WWW-Authenticate"); got != "" {
		t.Errorf("WWW-Authenticate without Basic auth = %q, want none", got)
	}
}

func TestTOK19_WrongSecret(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("conf", "conf-secret-0123456789abcdef", "patient/*.rs")
	resp, body := h.tokenPost(codeForm(f, code), "conf", "wrong")
	wantError(t, resp, body, 401, "invalid_client")
	// The code was not burnt by the failed authentication.
	resp, body = h.tokenPost(codeForm(f, code), "conf", "conf-secret-0123456789abcdef")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

func TestTOK05_LaunchLifetimeHonoured(t *testing.T) {
	h := newTestServer(t)
	aud := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true, AccessTokenLifetime: 120}).FHIRBaseURL
	f := h.newFlow("pub", "", aud, "patient/*.rs")
	tok := h.exchange(f, h.code(f))
	if tok.Extra("expires_in") != float64(120) {
		t.Fatalf("expires_in %v", tok.Extra("expires_in"))
	}
	h.clock.Add(121 * time.Second) // TOK-21: expired tokens are refused
	if _, err := h.srv.ResolveGrant(context.Background(), tok.AccessToken); err == nil {
		t.Fatal("expired token accepted")
	}
}

func TestERR01_ERR02_GrantTypeErrors(t *testing.T) {
	h := newTestServer(t)
	resp, body := h.tokenPost(url.Values{"client_id": {"pub"}}, "", "")
	wantError(t, resp, body, 400, "invalid_request")
	resp, body = h.tokenPost(url.Values{"grant_type": {"not_a_grant_type"}, "client_id": {"pub"}}, "", "")
	wantError(t, resp, body, 400, "unsupported_grant_type")
	resp, body = h.tokenPost(url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {"a.b.c"}}, "", "")
	wantError(t, resp, body, 400, "unsupported_grant_type")
}

func TestERR03_MissingParameters(t *testing.T) {
	h := newTestServer(t)
	resp, body := h.tokenPost(url.Values{"grant_type": {"authorization_code"}, "client_id": {"pub"}, "redirect_uri": {cbURL}}, "", "")
	wantError(t, resp, body, 400, "invalid_request")
	resp, body = h.tokenPost(url.Values{"grant_type": {"refresh_token"}, "client_id": {"pub"}}, "", "")
	wantError(t, resp, body, 400, "invalid_request")
}

func TestERR04_TwoAuthMethods(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("conf", "conf-secret-0123456789abcdef", "patient/*.rs")
	form := codeForm(f, code)
	form.Set("client_id", "conf")
	form.Set("client_secret", "conf-secret-0123456789abcdef")
	resp, body := h.tokenPost(form, "conf", "conf-secret-0123456789abcdef")
	wantError(t, resp, body, 400, "invalid_request")
}

func TestERR05_PublicClientCannotUseClientCredentials(t *testing.T) {
	h := newTestServer(t)
	resp, body := h.tokenPost(url.Values{"grant_type": {"client_credentials"}, "client_id": {"pub"}, "scope": {"system/*.rs"}}, "", "")
	if resp.StatusCode != 400 && resp.StatusCode != 401 || body["error"] != "unauthorized_client" && body["error"] != "invalid_client" {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

func TestERR06_GetAndJSONRefused(t *testing.T) {
	h := newTestServer(t)
	req, _ := http.NewRequest(http.MethodGet, h.base+"/auth/oauth/token?grant_type=client_credentials", nil)
	resp, _ := h.do(req)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodPost, h.base+"/auth/oauth/token", strings.NewReader(`{"grant_type":"authorization_code"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, body := h.do(req)
	wantError(t, resp, body, 400, "invalid_request")
}

// TOK-15 beyond one process and one window: the family saved with the
// code's hash recognises a replay after a restart (or on another instance
// sharing the database), hours later, and still revokes what the code
// produced; memory keeps no redeemed code once its family is saved.
func TestTOK15_ReplayAfterRestartRevokesTokens(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("pub", "", "offline_access", "patient/*.rs")
	form := codeForm(f, code)
	form.Set("client_id", "pub")
	resp, body := h.tokenPost(form, "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	m := h.srv.storage.reqs.(*memRequests)
	m.mu.Lock()
	held := len(m.used)
	m.mu.Unlock()
	if held != 0 {
		t.Errorf("%d redeemed codes held in memory after their family was saved, want 0", held)
	}
	h.restart()
	h.clock.Add(2 * time.Hour)
	resp, body2 := h.tokenPost(form, "", "")
	wantError(t, resp, body2, 400, "invalid_grant")
	if !strings.Contains(body2["error_description"].(string), "already used") {
		t.Errorf("replay not recognised as one: %v", body2)
	}
	rt := body["refresh_token"].(string)
	if h.srv.introspect(rt).(map[string]bool)["active"] {
		t.Error("refresh token from a replayed code still active after the replay")
	}
	// A code presented as a bearer or refresh token is no token.
	if _, err := h.srv.ResolveGrant(context.Background(), code); err == nil {
		t.Error("an authorization code resolves as an access token")
	}
}

// A replay that arrives while the first exchange is still being answered
// (before its family is saved) revokes that family as soon as it is.
func TestTOK15_ReplayDuringTheExchangeRevokesTheFamily(t *testing.T) {
	h := newTestServer(t)
	_, code := h.codeFor("pub", "", "offline_access", "patient/*.rs")
	ctx := context.Background()
	a, _, err := h.srv.storage.takeCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if _, fam, err := h.srv.storage.takeCode(ctx, code); err != errCodeReplayed || fam != "" {
		t.Fatalf("second take: %v %q, want a replay with no family yet", err, fam)
	}
	fam, tok := saveFamily(t, h, a, code)
	h.srv.storage.bindFamily(ctx, code, fam.ID)
	if _, err := h.srv.ResolveGrant(ctx, tok.handle); err == nil {
		t.Error("the family of a code replayed during its exchange is still valid")
	}
}

// A replay after the family was saved but before bindFamily (or after an
// instance died between the two and never bound it) finds the family by
// the code's row and names it, so the exchange revokes it.
func TestTOK15_ReplayBeforeBindNamesTheFamily(t *testing.T) {
	h := newTestServer(t)
	_, code := h.codeFor("pub", "", "offline_access", "patient/*.rs")
	ctx := context.Background()
	a, _, err := h.srv.storage.takeCode(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	fam, _ := saveFamily(t, h, a, code)
	if _, famID, err := h.srv.storage.takeCode(ctx, code); err != errCodeReplayed || famID != fam.ID {
		t.Fatalf("replay before bindFamily: %v %q, want a replay naming %s", err, famID, fam.ID)
	}
}

// saveFamily saves the family of the redeemed request a with one access
// token, as the code exchange does before it binds the code.
func saveFamily(t *testing.T, h *testServer, a *authRequest, code string) (*family, newToken) {
	t.Helper()
	fam := h.srv.familyFrom(a)
	tok := h.srv.tokens.mint(kindAccess, fam, fam.Scopes, time.Hour)
	if err := h.srv.tokens.save(context.Background(), fam, true, code, nil, "", tok); err != nil {
		t.Fatal(err)
	}
	return fam, tok
}
