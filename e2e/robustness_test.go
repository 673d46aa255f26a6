package e2e

import (
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/ehrsim/ehrsim/launcher"
)

// Robustness of the authorization pages under what browsers and users do:
// back button, double submit, a lost login session, parallel tabs. The app
// is the fhirclient test app in every case.

// standaloneToConsent opens a patient standalone launch and signs in as the
// patient; it returns with the consent page shown.
func standaloneToConsent(t *testing.T, page playwright.Page, launchURL, patient string) {
	t.Helper()
	goto_(t, page, launchURL)
	expect(t, page.GetByTestId("login-user-Patient/"+patient).Click())
	expect(t, assert.Locator(page.GetByTestId("consent-page")).ToBeVisible())
}

// Back from the consent page lands on the login step, which sends the
// browser forward to consent again (the request remembers who signed in);
// Allow then works. Back from the finished app to the consent page shows a
// readable "request finished" page and issues no second code.
func TestRobustBackButtonDuringConsent(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-back", Scope: standaloneScope})
	res, _ := mint(t, s.URL, launcher.Request{LaunchType: "patient-standalone", Client: appClient(app), AppLaunchURL: app.LaunchURL})
	page := newPage(t)
	net := watchNetwork(page)
	standaloneToConsent(t, page, res.LaunchURL, "pat-chloe-walker")

	_, err := page.GoBack()
	expect(t, err)
	expect(t, assert.Locator(page.GetByTestId("consent-page")).ToBeVisible())
	expect(t, assert.Locator(page.GetByTestId("consent-user")).ToContainText("Chloe"))
	expect(t, page.GetByTestId("consent-allow").Click())
	waitApp(t, page.Locator("body"), "done")
	checkServed(t, net, page.Locator("body"), s, app, res.ISS, "pat-chloe-walker")

	_, err = page.GoBack()
	expect(t, err)
	expect(t, assert.Locator(page.GetByTestId("auth-error")).ToBeVisible())
	expect(t, assert.Locator(page.GetByTestId("auth-error-title")).ToHaveText("Sign-in request expired"))
	if n := len(net.find("POST", s.URL+"/auth/oauth/token")); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// Allow double-clicked: the user ends in the working app with one
// authorization, not on an error page. (Chromium itself sends one POST for
// a double click on a submit button; see the test below for two POSTs.)
func TestRobustConsentDoubleClick(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-double", Scope: standaloneScope})
	res, _ := mint(t, s.URL, launcher.Request{LaunchType: "patient-standalone", Client: appClient(app), AppLaunchURL: app.LaunchURL})
	page := newPage(t)
	net := watchNetwork(page)
	standaloneToConsent(t, page, res.LaunchURL, "pat-benjamin-clark")
	expect(t, page.GetByTestId("consent-allow").Dblclick())
	waitApp(t, page.Locator("body"), "done")
	checkServed(t, net, page.Locator("body"), s, app, res.ISS, "pat-benjamin-clark")
	if n := len(net.find("POST", s.URL+"/auth/oauth/token")); n != 1 {
		t.Errorf("%d token requests, want 1", n)
	}
}

// The login session is lost mid-flow (cookies cleared, as when the session
// cookie expires): submitting consent shows a readable error and no code;
// launching again asks the user to sign in again, then works. While the
// session lives, a second launch does not ask for the login again.
func TestRobustExpiredLoginSession(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-session", Scope: standaloneScope})
	res, _ := mint(t, s.URL, launcher.Request{LaunchType: "patient-standalone", Client: appClient(app), AppLaunchURL: app.LaunchURL})
	page := newPage(t)
	net := watchNetwork(page)
	standaloneToConsent(t, page, res.LaunchURL, "pat-harold-wilson")
	expect(t, page.Context().ClearCookies())
	expect(t, page.GetByTestId("consent-allow").Click())
	expect(t, assert.Locator(page.GetByTestId("auth-error")).ToBeVisible())
	expect(t, assert.Page(page).ToHaveURL(regexp.MustCompile(`/auth/consent`)))
	if n := len(net.find("GET", app.Redirect)); n != 0 {
		t.Fatalf("the app's redirect URI was reached %d times without a session", n)
	}

	// Start again from the app: the login page is back.
	standaloneToConsent(t, page, res.LaunchURL, "pat-harold-wilson")
	expect(t, page.GetByTestId("consent-allow").Click())
	waitApp(t, page.Locator("body"), "done")
	checkServed(t, net, page.Locator("body"), s, app, res.ISS, "pat-harold-wilson")

	// The session is alive: a new launch goes straight to consent.
	goto_(t, page, res.LaunchURL)
	expect(t, assert.Locator(page.GetByTestId("consent-page")).ToBeVisible())
	expect(t, assert.Locator(page.GetByTestId("consent-user")).ToContainText("Harold"))
	// Cleared again: the login page is asked for.
	expect(t, page.Context().ClearCookies())
	goto_(t, page, res.LaunchURL)
	expect(t, assert.Locator(page.GetByTestId("login-page")).ToBeVisible())
}

// Two EHR launches for two patients in two tabs of one browser (one login
// session), both waiting on consent at once, approved in the reverse order:
// each tab's app gets and reads only its own patient. The second tab opens
// once the first has its consent page: a browser with no session cookie
// yet that starts two authorizations at the same instant gets two
// sessions, the later cookie wins, and the other tab's request belongs to
// a session the browser no longer has ("Wrong browser").
func TestRobustTwoTabsTwoPatients(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-tabs", Scope: ehrScope})
	patients := []string{"pat-eleanor-davis", "pat-daniel-rivera"}
	page := newPage(t)
	net := watchNetwork(page) // context-wide: both tabs
	second, err := page.Context().NewPage()
	expect(t, err)
	pages := []playwright.Page{page, second}
	for i, p := range pages {
		res, _ := mint(t, s.URL, launcher.Request{LaunchType: "provider-ehr", Patient: patients[i], Client: appClient(app), AppLaunchURL: app.LaunchURL})
		p.Goto(res.LaunchURL)
		expect(t, assert.Locator(p.GetByTestId("consent-page")).ToBeVisible())
	}
	expect(t, assert.Locator(second.GetByTestId("consent-patient")).ToContainText("Rivera"))
	expect(t, assert.Locator(page.GetByTestId("consent-patient")).ToContainText("Davis"))
	expect(t, second.GetByTestId("consent-allow").Click())
	expect(t, page.GetByTestId("consent-allow").Click())
	for i, p := range pages {
		ui := p.Locator("body")
		waitApp(t, ui, "done")
		expect(t, assert.Locator(ui.GetByTestId("patient-id")).ToHaveText(patients[i]))
		expect(t, assert.Locator(ui.GetByTestId("observation-subjects")).ToHaveText("Patient/"+patients[i]))
	}
	// The server answered each tab for its own patient only.
	got := map[string]bool{}
	for _, r := range net.find("POST", s.URL+"/auth/oauth/token") {
		var tok tokenResponse
		jsonBody(t, r, &tok)
		got[tok.Patient] = true
	}
	if len(got) != 2 || !got[patients[0]] || !got[patients[1]] {
		t.Errorf("token responses for patients %v, want one each for %v", got, patients)
	}
	for _, pid := range patients {
		if r := net.one(t, "GET", s.URL+"/fhir/Patient/"+pid); r.Status() != 200 {
			t.Errorf("GET Patient/%s = %d", pid, r.Status())
		}
	}
}

// The consent form really submitted twice (two POSTs reach the server, as
// with a slow network and an impatient user): the first one completes the
// authorization; the second shows a readable "request finished" page, not
// a second code and not a server error. Launching again works.
func TestRobustConsentDoubleSubmit(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-double", Scope: standaloneScope})
	res, _ := mint(t, s.URL, launcher.Request{LaunchType: "patient-standalone", Client: appClient(app), AppLaunchURL: app.LaunchURL})
	page := newPage(t)
	net := watchNetwork(page)
	standaloneToConsent(t, page, res.LaunchURL, "pat-benjamin-clark")
	// First submission: the same form fields, posted by the page with its
	// cookies; its redirect (carrying the code) is never followed.
	kind, err := page.Evaluate(`async () => {
		const f = document.querySelector('[data-testid="consent-page"] form');
		const body = new URLSearchParams(new FormData(f));
		body.set("decision", "allow");
		const r = await fetch(f.action, { method: "POST", body, redirect: "manual", credentials: "same-origin" });
		return r.type;
	}`)
	expect(t, err)
	if kind != "opaqueredirect" {
		t.Fatalf("first consent POST answered %v, want a redirect", kind)
	}
	// Second submission, the one the browser shows.
	expect(t, page.GetByTestId("consent-allow").Click())
	expect(t, assert.Locator(page.GetByTestId("auth-error-title")).ToHaveText("Sign-in request expired"))
	expect(t, assert.Locator(page.GetByTestId("auth-error-status")).ToHaveText("400"))
	if n := len(net.find("GET", app.Redirect)); n != 0 {
		t.Errorf("the app received %d redirects, want none from the second submission", n)
	}
	// The user starts again from the app and gets in (session kept: no login).
	goto_(t, page, res.LaunchURL)
	expect(t, page.GetByTestId("consent-allow").Click())
	waitApp(t, page.Locator("body"), "done")
	checkServed(t, net, page.Locator("body"), s, app, res.ISS, "pat-benjamin-clark")
}
