package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// TestREADMEScreenshots takes the README's screenshots of the launcher, the
// consent page, the simulated EHR and the sample app, walking the default
// EHR launch, when EHRSIM_SCREENSHOTS names a directory (docs/img for the
// README: EHRSIM_SCREENSHOTS=$PWD/docs/img go test -run TestREADMEScreenshots ./e2e/).
// Without it the test only walks the flow.
func TestREADMEScreenshots(t *testing.T) {
	t.Parallel()
	dir := os.Getenv("EHRSIM_SCREENSHOTS")
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shot := func(p playwright.Page, name string) {
		t.Helper()
		if dir == "" {
			return
		}
		if _, err := p.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(dir, name)), Scale: playwright.ScreenshotScaleCss}); err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
	}
	s := startServer(t)
	page := newPage(t)
	expect(t, page.SetViewportSize(1100, 720))
	goto_(t, page, s.URL+"/")
	expect(t, assert.Locator(role(page, "button", "Create launch")).ToBeVisible())
	shot(page, "launcher.png")

	expect(t, role(page, "button", "Create launch").Click())
	app, err := page.Context().ExpectPage(func() error { return role(page, "link", "Launch (new tab)").Click() })
	if err != nil {
		t.Fatal(err)
	}
	expect(t, app.SetViewportSize(1100, 720))
	expect(t, assert.Locator(role(app, "button", "Allow access")).ToBeVisible())
	shot(app, "consent.png")
	expect(t, role(app, "button", "Allow access").Click())
	expect(t, assert.Locator(app.GetByTestId("app-status")).ToHaveText("Done."))
	shot(app, "sample-app.png")

	expect(t, role(page, "link", "Launch in simulated EHR").Click())
	frame := page.FrameLocator(`iframe[title^="App:"]`)
	expect(t, frame.GetByRole("button", playwright.FrameLocatorGetByRoleOptions{Name: "Allow access"}).Click())
	expect(t, assert.Locator(frame.GetByTestId("app-status")).ToHaveText("Done."))
	shot(page, "simulated-ehr.png")
}
