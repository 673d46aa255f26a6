package e2e

import (
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// The README's promise: open the launcher on its defaults, Create launch,
// Launch — the sample app runs a full EHR launch for the preselected
// patient (consent is the only page in between) and shows their vitals.
func TestNewcomerDefaultLaunch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/")
	// Nothing is clicked before Create launch: the defaults alone must work.
	if n, _ := page.Locator(`[data-testid="patient-list"] input[type=radio]:checked:not([value=""])`).Count(); n != 1 {
		t.Fatalf("first visit preselects %d patients, want 1", n)
	}
	runDefaultLaunch(t, page)
}

// runDefaultLaunch creates a launch on the launcher page that is open in
// page, touching nothing first, launches it, allows consent in the app's
// window and checks the app shows the preselected patient's vitals.
func runDefaultLaunch(t *testing.T, page playwright.Page) {
	t.Helper()
	name, err := page.Locator(`label:has(input[name="patient"]:checked) .person-name`).First().TextContent()
	if err != nil || strings.TrimSpace(name) == "" {
		t.Fatalf("preselected patient has no name (%q, %v)", name, err)
	}
	expect(t, page.GetByTestId("mint").Click())
	expect(t, assert.Locator(page.GetByTestId("launch-result")).ToBeVisible())
	app, err := page.Context().ExpectPage(func() error { return page.GetByTestId("launch-app").Click() })
	if err != nil {
		t.Fatal(err)
	}
	expect(t, app.GetByTestId("consent-allow").Click())
	expectAppShowsPatient(t, app.Locator("body"), strings.TrimSpace(name))
}
