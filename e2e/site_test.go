package e2e

import (
	"regexp"
	"testing"

	"github.com/playwright-community/playwright-go"
)

func TestLauncherPageLoads(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	resp := goto_(t, page, s.URL+"/")
	if resp.Status() != 200 {
		t.Fatalf("GET / = %d, want 200", resp.Status())
	}
	expect(t, assert.Page(page).ToHaveTitle("Launcher · ehrsim"))
	expect(t, assert.Locator(page.GetByRole("heading", playwright.PageGetByRoleOptions{Level: playwright.Int(1)})).ToHaveText("Launch a SMART app"))
	expect(t, assert.Locator(page.GetByTestId("nav-launcher")).ToHaveAttribute("aria-current", "page"))
}

func TestNavigationReachesEveryPage(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/")
	for _, tc := range []struct{ testID, path, title string }{
		{"nav-docs", "/docs", "Docs · ehrsim"},
		{"nav-launcher", "/", "Launcher · ehrsim"},
	} {
		expect(t, page.GetByTestId(tc.testID).Click())
		expect(t, assert.Page(page).ToHaveURL(s.URL+tc.path))
		expect(t, assert.Page(page).ToHaveTitle(tc.title))
		expect(t, assert.Locator(page.GetByTestId(tc.testID)).ToHaveAttribute("aria-current", "page"))
	}
}

func TestMissingPageShows404Page(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	resp := goto_(t, page, s.URL+"/no/such/page")
	if resp.Status() != 404 {
		t.Fatalf("status = %d, want 404", resp.Status())
	}
	expect(t, assert.Locator(page.GetByTestId("error-title")).ToHaveText("Page not found"))
	expect(t, assert.Locator(page.GetByTestId("error-page")).ToContainText(regexp.MustCompile(`/no/such/page`)))
	expect(t, page.GetByTestId("error-home").Click())
	expect(t, assert.Page(page).ToHaveTitle("Launcher · ehrsim"))
}
