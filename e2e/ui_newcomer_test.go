package e2e

// The newcomer UI pass (issue 15): each test walks one fix as a person
// would, finding controls by their role and name.

import (
	"regexp"
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
