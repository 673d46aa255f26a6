package authz

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// Launch-defined ("ad-hoc") clients are real clients at every endpoint
// (docs/launch-defined-clients.md): the token and revocation endpoints know
// them from the moment their launch is minted, not only through a live code
// or refresh token.

// adhocLaunch mints a provider EHR launch defining client id (public, or
// confidential-symmetric when secret is set) with the test callback.
func (h *testServer) adhocLaunch(id, secret string) *launcher.Result {
	c := launcher.Client{ClientID: id, RedirectURIs: []string{cbURL}}
	if secret != "" {
		c.ClientType, c.ClientSecret = clients.TypeSymmetric, secret
	}
	return h.mint(launcher.Request{LaunchType: "provider-ehr", Patient: "p-1", Practitioner: "pr-1", SkipLogin: true, SkipConsent: true, Client: c})
}

// adhocTokens runs the launch with x/oauth2 and returns the config and tokens.
func (h *testServer) adhocTokens(res *launcher.Result, id, secret string, scopes ...string) (*flow, *oauth2.Token, string) {
	h.t.Helper()
	f := h.newFlow(id, secret, res.ISS, scopes...).with("launch", res.Launch)
	code := h.code(f)
	return f, h.exchange(f, code), code
}

func retrieveError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("err = %v, want an OAuth error response", err)
	}
	if re.Response.StatusCode != status || re.ErrorCode != code {
		t.Fatalf("got %d %s (%s), want %d %s", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, status, code)
	}
}

func (h *testServer) active(token string) bool {
	h.t.Helper()
	_, body := h.introspectReq(token, nil)
	return body["active"] == true
}

// TOK-15 (RFC 6749 §4.1.2): a launch-defined client redeeming its code twice
// gets invalid_grant, and the tokens issued from the code are revoked.
func TestTOK15_AdhocCodeReplayRevokes(t *testing.T) {
	h := newTestServer(t)
	res := h.adhocLaunch("adhoc-x", "")
	f, tok, code := h.adhocTokens(res, "adhoc-x", "", "launch", "openid", "fhirUser", "patient/*.rs")

	// go-oidc verifies the id_token of the launch-defined client.
	ctx := context.Background()
	provider, err := oidc.NewProvider(ctx, h.base+"/auth")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := provider.Verifier(&oidc.Config{ClientID: "adhoc-x"}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("id_token: %v", err)
	}
	if idt.Subject == "" {
		t.Error("id_token has no sub")
	}
	if !h.active(tok.AccessToken) {
		t.Fatal("the access token is not active after the exchange")
	}

	_, err = f.cfg.Exchange(ctx, code, oauth2.VerifierOption(f.verifier))
	retrieveError(t, err, http.StatusBadRequest, "invalid_grant")
	if h.active(tok.AccessToken) {
		t.Fatal("the access token issued from a replayed code is still active")
	}
}

// TOK-17, REF-06, ERR-03 for a launch-defined client: a bad code or
// refresh token is invalid_grant (the client is known), a missing one
// invalid_request; a client id nothing defined is invalid_client (TOK-18).
func TestTOK17_REF06_ERR03_AdhocBadGrants(t *testing.T) {
	h := newTestServer(t)
	res := h.adhocLaunch("adhoc-x", "")
	ctx := context.Background()
	f := h.newFlow("adhoc-x", "", res.ISS, "launch", "patient/*.rs").with("launch", res.Launch)

	_, err := f.cfg.Exchange(ctx, "BAD_CODE", oauth2.VerifierOption(f.verifier))
	retrieveError(t, err, http.StatusBadRequest, "invalid_grant")

	_, err = f.cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: "random-refresh-token", Expiry: time.Now().Add(-time.Hour)}).Token()
	retrieveError(t, err, http.StatusBadRequest, "invalid_grant")

	for name, form := range map[string]url.Values{
		"missing code":          {"grant_type": {"authorization_code"}, "redirect_uri": {cbURL}, "client_id": {"adhoc-x"}, "code_verifier": {f.verifier}},
		"missing refresh_token": {"grant_type": {"refresh_token"}, "client_id": {"adhoc-x"}},
	} {
		resp, body := h.tokenPost(form, "", "")
		if resp.StatusCode != 400 || body["error"] != "invalid_request" {
			t.Errorf("%s: %d %v, want 400 invalid_request", name, resp.StatusCode, body)
		}
	}

	never := h.oauthConfig("never-defined", "")
	_, err = never.Exchange(ctx, "BAD_CODE", oauth2.VerifierOption(f.verifier))
	retrieveError(t, err, http.StatusUnauthorized, "invalid_client")
}

// The launch-defined client survives a restart: its launch is in the
// database, so a bad code after the restart is still invalid_grant.
func TestAdhocClientKnownAfterRestart(t *testing.T) {
	h := newTestServer(t)
	res := h.adhocLaunch("adhoc-x", "adhoc-secret-0123456789")
	h.restart()
	f := h.newFlow("adhoc-x", "adhoc-secret-0123456789", res.ISS, "launch", "patient/*.rs")
	_, err := f.cfg.Exchange(context.Background(), "BAD_CODE", oauth2.VerifierOption(f.verifier))
	retrieveError(t, err, http.StatusBadRequest, "invalid_grant")
	// Its secret is still checked.
	f = h.newFlow("adhoc-x", "wrong-secret", res.ISS, "launch", "patient/*.rs")
	_, err = f.cfg.Exchange(context.Background(), "BAD_CODE", oauth2.VerifierOption(f.verifier))
	retrieveError(t, err, http.StatusUnauthorized, "invalid_client")
}

// REV-07 (RFC 7009 §2.1): revoking with a wrong secret of a launch-defined
// confidential client is 401 invalid_client, and nothing is revoked.
func TestREV07_AdhocRevokeWithWrongSecret(t *testing.T) {
	h := newTestServer(t)
	const secret = "adhoc-secret-0123456789"
	res := h.adhocLaunch("adhoc-conf", secret)
	_, tok, _ := h.adhocTokens(res, "adhoc-conf", secret, "launch", "patient/*.rs", "offline_access")

	for _, token := range []string{tok.AccessToken, tok.RefreshToken} {
		resp, body := h.revoke(token, "", "adhoc-conf", "wrong")
		wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
		if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("WWW-Authenticate = %q, want a Basic challenge (Basic was used)", resp.Header.Get("WWW-Authenticate"))
		}
	}
	// Credentials in the body instead of Basic: no challenge at all.
	req, _ := http.NewRequest(http.MethodPost, h.base+"/auth/revoke", strings.NewReader(url.Values{"token": {tok.AccessToken}, "client_id": {"adhoc-conf"}, "client_secret": {"wrong"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := h.do(req)
	wantError(t, resp, body, http.StatusUnauthorized, "invalid_client")
	if got := resp.Header.Get("WWW-Authenticate"); got != "" {
		t.Errorf("WWW-Authenticate after client_secret_post = %q, want none", got)
	}
	if !h.active(tok.AccessToken) || !h.active(tok.RefreshToken) {
		t.Fatal("a revocation with a wrong secret revoked the token")
	}
	if resp, body := h.revoke(tok.AccessToken, "", "adhoc-conf", secret); resp.StatusCode != 200 {
		t.Fatalf("revocation with the right secret: %d %v", resp.StatusCode, body)
	}
	if h.active(tok.AccessToken) {
		t.Fatal("the access token is still active after its revocation")
	}
}

// AZ-06 (RFC 6749 §4.1.2.1, RFC 9700 §4.11): a launch minted for one client
// presented by another, unregistered one with an unknown redirect_uri gets
// an error page, never a redirect.
func TestAZ06_LaunchForAnotherClientNoOpenRedirect(t *testing.T) {
	h := newTestServer(t)
	res := h.adhocLaunch("adhoc-x", "")
	v := url.Values{"response_type": {"code"}, "client_id": {"someone-else"}, "redirect_uri": {"https://evil.example.com/cb"},
		"scope": {"launch patient/*.rs"}, "state": {"s-1"}, "aud": {res.ISS}, "launch": {res.Launch},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	for _, l := range []string{res.Launch, "not-a-launch"} {
		v.Set("launch", l)
		resp := h.get(h.base + "/auth/authorize?" + v.Encode())
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Fatalf("launch %.12s…: %d Location %q, want a 400 page and no redirect", l, resp.StatusCode, resp.Header.Get("Location"))
		}
		if !strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), "No code was issued") {
			t.Errorf("launch %.12s…: want the HTML error page, got %s", l, body)
		}
	}
}

// An unregistered client_id that completes an authorization in sandbox mode
// becomes known (public): its bad code is then invalid_grant, not
// invalid_client.
func TestSandboxClientKnownAfterAuthorize(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("sandbox-app", "", h.scenario(launcher.Request{}), "patient/*.rs")
	h.exchange(f, h.code(f))
	_, err := f.cfg.Exchange(context.Background(), "BAD_CODE", oauth2.VerifierOption(f.verifier))
	retrieveError(t, err, http.StatusBadRequest, "invalid_grant")
}

// Strict mode knows only registered clients.
func TestStrictModeRefusesLaunchDefinedClients(t *testing.T) {
	h := newTestServer(t, func(o *Options) { o.Strict = true })
	res := h.adhocLaunch("adhoc-x", "")
	f := h.newFlow("adhoc-x", "", res.ISS, "launch", "patient/*.rs").with("launch", res.Launch)
	resp := h.get(f.authURL())
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("authorize in strict mode: %d %q, want the error page", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, err := f.cfg.Exchange(context.Background(), "BAD_CODE", oauth2.VerifierOption(f.verifier))
	retrieveError(t, err, http.StatusUnauthorized, "invalid_client")
}
