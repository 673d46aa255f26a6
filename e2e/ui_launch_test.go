package e2e

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// requireWired skips the test when a route the full launch flow needs is
// not mounted yet (404), or the pages' dependencies are not wired (503).
func requireWired(t *testing.T, s *server) {
	t.Helper()
	for _, path := range []string{
		"/fhir/.well-known/smart-configuration",
		"/auth/.well-known/openid-configuration",
		"/sample-app/launch.html",
		"/api/clients",
		"/ehr",
	} {
		res, err := http.Get(s.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusServiceUnavailable {
			t.Skipf("GET %s answers %d: the launch flow is not wired yet", path, res.StatusCode)
		}
	}
}

// firstPatient chooses the first patient in the launcher's chooser and
// returns its id and name.
func firstPatient(t *testing.T, page playwright.Page) (id, name string) {
	t.Helper()
	radio := page.Locator(`[data-testid="patient-list"] input[type=radio]:not([value=""])`).First()
	id, err := radio.GetAttribute("value")
	if err != nil || id == "" {
		t.Fatalf("no patient in the chooser: %v", err)
	}
	name, err = page.Locator(`label:has(input[value="` + id + `"]) .person-name`).First().TextContent()
	if err != nil {
		t.Fatal(err)
	}
	expect(t, radio.Check())
	return id, strings.TrimSpace(name)
}

// expectAppShowsPatient waits for the sample app (app: its body, in a page
// or a frame) to show the patient and at least one vital sign, no error.
func expectAppShowsPatient(t *testing.T, app playwright.Locator, name string) {
	t.Helper()
	expect(t, assert.Locator(app.GetByTestId("patient-name")).ToHaveText(name))
	expect(t, assert.Locator(app.GetByTestId("app-status")).ToHaveText("Done."))
	expect(t, assert.Locator(app.GetByTestId("app-error")).ToBeHidden())
	expect(t, assert.Locator(app.Locator(`[data-testid="vitals"] tbody tr td:nth-child(3)`).First()).ToHaveText(regexp.MustCompile(`\d`)))
}

// The newcomer's path: configure a provider EHR launch on the launcher,
// launch it in the simulated EHR, see the sample app in the iframe read
// the chosen patient's name and vitals.
func TestUIProviderEHRLaunchInSimulatedEHR(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	requireWired(t, s)
	providerEHRLaunchInSimulatedEHR(t, s.URL)
}

func providerEHRLaunchInSimulatedEHR(t *testing.T, base string) {
	page := newPage(t)
	goto_(t, page, base+"/")
	_, name := firstPatient(t, page)
	// The clinician is signed in to the EHR already.
	expect(t, page.GetByTestId("skip-login").Check())
	expect(t, page.GetByTestId("skip-consent").Check())
	expect(t, page.GetByTestId("mint").Click())
	expect(t, assert.Locator(page.GetByTestId("launch-result")).ToBeVisible())
	expect(t, assert.Locator(page.GetByTestId("result-launch-url")).ToContainText("iss="))

	expect(t, page.GetByTestId("launch-sim-ehr").Click())
	expect(t, assert.Page(page).ToHaveURL(regexp.MustCompile(`/ehr\?launch=`)))
	expect(t, assert.Locator(page.GetByTestId("banner-name")).ToHaveText(name))

	app := page.FrameLocator(`[data-testid="app-frame"]`).Locator("body")
	expectAppShowsPatient(t, app, name)
	// The EHR draws the banner, so the app was told it need not.
	expect(t, assert.Locator(app.GetByTestId("need-patient-banner")).ToHaveText("false"))
}

// signIn completes the authorization server's pages in page: login (as the
// first user of the given kind), the patient picker when it appears, and
// consent. It returns the patient name the app must show.
func signIn(t *testing.T, page playwright.Page, userKind string) string {
	t.Helper()
	expect(t, assert.Locator(page.GetByTestId("login-page")).ToBeVisible())
	user := page.Locator(`[data-testid^="login-user-` + userKind + `/"]`).First()
	userName, err := user.Locator("strong").TextContent()
	if err != nil {
		t.Fatal(err)
	}
	expect(t, user.Click())

	picker, consent := page.GetByTestId("patient-picker"), page.GetByTestId("consent-page")
	expect(t, assert.Locator(picker.Or(consent)).ToBeVisible())
	patientName := strings.TrimSpace(userName)
	if ok, _ := picker.IsVisible(); ok {
		choice := page.Locator(`[data-testid="patient-list"] button`).First()
		n, err := choice.Locator("strong").TextContent()
		if err != nil {
			t.Fatal(err)
		}
		patientName = strings.TrimSpace(n)
		expect(t, choice.Click())
	}
	expect(t, assert.Locator(consent).ToBeVisible())
	expect(t, page.GetByTestId("consent-allow").Click())
	return patientName
}

// Standalone launches: the launcher gives a /sim/…/fhir base; the sample
// app goes through login, the patient picker (provider) and consent.
func TestUIStandaloneLaunchThroughLoginPickerConsent(t *testing.T) {
	t.Parallel()
	standaloneLaunches(t, func(t *testing.T) string {
		s := startServer(t)
		requireWired(t, s)
		return s.URL
	})
}

func standaloneLaunches(t *testing.T, start func(t *testing.T) string) {
	for _, c := range []struct{ launchType, userKind string }{
		{"patient-standalone", "Patient"},
		{"provider-standalone", "Practitioner"},
	} {
		t.Run(c.launchType, func(t *testing.T) {
			t.Parallel()
			base := start(t)
			page := newPage(t)
			// The launch is configured by its bookmarkable URL.
			goto_(t, page, base+"/?launch_type="+c.launchType)
			expect(t, page.GetByTestId("mint").Click())
			expect(t, assert.Locator(page.GetByTestId("result-fhir-base")).ToContainText("/sim/"))
			href, err := page.GetByTestId("launch-app").GetAttribute("href")
			if err != nil {
				t.Fatal(err)
			}
			goto_(t, page, href)
			name := signIn(t, page, c.userKind)
			expect(t, assert.Page(page).ToHaveURL(base+"/sample-app/index.html"))
			expectAppShowsPatient(t, page.Locator("body"), name)
		})
	}
}

// firstPatientID reads the first patient id offered by the launcher page.
func firstPatientID(t *testing.T, base string) string {
	t.Helper()
	res, err := http.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	m := regexp.MustCompile(`name="patient" value="([^"]+)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("the launcher page offers no patient")
	}
	return string(m[1])
}

// mintAPI mints a launch through the JSON API and returns its launch_url.
func mintAPI(t *testing.T, base string, body map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(base+"/api/launches", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		LaunchURL string `json:"launch_url"`
	}
	if res.StatusCode != http.StatusCreated || json.NewDecoder(res.Body).Decode(&out) != nil || out.LaunchURL == "" {
		t.Fatalf("POST /api/launches %s: %d", b, res.StatusCode)
	}
	return out.LaunchURL
}

// Each simulated error shows the expected failure: in the sample app's
// error panel, or (for errors that must not redirect) on the authorization
// server's error page.
func TestUISimulatedErrorsVisibleInSampleApp(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	requireWired(t, s)
	simulatedErrors(t, s.URL)
}

func simulatedErrors(t *testing.T, base string) {
	patient := firstPatientID(t, base)
	type want struct {
		authPage bool     // the browser stays on the authorization server's error page
		appError []string // substrings of the app's error panel
		refresh  bool     // the error shows when the app refreshes its token
	}
	cases := map[string]want{
		"auth_invalid_client_id":           {authPage: true},
		"auth_invalid_redirect_uri":        {authPage: true},
		"auth_invalid_scope":               {appError: []string{"Authorization failed: invalid_scope"}},
		"auth_access_denied":               {appError: []string{"Authorization failed: access_denied"}},
		"auth_temporarily_unavailable":     {appError: []string{"Authorization failed: temporarily_unavailable"}},
		"auth_invalid_client_secret":       {appError: []string{"Token request failed: 401 invalid_client"}},
		"token_invalid_token":              {appError: []string{"Token request failed: 400 invalid_grant"}},
		"token_invalid_scope":              {appError: []string{"Token request failed: 400 invalid_scope"}},
		"token_invalid_jti":                {appError: []string{"invalid_client"}},
		"token_expired_registration_token": {appError: []string{"Token request failed: 401 invalid_client"}},
		"token_server_error":               {appError: []string{"Token request failed: 500 server_error"}},
		"token_expired_refresh_token":      {appError: []string{"Token request failed: 400 invalid_grant"}, refresh: true},
		"request_invalid_token":            {appError: []string{"FHIR 401 on GET Patient/", "invalid_token"}},
		"request_expired_token":            {appError: []string{"FHIR 401 on GET Patient/"}},
		"request_insufficient_scope":       {appError: []string{"FHIR 403 on GET Patient/", "insufficient_scope"}},
		"request_server_error":             {appError: []string{"FHIR 500 on GET Patient/"}},
		"request_rate_limited":             {appError: []string{"FHIR 429 on GET Patient/"}},
		"request_slow":                     {},
	}
	for name, w := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			page := newPage(t)
			launchURL := mintAPI(t, base, map[string]any{
				"launch_type": "provider-ehr", "patient": patient, "skip_login": true, "skip_consent": true, "simulate_error": name,
			})
			goto_(t, page, launchURL)
			errPanel := page.GetByTestId("app-error")
			switch {
			case w.authPage:
				expect(t, assert.Locator(page.GetByTestId("auth-error")).ToBeVisible())
				expect(t, assert.Page(page).ToHaveURL(regexp.MustCompile(`/auth/`)))
			case w.refresh:
				expect(t, assert.Locator(page.GetByTestId("app-status")).ToHaveText("Done."))
				expect(t, assert.Locator(errPanel).ToBeHidden())
				expect(t, page.GetByTestId("refresh-token").Click())
				for _, s := range w.appError {
					expect(t, assert.Locator(errPanel).ToContainText(s))
				}
			case len(w.appError) > 0:
				for _, s := range w.appError {
					expect(t, assert.Locator(errPanel).ToContainText(s))
				}
			default: // request_slow: slower, not broken
				expect(t, assert.Locator(page.GetByTestId("app-status")).ToHaveText("Done."))
				expect(t, assert.Locator(errPanel).ToBeHidden())
				expect(t, assert.Locator(page.GetByTestId("patient-name")).Not().ToHaveText("–"))
			}
		})
	}
}
