package authz

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/launcher"

	"fmt"

	"github.com/ehrsim/ehrsim/mockehr/smart"

	"github.com/ehrsim/ehrsim/ui/authui"
)

var hiddenRe = regexp.MustCompile(`<input type="hidden" name="(id|csrf)" value="([^"]*)"`)

// hiddenFields reads the id and csrf hidden inputs of a page.
func hiddenFields(t testing.TB, resp *http.Response) url.Values {
	t.Helper()
	if resp.StatusCode != 200 {
		t.Fatalf("page status %d", resp.StatusCode)
	}
	b, _ := io.ReadAll(resp.Body)
	v := url.Values{}
	for _, m := range hiddenRe.FindAllStringSubmatch(string(b), -1) {
		v.Set(m[1], m[2])
	}
	if v.Get("id") == "" || v.Get("csrf") == "" {
		t.Fatalf("no hidden id/csrf in page:\n%s", b)
	}
	return v
}

func body(t *testing.T, resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// SAP-02/SPR-03: login → patient picker → encounter picker → consent, with
// the consent narrowing the grant (what stays checked is granted).
func TestSPR03_PagesLoginPickerConsent(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("pub", "", h.fhirBase(), "openid", "fhirUser", "launch/patient", "launch/encounter", "user/*.rs", "patient/Observation.rs")
	resp := h.get(f.authURL())
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, h.base+"/auth/login?") {
		t.Fatalf("want login, got %d %s", resp.StatusCode, loc)
	}
	page := h.get(loc)
	form := hiddenFields(t, page)
	form.Set("user", "Practitioner/pr-1")
	resp = h.postForm(h.base+"/auth/login", form)
	if loc = resp.Header.Get("Location"); !strings.HasPrefix(loc, h.base+"/auth/patient?") {
		t.Fatalf("want patient picker, got %d %s", resp.StatusCode, loc)
	}
	page = h.get(loc + "&q=MRN-002")
	html := body(t, page)
	if !strings.Contains(html, `data-testid="patient-p-2"`) || strings.Contains(html, `data-testid="patient-p-1"`) {
		t.Fatalf("search by MRN: %s", html)
	}
	form = hiddenFields(t, h.get(loc))
	form.Set("patient", "p-2")
	resp = h.postForm(h.base+"/auth/patient", form)
	if loc = resp.Header.Get("Location"); !strings.HasPrefix(loc, h.base+"/auth/encounter?") {
		t.Fatalf("want encounter picker, got %s", loc)
	}
	form = hiddenFields(t, h.get(loc))
	form.Set("encounter", "e-3")
	resp = h.postForm(h.base+"/auth/encounter", form)
	if loc = resp.Header.Get("Location"); !strings.HasPrefix(loc, h.base+"/auth/consent?") {
		t.Fatalf("want consent, got %s", loc)
	}
	page = h.get(loc)
	form = hiddenFields(t, page)
	for _, s := range []string{"openid", "fhirUser", "launch/patient", "launch/encounter", "patient/Observation.rs"} {
		form.Add("scope", s) // user/*.rs unchecked
	}
	form.Set("decision", "allow")
	q := h.redirectParams(h.postForm(h.base+"/auth/consent", form))
	tok := h.exchange(f, q.Get("code"))
	if tok.Extra("patient") != "p-2" || tok.Extra("encounter") != "e-3" {
		t.Errorf("context %v %v", tok.Extra("patient"), tok.Extra("encounter"))
	}
	if strings.Contains(tok.Extra("scope").(string), "user/*.rs") {
		t.Errorf("unchecked scope granted: %v", tok.Extra("scope"))
	}
}

// AZ-11: the user denies → access_denied with state.
func TestAZ11_UserDenies(t *testing.T) {
	h := newTestServer(t)
	aud := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true}).FHIRBaseURL
	f := h.newFlow("pub", "", aud, "patient/*.rs")
	loc := h.get(f.authURL()).Header.Get("Location")
	form := hiddenFields(t, h.get(loc))
	form.Set("decision", "deny")
	q := h.redirectParams(h.postForm(h.base+"/auth/consent", form))
	if q.Get("error") != "access_denied" || q.Get("state") != f.state || q.Get("code") != "" {
		t.Fatalf("%v", q)
	}
}

// CSRF: a form without the session's token is refused.
func TestPagesRefuseBadCSRF(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("pub", "", h.fhirBase(), "openid", "fhirUser")
	loc := h.get(f.authURL()).Header.Get("Location")
	form := hiddenFields(t, h.get(loc))
	form.Set("csrf", "forged")
	form.Set("user", "Practitioner/pr-1")
	if resp := h.postForm(h.base+"/auth/login", form); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

// prompt=none without a session → login_required redirect.
func TestPromptNoneLoginRequired(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("pub", "", h.fhirBase(), "openid", "fhirUser").with("prompt", "none")
	q := h.redirectParams(h.get(f.authURL()))
	if q.Get("error") != "login_required" || q.Get("state") != f.state {
		t.Fatalf("%v", q)
	}
}

// The simulated EHR frames apps on our own origin, and an app's authorize
// request brings these pages into that frame: same-origin framing is
// allowed, framing by any other origin is not (clickjacking of consent).
func TestPagesFramableOnlyBySameOrigin(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("pub", "", h.fhirBase(), "openid", "launch/patient", "patient/*.rs")
	loc := h.get(f.authURL()).Header.Get("Location")
	page := h.get(loc)
	if page.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d", page.StatusCode)
	}
	if got := page.Header.Get("Content-Security-Policy"); got != "frame-ancestors 'self'" {
		t.Errorf("Content-Security-Policy = %q, want frame-ancestors 'self'", got)
	}
	if got := page.Header.Get("X-Frame-Options"); got != "SAMEORIGIN" {
		t.Errorf("X-Frame-Options = %q, want SAMEORIGIN", got)
	}
}

// REV-08: the user who authorized an app sees its access on the management
// page and revokes it; its access and refresh tokens stop working at once.
// A grant id that is not the user's is refused.
func TestREV08_ManagementPageRevokesAccess(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow("pub", "", h.fhirBase(), "openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs")
	loc := h.get(f.authURL()).Header.Get("Location")
	form := hiddenFields(t, h.get(loc))
	form.Set("user", "Practitioner/pr-1")
	loc = h.postForm(h.base+"/auth/login", form).Header.Get("Location")
	form = hiddenFields(t, h.get(loc))
	form.Set("patient", "p-1")
	loc = h.postForm(h.base+"/auth/patient", form).Header.Get("Location")
	form = hiddenFields(t, h.get(loc))
	for _, s := range []string{"openid", "fhirUser", "launch/patient", "offline_access", "patient/*.rs"} {
		form.Add("scope", s)
	}
	form.Set("decision", "allow")
	tok := h.exchange(f, h.redirectParams(h.postForm(h.base+"/auth/consent", form)).Get("code"))
	if _, err := h.srv.ResolveGrant(context.Background(), tok.AccessToken); err != nil {
		t.Fatal(err)
	}

	// Discovery advertises the page (DISC-10, REV-01).
	if got := h.srv.Endpoints().Management; got != h.base+"/auth/manage" {
		t.Fatalf("management endpoint = %q", got)
	}
	page := body(t, h.get(h.base+"/auth/manage"))
	grant := regexp.MustCompile(`name="grant" value="([^"]+)"`).FindStringSubmatch(page)
	csrf := regexp.MustCompile(`name="csrf" value="([^"]+)"`).FindStringSubmatch(page)
	if grant == nil || csrf == nil || !strings.Contains(page, ">pub<") || !strings.Contains(page, "patient/*.rs") {
		t.Fatalf("manage page does not list the grant:\n%s", page)
	}

	resp := h.postForm(h.base+"/auth/manage", url.Values{"csrf": {csrf[1]}, "action": {"revoke"}, "grant": {"not-mine"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("revoking a foreign grant: %d", resp.StatusCode)
	}
	// An app's row revokes several grants at once; one foreign id among
	// them refuses the whole form and revokes nothing.
	resp = h.postForm(h.base+"/auth/manage", url.Values{"csrf": {csrf[1]}, "action": {"revoke"}, "grant": {grant[1], "not-mine"}})
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("revoking an own and a foreign grant: %d", resp.StatusCode)
	}
	if _, err := h.srv.ResolveGrant(context.Background(), tok.AccessToken); err != nil {
		t.Fatalf("a refused form revoked the grant: %v", err)
	}
	resp = h.postForm(h.base+"/auth/manage", url.Values{"csrf": {csrf[1]}, "action": {"revoke"}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("revoking nothing: %d", resp.StatusCode)
	}
	resp = h.postForm(h.base+"/auth/manage", url.Values{"csrf": {"wrong"}, "action": {"revoke"}, "grant": {grant[1]}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("revoke without the CSRF token: %d", resp.StatusCode)
	}
	resp = h.postForm(h.base+"/auth/manage", url.Values{"csrf": {csrf[1]}, "action": {"revoke"}, "grant": {grant[1]}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if _, err := h.srv.ResolveGrant(context.Background(), tok.AccessToken); err == nil {
		t.Error("access token still resolves after revocation on the management page")
	}
	resp, body2 := h.tokenPost(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"pub"}}, "", "")
	wantError(t, resp, body2, 400, "invalid_grant")
	if page := body(t, h.get(h.base+"/auth/manage")); !strings.Contains(page, `data-testid="manage-empty"`) {
		t.Errorf("grant still listed after revocation:\n%s", page)
	}
}

// The login page with a FHIR data source that is down is a readable 503
// naming the cause, not a sign-in list left empty.
func TestLoginPageWhileTheDirectoryIsDown(t *testing.T) {
	h := newTestServer(t)
	dir := fakeDir()
	mux := http.NewServeMux()
	h.srv.Mount(mux)
	(&authui.Handler{Flow: h.srv, Directory: dir, Issuer: h.srv.Issuer(), Now: h.clock.Now}).Mount(mux)
	h.ts.Config.Handler = mux
	aud := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipConsent: true}).FHIRBaseURL
	f := h.newFlow("conf", "conf-secret-0123456789abcdef", aud, "launch/patient", "patient/*.rs")
	loc := h.get(f.authURL()).Header.Get("Location")
	if !strings.HasPrefix(loc, h.base+"/auth/login?") {
		t.Fatalf("want the login page, got %q", loc)
	}
	dir.Down = fmt.Errorf("the upstream FHIR server refused the connection (%w)", smart.ErrUnavailable)
	resp := h.get(loc)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "The FHIR server is unavailable") ||
		!strings.Contains(string(body), "refused the connection") {
		t.Fatalf("login page with the directory down: %d %s", resp.StatusCode, body)
	}
	dir.Down = nil
	if resp := h.get(loc); resp.StatusCode != http.StatusOK {
		t.Fatalf("login page with the directory back: %d", resp.StatusCode)
	}
}
