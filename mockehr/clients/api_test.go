package clients

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

type apiEnv struct {
	*verifierEnv
	srv *httptest.Server
}

func newAPIEnv(t *testing.T) *apiEnv {
	e := &apiEnv{verifierEnv: newVerifierEnv(t)}
	mux := http.NewServeMux()
	(&API{Registry: e.reg}).Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

// do sends a JSON request and returns status, headers and the decoded body
// (also as raw text, to grep for secrets).
func (e *apiEnv) do(method, path, body string) (int, http.Header, map[string]any, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(raw) > 0 {
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			e.t.Fatalf("%s %s: Content-Type %q", method, path, ct)
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			e.t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
		}
	}
	return resp.StatusCode, resp.Header, m, string(raw)
}

func TestAPIClientsCRUD(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()

	st, _, body, raw := e.do("GET", "/api/clients", "")
	if st != 200 || len(body["clients"].([]any)) != 5 {
		t.Fatalf("list: %d %s", st, raw)
	}
	if strings.Contains(raw, "client_secret\"") || strings.Contains(raw, DemoSecret) {
		t.Fatalf("list leaks a secret: %s", raw)
	}

	// Symmetric without a secret: generated and returned once.
	st, h, body, raw := e.do("POST", "/api/clients", `{"client_id":"sym","client_type":"confidential-symmetric","redirect_uris":["https://app.example/cb"]}`)
	if st != 201 || h.Get("Location") != "/api/clients/sym" || h.Get("Cache-Control") != "no-store" {
		t.Fatalf("create: %d %v %s", st, h, raw)
	}
	secret, _ := body["client_secret"].(string)
	if len(secret) < 40 || !e.reg.CheckSecret(ctx, "sym", secret) {
		t.Fatalf("generated secret %q does not authenticate", secret)
	}
	if body["token_endpoint_auth_method"] != AuthClientSecretBasic || body["pkce"] != PKCERequired || body["has_secret"] != true {
		t.Fatalf("create body: %s", raw)
	}
	st, _, body, raw = e.do("GET", "/api/clients/sym", "")
	if st != 200 || strings.Contains(raw, secret) || body["client_secret"] != nil || body["client_id"] != "sym" {
		t.Fatalf("get: %d %s", st, raw)
	}

	// A secret the caller chose is stored and never echoed.
	st, _, _, raw = e.do("POST", "/api/clients", `{"client_id":"sym2","client_type":"confidential-symmetric","redirect_uris":["https://app.example/cb"],"client_secret":"chosen-secret-123"}`)
	if st != 201 || strings.Contains(raw, "chosen-secret-123") || !e.reg.CheckSecret(ctx, "sym2", "chosen-secret-123") {
		t.Fatalf("create with secret: %d %s", st, raw)
	}

	// Duplicate id → 409 conflict naming client_id.
	st, _, body, _ = e.do("POST", "/api/clients", `{"client_id":"sym","client_type":"public","redirect_uris":["https://app.example/cb"]}`)
	if st != 409 || body["error"] != "conflict" || body["field"] != "client_id" {
		t.Fatalf("duplicate: %d %v", st, body)
	}

	// GET → edit → PUT round-trips (read-only fields are accepted).
	_, _, _, raw = e.do("GET", "/api/clients/sym", "")
	edited := strings.Replace(raw, `"https://app.example/cb"`, `"https://app.example/cb","https://app.example/cb2"`, 1)
	st, _, body, raw = e.do("PUT", "/api/clients/sym", edited)
	if st != 200 || len(body["redirect_uris"].([]any)) != 2 || !e.reg.CheckSecret(ctx, "sym", secret) {
		t.Fatalf("put: %d %s", st, raw)
	}
	st, _, body, _ = e.do("PUT", "/api/clients/sym", `{"client_id":"other","client_type":"public","redirect_uris":["https://a.example/cb"]}`)
	if st != 400 || body["field"] != "client_id" {
		t.Fatalf("put id mismatch: %d %v", st, body)
	}
	st, _, body, _ = e.do("PUT", "/api/clients/ghost", `{"client_type":"public","redirect_uris":["https://a.example/cb"]}`)
	if st != 404 || body["error"] != "not_found" {
		t.Fatalf("put missing: %d %v", st, body)
	}
	// Rotating the secret through PUT.
	st, _, _, raw = e.do("PUT", "/api/clients/sym", `{"client_type":"confidential-symmetric","redirect_uris":["https://app.example/cb"],"client_secret":"rotated-secret"}`)
	if st != 200 || strings.Contains(raw, "rotated-secret") || !e.reg.CheckSecret(ctx, "sym", "rotated-secret") || e.reg.CheckSecret(ctx, "sym", secret) {
		t.Fatalf("rotate: %d %s", st, raw)
	}

	st, _, _, raw = e.do("DELETE", "/api/clients/sym", "")
	if st != 204 || raw != "" {
		t.Fatalf("delete: %d %q", st, raw)
	}
	st, _, body, _ = e.do("GET", "/api/clients/sym", "")
	if st != 404 || body["error"] != "not_found" {
		t.Fatalf("get deleted: %d %v", st, body)
	}
	if st, _, _, _ = e.do("DELETE", "/api/clients/sym", ""); st != 404 {
		t.Fatalf("second delete: %d", st)
	}
}

func TestAPIValidationErrorsNameTheField(t *testing.T) {
	e := newAPIEnv(t)
	priv := newECKey(t, "k1", elliptic.P384())
	privJSON, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{priv}})
	nk := newECKey(t, "", elliptic.P384())
	pub := nk.Public()
	noKid, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	cases := []struct{ name, body, field string }{
		{"missing id", `{"client_type":"public","redirect_uris":["https://a.example/cb"]}`, "client_id"},
		{"bad id", `{"client_id":"a b","client_type":"public","redirect_uris":["https://a.example/cb"]}`, "client_id"},
		{"bad type", `{"client_id":"x","client_type":"confidential","redirect_uris":["https://a.example/cb"]}`, "client_type"},
		{"no redirect", `{"client_id":"x","client_type":"public"}`, "redirect_uris"},
		{"relative redirect", `{"client_id":"x","client_type":"public","redirect_uris":["/cb"]}`, "redirect_uris"},
		{"fragment", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb#x"]}`, "redirect_uris"},
		{"ftp", `{"client_id":"x","client_type":"public","redirect_uris":["ftp://a.example/cb"]}`, "redirect_uris"},
		{"redirect wrong type", `{"client_id":"x","client_type":"public","redirect_uris":"https://a.example/cb"}`, "redirect_uris"},
		{"backend with redirect", `{"client_id":"x","client_type":"backend-service","redirect_uris":["https://a.example/cb"],"jwks_url":"https://a.example/jwks"}`, "redirect_uris"},
		{"launch url", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"launch_url":"launch.html"}`, "launch_url"},
		{"scope double space", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"scope":"openid  launch"}`, "scope"},
		{"scope quote", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"scope":"openid \"x\""}`, "scope"},
		{"asym without keys", `{"client_id":"x","client_type":"confidential-asymmetric","redirect_uris":["https://a.example/cb"]}`, "jwks"},
		{"private jwk", `{"client_id":"x","client_type":"backend-service","jwks":` + string(privJSON) + `}`, "jwks"},
		{"jwk without kid", `{"client_id":"x","client_type":"backend-service","jwks":` + string(noKid) + `}`, "jwks"},
		{"jwks not a set", `{"client_id":"x","client_type":"backend-service","jwks":"abc"}`, "jwks"},
		{"public with jwks", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"jwks":{"keys":[]}}`, "jwks"},
		{"jwks_url relative", `{"client_id":"x","client_type":"backend-service","jwks_url":"/jwks"}`, "jwks_url"},
		{"pkce plain", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"pkce":"plain"}`, "pkce"},
		{"lifetime", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"access_token_lifetime":-1}`, "access_token_lifetime"},
		{"refresh lifetime", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"refresh_token_lifetime":"1h"}`, "refresh_token_lifetime"},
		{"secret on public", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"client_secret":"s"}`, "client_secret"},
		{"empty secret", `{"client_id":"x","client_type":"confidential-symmetric","redirect_uris":["https://a.example/cb"],"client_secret":""}`, "client_secret"},
		{"unknown field", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"colour":"red"}`, "colour"},
		// The body as a whole: no field (as in the launch API).
		{"not json", `{"client_id":`, ""},
		{"trailing", `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"]} {}`, ""},
		{"not an object", `[]`, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body, raw := e.do("POST", "/api/clients", tc.body)
			field, hasField := body["field"]
			desc, _ := body["error_description"].(string)
			// apierr's shape: field names the member, the description does not repeat it.
			if st != 400 || body["error"] != "invalid_request" || hasField != (tc.field != "") || tc.field != "" && field != tc.field ||
				desc == "" || tc.field != "" && strings.HasPrefix(desc, tc.field+": ") {
				t.Fatalf("status %d body %s, want 400 naming %q", st, raw, tc.field)
			}
		})
	}
	if _, err := e.reg.Get(context.Background(), "x"); err == nil {
		t.Fatal("an invalid client was stored")
	}

	req, _ := http.NewRequest("POST", e.srv.URL+"/api/clients", strings.NewReader("client_id=x"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType || body["error"] != "unsupported_media_type" || body["field"] != nil {
		t.Fatalf("form body: %d %v, want 415 unsupported_media_type", resp.StatusCode, body)
	}

	big := `{"client_id":"x","client_type":"public","redirect_uris":["https://a.example/cb"],"name":"` + strings.Repeat("a", maxBody) + `"}`
	if st, _, body, raw := e.do("POST", "/api/clients", big); st != http.StatusRequestEntityTooLarge || body["error"] != "request_too_large" {
		t.Fatalf("large body: %d %s, want 413 request_too_large", st, raw)
	}
}
