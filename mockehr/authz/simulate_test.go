package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

func simFlow(t *testing.T, h *testServer, sim string, scopes ...string) *flow {
	aud := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true, SimulateError: sim}).FHIRBaseURL
	return h.newFlow("pub", "", aud, scopes...)
}

func TestSimulatedAuthErrorsRenderPage(t *testing.T) {
	for _, sim := range []string{"auth_invalid_client_id", "auth_invalid_redirect_uri"} {
		t.Run(sim, func(t *testing.T) {
			h := newTestServer(t)
			resp := h.get(simFlow(t, h, sim, "patient/*.rs").authURL())
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" || !strings.Contains(body(t, resp), sim) {
				t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Location"))
			}
		})
	}
}

func TestSimulatedAuthErrorsRedirect(t *testing.T) {
	for sim, code := range map[string]string{"auth_invalid_scope": "invalid_scope", "auth_access_denied": "access_denied", "auth_temporarily_unavailable": "temporarily_unavailable"} {
		t.Run(sim, func(t *testing.T) {
			h := newTestServer(t)
			f := simFlow(t, h, sim, "patient/*.rs")
			q := h.redirectParams(h.get(f.authURL()))
			if q.Get("error") != code || q.Get("state") != f.state || q.Get("code") != "" {
				t.Fatalf("%v", q)
			}
		})
	}
}

func TestSimulatedTokenErrors(t *testing.T) {
	cases := map[string]struct {
		status int
		code   string
	}{
		"auth_invalid_client_secret":       {401, "invalid_client"},
		"token_invalid_token":              {400, "invalid_grant"},
		"token_invalid_scope":              {400, "invalid_scope"},
		"token_invalid_jti":                {401, "invalid_client"},
		"token_expired_registration_token": {401, "invalid_client"},
		"token_server_error":               {500, "server_error"},
	}
	for sim, want := range cases {
		t.Run(sim, func(t *testing.T) {
			h := newTestServer(t)
			f := simFlow(t, h, sim, "patient/*.rs")
			form := codeForm(f, h.code(f)) // the code is issued
			form.Set("client_id", "pub")
			resp, b := h.tokenPost(form, "", "")
			if resp.StatusCode != want.status || b["error"] != want.code {
				t.Fatalf("%d %v", resp.StatusCode, b)
			}
		})
	}
}

func TestSimulatedExpiredRefreshToken(t *testing.T) {
	h := newTestServer(t)
	f := simFlow(t, h, "token_expired_refresh_token", "offline_access", "patient/*.rs")
	tok := h.exchange(f, h.code(f))
	resp, b := h.tokenPost(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"pub"}}, "", "")
	wantError(t, resp, b, 400, "invalid_grant")
}

func TestSimulatedRequestErrorsReachGrant(t *testing.T) {
	h := newTestServer(t)
	f := simFlow(t, h, "request_rate_limited", "patient/*.rs")
	tok := h.exchange(f, h.code(f))
	g, err := h.srv.ResolveGrant(t.Context(), tok.AccessToken)
	if err != nil || g.SimulateError != "request_rate_limited" {
		t.Fatalf("%+v %v", g, err)
	}
}

func TestSimulatedBackendTokenServerError(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "backend-service", SimulateError: "token_server_error", Client: launcher.Client{ClientID: clients.DemoBackend}})
	form := ccForm(h.assertion(clients.DemoBackend, clients.DemoKeyES384, jose.ES384, nil), "system/*.rs")
	form.Set("resource", res.FHIRBaseURL)
	resp, b := h.tokenPost(form, "", "")
	wantError(t, resp, b, 500, "server_error")
}
