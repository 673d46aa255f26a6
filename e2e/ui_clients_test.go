package e2e

import (
	"net/http"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// Clients are created, edited and deleted through the clients page forms.
func TestUIClientsPageCRUD(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	res, err := http.Get(s.URL + "/clients")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusNotFound || res.StatusCode == http.StatusServiceUnavailable {
		t.Skipf("GET /clients answers %d: the client registry is not wired yet", res.StatusCode)
	}
	clientsCRUD(t, s.URL)
}

func clientsCRUD(t *testing.T, base string) {
	page := newPage(t)
	goto_(t, page, base+"/clients")
	expect(t, assert.Locator(page.GetByTestId("client-row-sample-app")).ToBeVisible())

	expect(t, page.GetByLabel("client_id").Fill("e2e-app"))
	expect(t, page.GetByLabel("Name").Fill("E2E app"))
	expect(t, page.GetByLabel("Redirect URIs").Fill("https://e2e.example/cb"))
	expect(t, page.GetByTestId("client-create").Click())
	expect(t, assert.Locator(page.GetByTestId("flash")).ToHaveText("Client e2e-app created."))
	row := page.GetByTestId("client-row-e2e-app")
	expect(t, assert.Locator(row).ToContainText("E2E app"))

	// A mistake is shown next to its field and the form keeps its input.
	expect(t, page.GetByTestId("client-edit-e2e-app").Click())
	expect(t, page.GetByLabel("Redirect URIs").Fill("not a url"))
	expect(t, page.GetByTestId("client-save").Click())
	expect(t, assert.Locator(page.GetByTestId("error-redirect_uris")).ToBeVisible())
	expect(t, assert.Locator(page.GetByLabel("Redirect URIs")).ToHaveAttribute("aria-invalid", "true"))

	expect(t, page.GetByLabel("Redirect URIs").Fill("https://e2e.example/callback"))
	expect(t, page.GetByLabel("Name").Fill("Renamed app"))
	expect(t, page.GetByTestId("client-save").Click())
	expect(t, assert.Locator(page.GetByTestId("flash")).ToHaveText("Client e2e-app saved."))
	expect(t, assert.Locator(row).ToContainText("https://e2e.example/callback"))

	page.OnDialog(func(d playwright.Dialog) { d.Accept() })
	expect(t, page.GetByTestId("client-delete-e2e-app").Click())
	expect(t, assert.Locator(page.GetByTestId("flash")).ToHaveText("Client e2e-app deleted."))
	expect(t, assert.Locator(row).ToHaveCount(0))
}
