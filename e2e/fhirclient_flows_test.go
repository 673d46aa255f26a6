package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/ehrsim/ehrsim/launcher"
)

// standaloneScope is what the test app asks for in standalone launches.
const standaloneScope = "launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs patient/Encounter.rs"

// The simulated EHR shows the app in its iframe: the library runs inside
// the frame (completeInTarget), the EHR draws the banner, so the token says
// need_patient_banner false and the app shows the banner's patient.
func TestFHIRClientEHRLaunchInSimulatedEHR(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-app", Scope: ehrScope})
	// Inside the EHR the clinician is signed in and the app is trusted.
	res, _ := mint(t, s.URL, launcher.Request{
		LaunchType: "provider-ehr", Patient: "pat-sarah-lee", SkipLogin: true, SkipConsent: true,
		Client: appClient(app), AppLaunchURL: app.LaunchURL,
	})
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.SimEHRURL)
	frame := page.FrameLocator(`[data-testid="app-frame"]`).Locator("body")
	waitApp(t, frame, "done")
	banner := text(t, page, "banner-name")
	expect(t, assert.Locator(frame.GetByTestId("patient-name")).ToHaveText(banner))
	tok := checkServed(t, net, frame, s, app, res.ISS, "pat-sarah-lee")
	if tok.NeedPatientBanner == nil || *tok.NeedPatientBanner {
		t.Errorf("token need_patient_banner %v, want false inside the EHR", tok.NeedPatientBanner)
	}
	expect(t, assert.Locator(frame.GetByTestId("need-patient-banner")).ToHaveText("false"))
}

// Patient portal launch: the patient is the signed-in user; the app is
// told to draw a banner (the portal does not).
func TestFHIRClientPatientPortalLaunch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-portal", Scope: ehrScope})
	res, _ := mint(t, s.URL, launcher.Request{
		LaunchType: "patient-portal", Patient: "pat-robert-chen", Encounter: launcher.EncounterNone,
		Client: appClient(app), AppLaunchURL: app.LaunchURL,
	})
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.LaunchURL)
	expect(t, assert.Locator(page.GetByTestId("consent-page")).ToBeVisible())
	expect(t, assert.Locator(page.GetByTestId("consent-user")).ToContainText("Robert"))
	expect(t, page.GetByTestId("consent-allow").Click())
	ui := page.Locator("body")
	waitApp(t, ui, "done")
	tok := checkServed(t, net, ui, s, app, res.ISS, "pat-robert-chen")
	expect(t, assert.Locator(ui.GetByTestId("fhir-user")).ToHaveText("Patient/pat-robert-chen"))
	expect(t, assert.Locator(ui.GetByTestId("encounter-id")).ToHaveText(""))
	if tok.Encounter != "" {
		t.Errorf("token encounter %q, want none", tok.Encounter)
	}
	expect(t, assert.Locator(ui.GetByTestId("need-patient-banner")).ToHaveText("true"))
}

// Patient standalone launch: the app starts from the /sim/… FHIR base, the
// patient signs in on the login page (found by the search box) and consents.
func TestFHIRClientPatientStandaloneLaunch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-standalone", Scope: standaloneScope})
	res, _ := mint(t, s.URL, launcher.Request{LaunchType: "patient-standalone", Client: appClient(app), AppLaunchURL: app.LaunchURL})
	if !strings.Contains(res.ISS, "/sim/") {
		t.Fatalf("standalone iss %q is not a /sim/ base", res.ISS)
	}
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.LaunchURL)
	expect(t, assert.Locator(page.GetByTestId("login-page")).ToBeVisible())
	expect(t, page.GetByTestId("login-search").Fill("Olivia"))
	expect(t, page.GetByTestId("login-search-submit").Click())
	expect(t, page.GetByTestId("login-user-Patient/pat-olivia-brown").Click())
	expect(t, assert.Locator(page.GetByTestId("consent-page")).ToBeVisible())
	expect(t, page.GetByTestId("consent-allow").Click())
	ui := page.Locator("body")
	waitApp(t, ui, "done")
	checkServed(t, net, ui, s, app, res.ISS, "pat-olivia-brown")
	expect(t, assert.Locator(ui.GetByTestId("fhir-user")).ToHaveText("Patient/pat-olivia-brown"))
	// The app asked for launch/patient, not launch/encounter.
	expect(t, assert.Locator(ui.GetByTestId("encounter-id")).ToHaveText(""))
}

// Provider standalone launch with launch/encounter: login as a clinician,
// the patient picker, the encounter picker, consent.
func TestFHIRClientProviderStandaloneEncounterPicker(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-provider", Scope: "launch/encounter " + standaloneScope})
	// The encounter the picker must offer: the patient's current one.
	_, l := mint(t, s.URL, launcher.Request{LaunchType: "provider-ehr", Patient: "pat-james-nguyen"})
	if l.Encounter == "" {
		t.Fatal("pat-james-nguyen has no current encounter")
	}
	res, _ := mint(t, s.URL, launcher.Request{LaunchType: "provider-standalone", Client: appClient(app), AppLaunchURL: app.LaunchURL})
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.LaunchURL)
	expect(t, page.GetByTestId("login-user-Practitioner/prac-emily-carter").Click())
	expect(t, assert.Locator(page.GetByTestId("patient-picker")).ToBeVisible())
	expect(t, page.GetByTestId("patient-search").Fill("Nguyen"))
	expect(t, page.GetByTestId("patient-search-submit").Click())
	expect(t, page.GetByTestId("patient-pat-james-nguyen").Click())
	expect(t, assert.Locator(page.GetByTestId("encounter-picker")).ToBeVisible())
	expect(t, page.GetByTestId("encounter-"+l.Encounter).Click())
	expect(t, assert.Locator(page.GetByTestId("consent-page")).ToBeVisible())
	expect(t, assert.Locator(page.GetByTestId("consent-patient")).ToContainText("Nguyen"))
	expect(t, page.GetByTestId("consent-allow").Click())
	ui := page.Locator("body")
	waitApp(t, ui, "done")
	tok := checkServed(t, net, ui, s, app, res.ISS, "pat-james-nguyen")
	if tok.Encounter != l.Encounter {
		t.Errorf("token encounter %q, want the picked %q", tok.Encounter, l.Encounter)
	}
	expect(t, assert.Locator(ui.GetByTestId("encounter-id")).ToHaveText(l.Encounter))
	expect(t, assert.Locator(ui.GetByTestId("encounter-status")).ToHaveText(l.Encounter+" in-progress"))
	expect(t, assert.Locator(ui.GetByTestId("fhir-user")).ToHaveText("Practitioner/prac-emily-carter"))
	if r := net.one(t, "GET", res.ISS+"/Encounter/"+l.Encounter); r.Status() != 200 {
		t.Errorf("GET Encounter = %d", r.Status())
	}
}

// The user unticks a scope on the consent page: the library sees the
// reduced scope and the FHIR server refuses what was not granted (403).
func TestFHIRClientConsentWithScopeDeselected(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-partial", Scope: ehrScope, Probes: []string{"Encounter?patient={patient}"}})
	res, _ := mint(t, s.URL, launcher.Request{
		LaunchType: "provider-ehr", Patient: "pat-maya-patel", Encounter: launcher.EncounterNone,
		Client: appClient(app), AppLaunchURL: app.LaunchURL,
	})
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.LaunchURL)
	expect(t, page.GetByTestId("consent-scope-patient/Observation.rs").Uncheck())
	expect(t, page.GetByTestId("consent-scope-patient/Encounter.rs").Uncheck())
	expect(t, page.GetByTestId("consent-allow").Click())
	ui := page.Locator("body")
	waitApp(t, ui, "done")

	var tok tokenResponse
	jsonBody(t, net.one(t, "POST", s.URL+"/auth/oauth/token"), &tok)
	granted := strings.Fields(tok.Scope)
	for _, sc := range granted {
		if sc == "patient/Observation.rs" || sc == "patient/Encounter.rs" {
			t.Errorf("granted scope %q still has %s", tok.Scope, sc)
		}
	}
	if !strings.Contains(" "+tok.Scope+" ", " patient/Patient.rs ") {
		t.Errorf("granted scope %q lost patient/Patient.rs", tok.Scope)
	}
	expect(t, assert.Locator(ui.GetByTestId("granted-scope")).ToHaveText(tok.Scope))
	expect(t, assert.Locator(ui.GetByTestId("patient-name")).ToHaveText("Maya Patel"))
	expect(t, assert.Locator(ui.GetByTestId("observation-count")).ToHaveText("error 403"))
	expect(t, assert.Locator(ui.GetByTestId("probe-Encounter")).ToHaveText("403"))
	for _, prefix := range []string{res.ISS + "/Observation?", res.ISS + "/Encounter?"} {
		r := net.one(t, "GET", prefix)
		var oo struct {
			ResourceType string
			Issue        []struct{ Code string }
		}
		jsonBody(t, r, &oo)
		if r.Status() != 403 || oo.ResourceType != "OperationOutcome" {
			t.Errorf("%s: %d %s, want 403 OperationOutcome", prefix, r.Status(), oo.ResourceType)
		}
		if h, _ := r.HeaderValue("www-authenticate"); !strings.Contains(h, "insufficient_scope") {
			t.Errorf("%s: WWW-Authenticate %q lacks insufficient_scope", prefix, h)
		}
	}
}

// Deny on the consent page: the library's ready() fails with access_denied
// and no token is ever requested.
func TestFHIRClientConsentDenied(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-deny", Scope: ehrScope})
	res, _ := mint(t, s.URL, launcher.Request{LaunchType: "provider-ehr", Patient: "pat-maya-patel", Client: appClient(app), AppLaunchURL: app.LaunchURL})
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.LaunchURL)
	expect(t, page.GetByTestId("consent-deny").Click())
	waitApp(t, page.Locator("body"), "error")
	expect(t, assert.Locator(page.GetByTestId("app-error")).ToHaveText(regexp.MustCompile(`^access_denied`)))
	expect(t, assert.Page(page).ToHaveURL(regexp.MustCompile(`^`+regexp.QuoteMeta(app.Redirect)+`\?.*error=access_denied`)))
	if n := len(net.find("POST", s.URL+"/auth/oauth/token")); n != 0 {
		t.Errorf("%d token requests after a denial", n)
	}
}

// A short-lived access token: the library refreshes it by itself before
// each FHIR request (it renews tokens expiring within 10 s), and every
// request carries a fresh, working token. No waiting for expiry.
func TestFHIRClientRefreshesExpiringTokenItself(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-auto", Scope: ehrScope, RefreshWithClientID: true})
	res, _ := mint(t, s.URL, launcher.Request{
		LaunchType: "provider-ehr", Patient: "pat-ava-white", Encounter: launcher.EncounterNone,
		SkipLogin: true, SkipConsent: true, AccessTokenLifetime: 5,
		Client: appClient(app), AppLaunchURL: app.LaunchURL,
	})
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.LaunchURL)
	ui := page.Locator("body")
	waitApp(t, ui, "done")
	toks := net.find("POST", s.URL+"/auth/oauth/token")
	if len(toks) < 3 { // code exchange, then one refresh before each of the two reads
		t.Fatalf("%d token requests, want the code exchange and a refresh per FHIR read", len(toks))
	}
	seen := map[string]bool{}
	for i, r := range toks {
		body, _ := r.Request().PostData()
		if (i == 0) != strings.Contains(body, "grant_type=authorization_code") || r.Status() != 200 {
			t.Errorf("token request %d: %d %s", i, r.Status(), body)
		}
		var tr tokenResponse
		jsonBody(t, r, &tr)
		if seen[tr.AccessToken] || tr.Patient != "pat-ava-white" {
			t.Errorf("token response %d: reused token or lost patient (%q)", i, tr.Patient)
		}
		seen[tr.AccessToken] = true
	}
	for _, r := range append(net.find("GET", res.ISS+"/Patient/"), net.find("GET", res.ISS+"/Observation?")...) {
		auth, _ := r.Request().HeaderValue("authorization")
		if r.Status() != 200 || !seen[strings.TrimPrefix(auth, "Bearer ")] {
			t.Errorf("%s: %d with a token the server did not issue", r.URL(), r.Status())
		}
	}
}

// registerClient registers a client through /api/clients.
func registerClient(t *testing.T, base string, c map[string]any) {
	t.Helper()
	b, _ := json.Marshal(c)
	res, err := http.Post(base+"/api/clients", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("POST /api/clients %s: %d", b, res.StatusCode)
	}
}

// The simulated EHR's own chooser: a registered app (POST /api/clients
// with its launch URL) is picked with a patient on /ehr; the EHR mints the
// launch and runs the app in its iframe, consent page included.
func TestFHIRClientLaunchedFromSimulatedEHRChooser(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-registered", Scope: ehrScope})
	registerClient(t, s.URL, map[string]any{
		"client_id": app.ClientID, "client_name": "fhirclient test app", "client_type": "public",
		"redirect_uris": []string{app.Redirect}, "launch_url": app.LaunchURL,
	})
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, s.URL+"/ehr")
	expect(t, page.GetByTestId("ehr-patient-pat-henry-young").Check())
	_, err := page.GetByTestId("ehr-app").SelectOption(playwright.SelectOptionValues{Values: &[]string{app.ClientID}})
	expect(t, err)
	expect(t, page.GetByTestId("ehr-open-chart").Click())
	expect(t, assert.Locator(page.GetByTestId("ehr-app-name")).ToHaveText("fhirclient test app"))
	frame := page.FrameLocator(`[data-testid="app-frame"]`).Locator("body")
	// The app's authorize request brings the consent page into the EHR's
	// frame: it must be allowed to render there (same origin).
	expect(t, frame.GetByTestId("consent-allow").Click())
	waitApp(t, frame, "done")
	expect(t, assert.Locator(frame.GetByTestId("patient-name")).ToHaveText(text(t, page, "banner-name")))
	checkServed(t, net, frame, s, app, s.URL+"/fhir", "pat-henry-young")
	expect(t, assert.Locator(frame.GetByTestId("need-patient-banner")).ToHaveText("false"))
}

// With the library's defaults a public client's refresh request carries no
// client_id (SMART App Launch 2.2 §refresh: grant_type, refresh_token,
// scope); the refresh token identifies the client.
func TestFHIRClientRefreshWithLibraryDefaults(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-defaults", Scope: ehrScope})
	res, _ := mint(t, s.URL, launcher.Request{
		LaunchType: "provider-ehr", Patient: "pat-ava-white", SkipLogin: true, SkipConsent: true,
		Client: appClient(app), AppLaunchURL: app.LaunchURL,
	})
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.LaunchURL)
	waitApp(t, page.Locator("body"), "done")
	expect(t, page.GetByTestId("refresh").Click())
	expect(t, assert.Locator(page.GetByTestId("after-refresh")).ToHaveText("Patient/pat-ava-white"))
	toks := net.find("POST", s.URL+"/auth/oauth/token")
	if body, _ := toks[len(toks)-1].Request().PostData(); strings.Contains(body, "client_id=") {
		t.Errorf("the library sent client_id on refresh: %s", body)
	}
}
