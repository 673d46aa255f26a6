package ui

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// The clients page works without JavaScript: forms post to ui routes, which
// call the registry and redirect back (POST/redirect/GET).
func TestClientsCRUDThroughForms(t *testing.T) {
	tu := newTestUI(t)
	ctx := context.Background()

	status, _, body := tu.get(t, "/clients")
	if status != http.StatusOK {
		t.Fatalf("list %d", status)
	}
	mustContain(t, body, `data-testid="client-row-sample-app"`, `data-testid="client-row-demo-backend"`, `action="/clients"`, `data-testid="client-create"`)

	create := url.Values{"client_id": {"my-app"}, "client_name": {"My app"}, "client_type": {"confidential-symmetric"},
		"client_secret": {"a-long-enough-secret-value"}, "redirect_uris": {"https://app.example/cb\nhttps://app.example/cb2"},
		"launch_url": {"https://app.example/launch"}, "scope": {"launch  openid patient/*.rs"}, "access_token_lifetime": {"900"}}
	status, hdr, body := tu.post(t, "/clients", create)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/clients?created=my-app" {
		t.Fatalf("create %d %q\n%s", status, hdr.Get("Location"), body)
	}
	c, err := tu.registry.Get(ctx, "my-app")
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "My app" || c.Type != clients.TypeSymmetric || len(c.RedirectURIs) != 2 || c.Scope != "launch openid patient/*.rs" ||
		c.AccessTokenLifetime != 900 || !tu.registry.CheckSecret(ctx, "my-app", "a-long-enough-secret-value") {
		t.Fatalf("created %+v", c)
	}
	_, _, body = tu.get(t, "/clients?created=my-app")
	mustContain(t, body, `data-testid="flash"`, "Client my-app created.", `data-testid="client-row-my-app"`)

	// The new app with a launch URL is offered by the simulated EHR.
	_, _, body = tu.get(t, "/ehr")
	mustContain(t, body, `<option value="my-app">My app (my-app)</option>`)

	status, _, body = tu.post(t, "/clients", create)
	if status != http.StatusBadRequest {
		t.Fatalf("duplicate create %d", status)
	}
	mustContain(t, body, `id="err-client_id"`, "exists already")
	mustNotContain(t, body, "a-long-enough-secret-value")

	status, _, body = tu.get(t, "/clients/my-app")
	if status != http.StatusOK {
		t.Fatalf("edit %d", status)
	}
	mustContain(t, body, `action="/clients/my-app"`, `value="My app"`, "a secret is stored; leave empty to keep it", `data-testid="client-save"`)

	edit := url.Values{"client_name": {"Renamed"}, "client_type": {"confidential-symmetric"}, "redirect_uris": {"https://app.example/cb"}, "client_secret": {""}}
	status, hdr, _ = tu.post(t, "/clients/my-app", edit)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/clients?saved=my-app" {
		t.Fatalf("update %d %q", status, hdr.Get("Location"))
	}
	c, _ = tu.registry.Get(ctx, "my-app")
	if c.Name != "Renamed" || len(c.RedirectURIs) != 1 || !tu.registry.CheckSecret(ctx, "my-app", "a-long-enough-secret-value") {
		t.Fatalf("updated %+v (secret must be kept)", c)
	}

	edit.Set("redirect_uris", "not a url")
	status, _, body = tu.post(t, "/clients/my-app", edit)
	if status != http.StatusBadRequest {
		t.Fatalf("bad update %d", status)
	}
	mustContain(t, body, `id="err-redirect_uris"`, `aria-describedby="err-redirect_uris"`, `action="/clients/my-app"`)

	status, hdr, _ = tu.post(t, "/clients/my-app/delete", nil)
	if status != http.StatusSeeOther || hdr.Get("Location") != "/clients?deleted=my-app" {
		t.Fatalf("delete %d %q", status, hdr.Get("Location"))
	}
	if _, err := tu.registry.Get(ctx, "my-app"); !errors.Is(err, clients.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	edit.Set("redirect_uris", "https://app.example/cb")
	for _, path := range []string{"/clients/my-app/delete", "/clients/my-app"} {
		status, _, body = tu.post(t, path, edit)
		if status != http.StatusNotFound {
			t.Fatalf("POST %s on deleted client: %d", path, status)
		}
		mustContain(t, body, `data-testid="error-page"`, "Unknown client")
	}
	if status, _, _ = tu.get(t, "/clients/my-app"); status != http.StatusNotFound {
		t.Fatalf("edit deleted %d", status)
	}
}

func TestClientsBadInputKeepsForm(t *testing.T) {
	tu := newTestUI(t)
	cases := []struct {
		form  url.Values
		field string
	}{
		{url.Values{"client_id": {"x y"}, "client_type": {"public"}, "redirect_uris": {"https://a.example/cb"}}, "client_id"},
		{url.Values{"client_id": {"b"}, "client_type": {"public"}}, "redirect_uris"},
		{url.Values{"client_id": {"c"}, "client_type": {"public"}, "redirect_uris": {"https://a.example/cb"}, "jwks": {"{"}}, "jwks"},
		{url.Values{"client_id": {"d"}, "client_type": {"public"}, "redirect_uris": {"https://a.example/cb"}, "refresh_token_lifetime": {"-5"}}, "refresh_token_lifetime"},
	}
	for _, c := range cases {
		status, _, body := tu.post(t, "/clients", c.form)
		if status != http.StatusBadRequest {
			t.Fatalf("%v: status %d", c.form, status)
		}
		mustContain(t, body, `id="err-`+c.field+`"`, `value="`+c.form.Get("client_id")+`"`)
	}
}
