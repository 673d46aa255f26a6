package e2e

// The newcomer UI pass (issue 15): each test walks one fix as a person
// would, finding controls by their role and name.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

func role(page playwright.Page, r, name string) playwright.Locator {
	return page.GetByRole(playwright.AriaRole(r), playwright.PageGetByRoleOptions{Name: name, Exact: playwright.Bool(true)})
}

// advancedSummary is the launcher's "Advanced" fold, as a person sees it.
func advancedSummary(page playwright.Page) playwright.Locator {
	return page.Locator("summary", playwright.PageLocatorOptions{HasText: regexp.MustCompile(`^\s*Advanced`)})
}

// Item 1: a backend service launch succeeds from its defaults — the demo
// backend client is filled in and the result has the ready commands.
func TestNewcomerBackendLaunchFromDefaults(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/")
	expect(t, role(page, "radio", "Backend service").Check())
	// Patient, user and app do not apply to a backend service: hidden.
	expect(t, assert.Locator(page.GetByRole("radiogroup", playwright.PageGetByRoleOptions{Name: "Patient"})).ToBeHidden())
	expect(t, assert.Locator(page.GetByLabel("Practitioner signed in")).ToBeHidden())
	expect(t, assert.Locator(page.GetByTestId("group-backend")).ToContainText("demo-backend"))
	expect(t, role(page, "button", "Create launch").Click())
	result := page.GetByTestId("launch-result")
	expect(t, assert.Locator(result).ToContainText("Launch ready"))
	expect(t, assert.Locator(result).ToContainText("backend-service"))
	expect(t, assert.Locator(page.GetByTestId("result-backend-curl")).ToContainText("'demo-backend'"))
	expect(t, assert.Locator(page.Locator(".field-error")).ToHaveCount(0))
	// Back to an EHR launch: the filled-in backend client is taken back.
	expect(t, role(page, "radio", "Provider EHR launch").Check())
	expect(t, advancedSummary(page).Click())
	expect(t, assert.Locator(page.GetByLabel("client_id")).ToHaveValue(""))
}

// Items 4 and 5: the first screen holds launch type, patient, user and the
// buttons; everything else folds under Advanced, whose state the address
// keeps. An option that cannot apply is disabled with its reason.
func TestNewcomerFirstScreenAndAdvancedFold(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/")
	sim := page.GetByLabel("Simulated error")
	expect(t, assert.Locator(sim).ToBeHidden())
	expect(t, assert.Locator(page.GetByLabel("Access token lifetime")).ToBeHidden())
	expect(t, assert.Locator(role(page, "button", "Create launch")).ToBeVisible())
	box, err := page.Locator("#launch-form").BoundingBox()
	if err != nil {
		t.Fatal(err)
	}
	if box.Height > 1700 {
		t.Errorf("the first screen's form is %.0f px high; the fold should keep it short", box.Height)
	}

	expect(t, advancedSummary(page).Click())
	expect(t, assert.Locator(sim).ToBeVisible())
	expect(t, assert.Page(page).ToHaveURL(regexp.MustCompile(`[?&]advanced=1`)))
	page.Reload()
	expect(t, assert.Locator(sim).ToBeVisible())
	expect(t, advancedSummary(page).Click())
	expect(t, assert.Locator(sim).ToBeHidden())
	expect(t, assert.Page(page).Not().ToHaveURL(regexp.MustCompile(`advanced=1`)))

	// Skip login in a patient standalone launch without a patient: the
	// login page must ask who the patient is, and the page says so.
	skip := page.GetByLabel("Skip login (the user is signed in already)")
	expect(t, role(page, "radio", "Patient standalone").Check())
	expect(t, page.GetByLabel("No patient chosen").Check())
	expect(t, assert.Locator(skip).ToBeDisabled())
	expect(t, assert.Locator(skip).Not().ToBeChecked())
	expect(t, assert.Locator(page.GetByTestId("skip-login-hint")).ToContainText("Choose one patient to skip login"))
	expect(t, page.Locator(`[data-testid="patient-list"] input[type=radio]:not([value=""])`).First().Check())
	expect(t, assert.Locator(skip).ToBeEnabled())
	expect(t, assert.Locator(page.GetByTestId("skip-login-hint")).ToContainText("chosen patient is signed in"))
}

// Item 6: the simulated-error select shows each error's label with its
// code, explains the chosen one, and offers a backend service only those
// that can happen without a browser.
func TestNewcomerSimulatedErrorLabels(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/?advanced=1")
	sim := page.GetByLabel("Simulated error")
	if _, err := sim.SelectOption(playwright.SelectOptionValues{Labels: &[]string{"FHIR rate limited (request_rate_limited)"}}); err != nil {
		t.Fatal(err)
	}
	expect(t, assert.Locator(sim).ToHaveValue("request_rate_limited"))
	expect(t, assert.Locator(page.GetByTestId("sim-error-explanation")).ToContainText("429"))
	expect(t, role(page, "radio", "Backend service").Check())
	expect(t, assert.Locator(sim.Locator("option", playwright.LocatorLocatorOptions{HasText: "User denies access (auth_access_denied)"})).ToBeDisabled())
	expect(t, assert.Locator(sim).ToHaveValue("request_rate_limited"))
}

// normalized is a locator's text with its white space collapsed.
func normalized(t *testing.T, l playwright.Locator) string {
	t.Helper()
	s, err := l.TextContent()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// openStandalone creates a launch of the given type on the launcher and
// opens the sample app from the result, as a person would: the new tab.
func openStandalone(t *testing.T, page playwright.Page, base, launchType string) playwright.Page {
	t.Helper()
	goto_(t, page, base+"/?launch_type="+launchType)
	expect(t, page.GetByLabel("No patient chosen").Check())
	expect(t, role(page, "button", "Create launch").Click())
	app, err := page.Context().ExpectPage(func() error { return role(page, "link", "Open the app (new tab)").Click() })
	if err != nil {
		t.Fatal(err)
	}
	return app
}

// Items 7, 8 and 14: the login page groups who may sign in, says whose
// relative a related person is, and finds them by the patient's name; the
// consent a mother reads names her child's records and no EHR; ages read
// the same on the launcher and the login page.
func TestNewcomerLoginGroupsConsentWordingAndAges(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/?launch_type=patient-standalone")
	leo := page.Locator("label", playwright.PageLocatorOptions{HasText: "Leo Martinez"}).Locator(".muted")
	launcherLine := normalized(t, leo)
	if !strings.Contains(launcherLine, " mo, Male") {
		t.Fatalf("launcher line for the infant: %q", launcherLine)
	}

	app := openStandalone(t, page, s.URL, "patient-standalone")
	expect(t, assert.Locator(role(app, "heading", "Sign in")).ToBeVisible())
	for _, group := range []string{"Patients", "Related people"} {
		expect(t, assert.Locator(app.GetByRole("heading", playwright.PageGetByRoleOptions{Name: regexp.MustCompile("^" + group)})).ToBeVisible())
	}
	expect(t, assert.Locator(app.GetByRole("heading", playwright.PageGetByRoleOptions{Name: regexp.MustCompile("^Clinicians")})).ToHaveCount(0))
	leoButton := app.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign in as Leo Martinez"})
	if got := normalized(t, leoButton.Locator(".hint")); got != launcherLine {
		t.Errorf("the infant's line differs:\n launcher %q\n login    %q", launcherLine, got)
	}
	expect(t, assert.Locator(app.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign in as Hannah Kim"})).ToContainText("mother of Grace Kim"))

	expect(t, app.GetByRole("searchbox", playwright.PageGetByRoleOptions{Name: "Search people"}).Fill("Grace Kim"))
	expect(t, role(app, "button", "Search users").Click())
	expect(t, assert.Locator(app.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign in as Grace Kim"})).ToBeVisible())
	expect(t, assert.Locator(app.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign in as Leo Martinez"})).ToHaveCount(0))
	expect(t, app.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign in as Hannah Kim"}).Click())

	expect(t, assert.Locator(app.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Allow sample-app to access Grace Kim's record on your behalf?"))
	consent := app.GetByTestId("consent-page")
	expect(t, assert.Locator(consent).ToContainText("Read and search all Grace Kim's health records"))
	expect(t, assert.Locator(consent).ToContainText("Know which patient you chose (Grace Kim)"))
	expect(t, assert.Locator(consent).Not().ToContainText("open in the EHR"))
	expect(t, assert.Locator(consent).Not().ToContainText("your health records"))
	expect(t, role(app, "button", "Allow access").Click())
	expectAppShowsPatient(t, app.Locator("body"), "Grace Kim")
}

// Item 10: an authorization error says what happened and what it means for
// the app, once, and leads back to the launcher.
func TestNewcomerAuthErrorPage(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/?launch_type=provider-ehr&patient=pat-amy-shaw&simulate_error=auth_invalid_client_id")
	expect(t, role(page, "button", "Create launch").Click())
	expect(t, role(page, "link", "Launch in simulated EHR").Click())
	frame := page.FrameLocator("iframe")
	expect(t, assert.Locator(frame.GetByRole("heading", playwright.FrameLocatorGetByRoleOptions{Level: playwright.Int(1)})).ToBeVisible())
	alert := frame.GetByRole("alert")
	expect(t, assert.Locator(alert).ToContainText("client_id"))
	expect(t, assert.Locator(alert.GetByRole("heading", playwright.LocatorGetByRoleOptions{Name: "What this means for the app"})).ToBeVisible())
	text := normalized(t, alert)
	if n := strings.Count(strings.ToLower(text), "no code") + strings.Count(strings.ToLower(text), "no authorization code"); n != 1 {
		t.Errorf("the page says %d times that no code was issued: %q", n, text)
	}
	inspect, err := frame.GetByRole("link", playwright.FrameLocatorGetByRoleOptions{Name: "Inspect this launch"}).GetAttribute("href")
	if err != nil || !strings.Contains(inspect, "/inspect?launch=") {
		t.Fatalf("inspector link %q (%v)", inspect, err)
	}
	expect(t, frame.GetByRole("link", playwright.FrameLocatorGetByRoleOptions{Name: "Back to the launcher"}).Click())
	expect(t, assert.Page(page).ToHaveTitle("Launcher · ehrsim"))
	// The inspector link opens this launch's timeline, with the refusal in it.
	goto_(t, page, inspect)
	expect(t, assert.Page(page).ToHaveURL(regexp.MustCompile(`/inspect/[^/?]+$`)))
	expect(t, assert.Locator(page.Locator("main")).ToContainText("auth_invalid_client_id"))
}

// Item 11: in the simulated EHR the consent page is compact (no site
// header or footer of its own), the app frame fills the window below the
// banner, and the browser warns about no sandbox.
func TestNewcomerSimulatedEHRFrame(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	var warnings []string
	page.OnConsole(func(m playwright.ConsoleMessage) {
		if strings.Contains(strings.ToLower(m.Text()), "sandbox") {
			warnings = append(warnings, m.Text())
		}
	})
	goto_(t, page, s.URL+"/")
	expect(t, role(page, "button", "Create launch").Click())
	expect(t, role(page, "link", "Launch in simulated EHR").Click())
	frame := page.FrameLocator(`iframe[title^="App:"]`)
	expect(t, assert.Locator(frame.GetByRole("button", playwright.FrameLocatorGetByRoleOptions{Name: "Allow access"})).ToBeVisible())
	expect(t, assert.Locator(frame.GetByRole("link", playwright.FrameLocatorGetByRoleOptions{Name: "ehrsim home"})).ToHaveCount(0))
	expect(t, assert.Locator(frame.GetByText("Test data only")).ToHaveCount(0))
	// The top page keeps its own header.
	expect(t, assert.Locator(page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "ehrsim home"})).ToBeVisible())

	box, err := page.Locator(`iframe[title^="App:"]`).BoundingBox()
	if err != nil {
		t.Fatal(err)
	}
	vp := page.ViewportSize()
	if bottom := box.Y + box.Height; bottom < float64(vp.Height)-2 || bottom > float64(vp.Height)+2 {
		t.Errorf("the app frame ends at %.0f px in a %d px window", bottom, vp.Height)
	}
	if scroll, _ := page.Evaluate(`document.scrollingElement.scrollHeight - innerHeight`); scroll.(int) > 0 {
		t.Errorf("the chart page scrolls by %v px", scroll)
	}
	expect(t, frame.GetByRole("button", playwright.FrameLocatorGetByRoleOptions{Name: "Allow access"}).Click())
	expect(t, assert.Locator(frame.GetByTestId("app-status")).ToHaveText("Done."))
	if len(warnings) > 0 {
		t.Errorf("sandbox warnings: %q", warnings)
	}
}

// Item 3: with 10,000 more patients the chooser says how many there are,
// pages through them and finds one by name; that one launches.
func TestNewcomerPatientListWithTenThousandPatients(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var b strings.Builder
	const n = 10000
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, `{"resourceType":"Patient","id":"load-%05d","name":[{"family":"Loadtest","given":["Person%05d"]}],"gender":"female","birthDate":"1980-01-01"}`+"\n", i, i)
	}
	if err := os.WriteFile(filepath.Join(dir, "patients.ndjson"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, "--fixtures", dir)
	page := newPage(t)
	goto_(t, page, s.URL+"/?launch_type=provider-ehr")
	count := page.GetByTestId("patient-count")
	expect(t, assert.Locator(count).ToHaveText(regexp.MustCompile(`^10,0\d\d patients; showing 1–25$`)))
	total := strings.Fields(normalized(t, count))[0]
	expect(t, assert.Locator(page.GetByText("Page 1 of ")).ToBeVisible())
	expect(t, role(page, "button", "Next page").Click())
	expect(t, assert.Locator(count).ToHaveText(total+" patients; showing 26–50"))
	expect(t, assert.Locator(role(page, "button", "Previous page")).ToBeEnabled())

	search := page.GetByRole("searchbox", playwright.PageGetByRoleOptions{Name: "Search patients"})
	expect(t, search.Fill("Person09999"))
	expect(t, search.Press("Enter"))
	expect(t, assert.Locator(count).ToHaveText("1 patient match “Person09999”"))
	expect(t, page.GetByLabel("Person09999 Loadtest").Check())
	expect(t, role(page, "button", "Create launch").Click())
	expect(t, assert.Locator(page.GetByTestId("launch-result")).ToContainText("Launch ready"))
	app, err := page.Context().ExpectPage(func() error { return role(page, "link", "Launch (new tab)").Click() })
	if err != nil {
		t.Fatal(err)
	}
	expect(t, role(app, "button", "Allow access").Click())
	expect(t, assert.Locator(app.GetByTestId("patient-name")).ToHaveText("Person09999 Loadtest"))
}

// Items 2, 12 and 13: the launcher chooses the scopes the sample app asks
// for, so a standalone launch with launch/encounter shows the patient's
// current stay; the app names the signed-in user, reveals and copies a
// token, and shows clinical text without terminology tags.
func TestNewcomerSampleAppScopesEncounterAndTokens(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/")
	expect(t, role(page, "radio", "Provider standalone").Check())
	search := page.GetByRole("searchbox", playwright.PageGetByRoleOptions{Name: "Search patients"})
	expect(t, search.Fill("Harold"))
	expect(t, search.Press("Enter"))
	expect(t, page.GetByLabel("Harold Wilson").Check())
	expect(t, page.GetByLabel("Skip login (the user is signed in already)").Check())
	if _, err := page.GetByLabel("Scopes the sample app asks for").SelectOption(playwright.SelectOptionValues{Labels: &[]string{"Default plus launch/encounter"}}); err != nil {
		t.Fatal(err)
	}
	// Terminology tags stay out of the encounter chooser.
	expect(t, assert.Locator(page.GetByLabel("Encounter", playwright.PageGetByLabelOptions{Exact: playwright.Bool(true)})).Not().ToContainText("(procedure)"))
	expect(t, role(page, "button", "Create launch").Click())
	app, err := page.Context().ExpectPage(func() error { return role(page, "link", "Open the app (new tab)").Click() })
	if err != nil {
		t.Fatal(err)
	}
	expect(t, app.Context().GrantPermissions([]string{"clipboard-read", "clipboard-write"}))
	expect(t, role(app, "button", "Allow access").Click())
	expect(t, assert.Locator(app.GetByTestId("app-status")).ToHaveText("Done."))
	expect(t, assert.Locator(app.GetByTestId("patient-name")).ToHaveText("Harold Wilson"))
	expect(t, assert.Locator(app.GetByTestId("encounter")).ToContainText("in-progress"))
	expect(t, assert.Locator(app.GetByTestId("scope-requested")).ToContainText("launch/encounter"))
	expect(t, assert.Locator(app.GetByTestId("scope-granted")).ToContainText("launch/encounter"))
	expect(t, assert.Locator(app.GetByTestId("signed-in-user")).ToHaveText(regexp.MustCompile(`^Signed in as \S.* \(Practitioner/[^)]+\)$`)))

	vitals := normalized(t, app.GetByTestId("vitals"))
	if !strings.Contains(vitals, "Blood pressure") || strings.Contains(vitals, "panel with all children optional") || strings.Contains(vitals, "(finding)") {
		t.Errorf("vital signs read %q", vitals)
	}

	token := app.GetByTestId("token-access_token")
	expect(t, assert.Locator(token).ToContainText("characters"))
	expect(t, role(app, "button", "Show access_token").Click())
	expect(t, assert.Locator(token).Not().ToContainText("characters"))
	revealed := normalized(t, token)
	if len(revealed) < 20 {
		t.Fatalf("revealed token %q", revealed)
	}
	expect(t, role(app, "button", "Copy access_token").Click())
	copied, err := app.Evaluate(`navigator.clipboard.readText()`)
	if err != nil || copied != revealed {
		t.Errorf("clipboard holds %q (%v), the page shows %q", copied, err, revealed)
	}
	expect(t, role(app, "button", "Hide access_token").Click())
	expect(t, assert.Locator(token).ToContainText("characters"))

	// Without launch/encounter, the app says why it has no encounter.
	goto_(t, page, s.URL+"/?launch_type=provider-standalone&patient=pat-harold-wilson&skip_login=1&skip_consent=1")
	expect(t, role(page, "button", "Create launch").Click())
	app2, err := page.Context().ExpectPage(func() error { return role(page, "link", "Open the app (new tab)").Click() })
	if err != nil {
		t.Fatal(err)
	}
	expect(t, assert.Locator(app2.GetByTestId("encounter")).ToContainText("asks for launch/encounter"))
}

// Item 12 in the simulated EHR: the banner's allergies read as a clinician
// writes them.
func TestNewcomerSimulatedEHRClinicalText(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/?launch_type=provider-ehr&patient=pat-grace-kim&skip_login=1&skip_consent=1")
	expect(t, role(page, "button", "Create launch").Click())
	expect(t, role(page, "link", "Launch in simulated EHR").Click())
	banner := page.GetByRole("region", playwright.PageGetByRoleOptions{Name: "Patient"})
	expect(t, assert.Locator(banner).ToContainText("Grace Kim"))
	text := normalized(t, banner)
	if !strings.Contains(text, "Allergies:") || strings.Contains(text, "(finding)") || strings.Contains(text, "(disorder)") || strings.Contains(text, "(procedure)") {
		t.Errorf("banner reads %q", text)
	}
}

// Item 9: the access-management page is linked from the launcher and the
// sample app; its sign-in list is grouped and searchable; it shows one row
// per app by name with whose records, and asks before revoking.
func TestNewcomerManageAppAccess(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	// Two launches of the sample app for Amy Shaw, signed in as herself.
	for i := 0; i < 2; i++ {
		goto_(t, page, s.URL+"/?launch_type=patient-standalone&patient=pat-amy-shaw&skip_login=1")
		expect(t, role(page, "button", "Create launch").Click())
		app, err := page.Context().ExpectPage(func() error { return role(page, "link", "Open the app (new tab)").Click() })
		if err != nil {
			t.Fatal(err)
		}
		expect(t, role(app, "button", "Allow access").Click())
		expect(t, assert.Locator(app.GetByTestId("app-status")).ToHaveText("Done."))
		if i == 1 {
			// The sample app links the server's management endpoint.
			expect(t, assert.Locator(role(app, "link", "Manage this app's access")).ToHaveAttribute("href", s.URL+"/auth/manage"))
		}
		app.Close()
	}
	// From the launcher's navigation, in a browser not signed in yet.
	page2 := newPage(t)
	goto_(t, page2, s.URL+"/")
	expect(t, role(page2, "link", "App access").Click())
	expect(t, assert.Locator(role(page2, "heading", "Manage app access")).ToBeVisible())
	expect(t, assert.Locator(page2.GetByRole("heading", playwright.PageGetByRoleOptions{Name: regexp.MustCompile("^Related people")})).ToBeVisible())
	search := page2.GetByRole("searchbox", playwright.PageGetByRoleOptions{Name: "Search people"})
	expect(t, search.Fill("Shaw"))
	expect(t, search.Press("Enter"))
	expect(t, assert.Locator(page2.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign in as Grace Kim"})).ToHaveCount(0))
	expect(t, page2.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Sign in as Amy V. Shaw"}).Click())

	rows := page2.GetByRole("table").Locator("tbody tr")
	expect(t, assert.Locator(rows).ToHaveCount(1))
	expect(t, assert.Locator(rows).ToContainText("ehrsim sample app"))
	expect(t, assert.Locator(rows).ToContainText("2 authorizations"))
	expect(t, assert.Locator(rows).ToContainText("Amy V. Shaw"))
	expect(t, assert.Locator(rows).Not().ToContainText("pat-amy-shaw"))
	// Last authorized, then until: two times.
	if n := strings.Count(normalized(t, rows), " UTC"); n != 2 {
		t.Errorf("the row shows %d times: %q", n, normalized(t, rows))
	}

	// Revoke asks first: dismissing keeps the access.
	revoke := page2.GetByRole("button", playwright.PageGetByRoleOptions{Name: "Revoke access of ehrsim sample app"})
	var asked []string
	page2.Once("dialog", func(d playwright.Dialog) { asked = append(asked, d.Message()); d.Dismiss() })
	expect(t, revoke.Click())
	expect(t, assert.Locator(rows).ToHaveCount(1))
	if len(asked) != 1 || !strings.Contains(asked[0], "Revoke ehrsim sample app's access") {
		t.Fatalf("confirmation asked %q", asked)
	}
	page2.Once("dialog", func(d playwright.Dialog) { d.Accept() })
	expect(t, revoke.Click())
	expect(t, assert.Locator(page2.GetByRole("status")).ToContainText("Access revoked"))
	expect(t, assert.Locator(page2.GetByText("No app has access to your data.")).ToBeVisible())
}

// Item 15: the Docs page explains the launch types, lists the demo
// clients and the simulated errors, and links the OpenAPI document and
// the testing guide.
func TestNewcomerDocsPage(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/")
	expect(t, role(page, "link", "Docs").Click())
	contents := page.GetByRole("navigation", playwright.PageGetByRoleOptions{Name: "On this page"})
	expect(t, contents.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Simulated errors"}).Click())
	errs := page.GetByRole("table").Filter(playwright.LocatorFilterOptions{HasText: "request_rate_limited"})
	expect(t, assert.Locator(errs).ToContainText("FHIR rate limited"))
	expect(t, assert.Locator(errs.Locator("tbody tr")).ToHaveCount(18))
	clientsTable := page.GetByTestId("docs-demo-clients")
	for _, id := range []string{"sample-app", "demo-public", "demo-confidential", "demo-asymmetric", "demo-backend"} {
		expect(t, assert.Locator(clientsTable).ToContainText(id))
	}
	expect(t, assert.Locator(page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "docs/testing-with-ehrsim.md"})).ToHaveAttribute("href", regexp.MustCompile(`/docs/testing-with-ehrsim\.md$`)))
	types := page.GetByTestId("docs-launch-types")
	expect(t, assert.Locator(types).ToContainText("client_credentials"))
	expect(t, types.GetByRole("link", playwright.LocatorGetByRoleOptions{Name: "Open the launcher for a Backend service"}).Click())
	expect(t, assert.Locator(role(page, "radio", "Backend service")).ToBeChecked())

	goto_(t, page, s.URL+"/docs")
	resp, err := page.ExpectResponse(regexp.MustCompile(`/api/openapi\.json$`), func() error {
		return page.GetByRole("link", playwright.PageGetByRoleOptions{Name: "OpenAPI document", Exact: playwright.Bool(true)}).Click()
	})
	if err != nil || resp.Status() != 200 {
		t.Fatalf("OpenAPI link: %v %v", resp, err)
	}
}
