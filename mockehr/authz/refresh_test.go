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

// refreshable returns a token response with a refresh token for conf.
func refreshable(t *testing.T, h *testServer, scopes ...string) map[string]any {
	f, code := h.codeFor("conf", "conf-secret-0123456789abcdef", scopes...)
	resp, body := h.tokenPost(codeForm(f, code), "conf", "conf-secret-0123456789abcdef")
	if resp.StatusCode != 200 || body["refresh_token"] == nil {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	return body
}

func refresh(h *testServer, rt, scope string) (*http.Response, map[string]any) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
	if scope != "" {
		form.Set("scope", scope)
	}
	return h.tokenPost(form, "conf", "conf-secret-0123456789abcdef")
}

func TestREF01_REF03_REF09_RefreshWithoutScope(t *testing.T) {
	h := newTestServer(t)
	first := refreshable(t, h, "openid", "fhirUser", "offline_access", "launch/patient", "patient/*.rs")
	resp, body := refresh(h, first["refresh_token"].(string), "")
	if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("%d %v %v", resp.StatusCode, resp.Header, body)
	}
	if body["scope"] != first["scope"] || body["patient"] != "p-1" || body["id_token"] == nil {
		t.Errorf("refresh body %v", body)
	}
	if _, ok := body["expires_in"].(float64); !ok {
		t.Errorf("expires_in %v", body["expires_in"])
	}
	if _, err := h.srv.ResolveGrant(context.Background(), body["access_token"].(string)); err != nil { // REF-08
		t.Fatal(err)
	}
	// REF-04: rotation — the new refresh token works, the old one is dead.
	resp, _ = refresh(h, first["refresh_token"].(string), "")
	if resp.StatusCode != 400 {
		t.Errorf("old refresh token: %d", resp.StatusCode)
	}
	resp, body = refresh(h, body["refresh_token"].(string), "")
	if resp.StatusCode != 200 {
		t.Errorf("rotated refresh token: %d %v", resp.StatusCode, body)
	}
}

func TestREF02_RefreshWithSameScope(t *testing.T) {
	h := newTestServer(t)
	first := refreshable(t, h, "offline_access", "patient/*.rs")
	resp, body := refresh(h, first["refresh_token"].(string), first["scope"].(string))
	if resp.StatusCode != 200 || scopeSet(body["scope"].(string))[0] != scopeSet(first["scope"].(string))[0] {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	// narrowing works
	resp, body = refresh(h, body["refresh_token"].(string), "patient/*.rs")
	if resp.StatusCode != 200 || body["scope"] != "patient/*.rs" {
		t.Fatalf("narrow: %d %v", resp.StatusCode, body)
	}
}

func TestREF05_WiderScopeRefused(t *testing.T) {
	h := newTestServer(t)
	first := refreshable(t, h, "offline_access", "patient/*.rs")
	resp, body := refresh(h, first["refresh_token"].(string), "offline_access patient/*.cruds")
	wantError(t, resp, body, 400, "invalid_scope")
}

func TestREF06_InvalidRefreshToken(t *testing.T) {
	h := newTestServer(t)
	resp, body := refresh(h, "garbage", "")
	wantError(t, resp, body, 400, "invalid_grant")
}

func TestREF07_OtherClientsRefreshToken(t *testing.T) {
	h := newTestServer(t)
	first := refreshable(t, h, "offline_access", "patient/*.rs")
	resp, body := h.tokenPost(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}, "client_id": {"pub"}}, "", "")
	wantError(t, resp, body, 400, "invalid_grant")
}

// REF-10: online_access gives a refresh token that dies with the login session.
func TestREF10_OnlineAccessEndsWithSession(t *testing.T) {
	h := newTestServer(t)
	aud := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipConsent: true}).FHIRBaseURL
	f := h.newFlow("conf", "conf-secret-0123456789abcdef", aud, "online_access", "patient/*.rs")
	code := h.loginThrough(f, "Patient/p-1")
	resp, body := h.tokenPost(codeForm(f, code), "conf", "conf-secret-0123456789abcdef")
	if resp.StatusCode != 200 || body["refresh_token"] == nil {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	h.get(h.base + "/auth/end_session")
	resp, body = refresh(h, body["refresh_token"].(string), "")
	wantError(t, resp, body, 400, "invalid_grant")
}

// loginThrough runs authorize, the login page (as user) and returns the code.
func (h *testServer) loginThrough(f *flow, user string) string {
	h.t.Helper()
	resp := h.get(f.authURL())
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, h.base+"/auth/login?") {
		h.t.Fatalf("expected the login page, got %d %s", resp.StatusCode, loc)
	}
	page := h.get(loc)
	form := hiddenFields(h.t, page)
	form.Set("user", user)
	q := h.redirectParams(h.postForm(h.base+"/auth/login", form))
	return q.Get("code")
}

// REF-01 (public client): SMART App Launch 2.2 §refresh lists only
// grant_type, refresh_token and scope for public apps, and fhirclient sends
// just those; the refresh token names the client. A confidential client's
// refresh token without credentials is still refused.
func TestREF01_PublicClientRefreshWithoutClientID(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("pub", "", "offline_access", "launch/patient", "patient/*.rs")
	form := codeForm(f, code)
	form.Set("client_id", "pub")
	resp, first := h.tokenPost(form, "", "")
	if resp.StatusCode != 200 || first["refresh_token"] == nil {
		t.Fatalf("code exchange: %d %v", resp.StatusCode, first)
	}
	resp, body := h.tokenPost(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {first["refresh_token"].(string)}}, "", "")
	if resp.StatusCode != 200 || body["access_token"] == nil || body["patient"] != first["patient"] {
		t.Fatalf("public refresh without client_id: %d %v", resp.StatusCode, body)
	}

	conf := refreshable(t, h, "offline_access", "patient/*.rs")
	resp, body = h.tokenPost(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {conf["refresh_token"].(string)}}, "", "")
	wantError(t, resp, body, 401, "invalid_client")
}

// A refresh extends its family in the same transaction as the rotation:
// tokens refreshed late in the family's life keep working past its first
// expiry, after a restart too (the extension is on disk, not only in
// memory).
func TestRefreshExtendsTheFamily(t *testing.T) {
	h := newTestServer(t)
	rt := refreshable(t, h, "offline_access", "patient/*.rs")["refresh_token"].(string)
	e, ok := h.srv.tokens.lookup(rt)
	if !ok {
		t.Fatal("refresh token unknown")
	}
	first := e.fam.ExpiresAt
	h.clock.Add(first.Sub(h.clock.Now()) - time.Minute) // a minute before the family would end
	resp, body := refresh(h, rt, "")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	h.restart()
	h.clock.Add(2 * time.Minute) // past the first expiry
	if err := h.srv.tokens.sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	resp, body = refresh(h, body["refresh_token"].(string), "")
	if resp.StatusCode != 200 {
		t.Fatalf("refresh after the family's first expiry and a restart: %d %v", resp.StatusCode, body)
	}
}
