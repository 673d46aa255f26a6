package e2e

import (
	"strings"
	"testing"
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
	name, err := page.Locator(`label:has(input[name="patient"]:checked) .person-name`).First().TextContent()
	if err != nil || strings.TrimSpace(name) == "" {
		t.Fatalf("preselected patient has no name (%q, %v)", name, err)
	}
	name = strings.TrimSpace(name)
	expect(t, page.GetByTestId("mint").Click())
	expect(t, assert.Locator(page.GetByTestId("launch-result")).ToBeVisible())
	app, err := page.Context().ExpectPage(func() error { return page.GetByTestId("launch-app").Click() })
	if err != nil {
		t.Fatal(err)
	}
	expect(t, app.GetByTestId("consent-allow").Click())
	expectAppShowsPatient(t, app.Locator("body"), name)
}
