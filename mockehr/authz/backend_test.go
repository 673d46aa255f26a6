package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// assertion signs a SMART client assertion with a demo key.
func (h *testServer) assertion(clientID, kid string, alg jose.SignatureAlgorithm, mutate func(map[string]any)) string {
	h.t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(clients.DemoPrivateJWKS(), &set); err != nil {
		h.t.Fatal(err)
	}
	keys := set.Key(kid)
	if len(keys) == 0 {
		h.t.Fatalf("no demo key %s", kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: keys[0]}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		h.t.Fatal(err)
	}
	claims := map[string]any{
		"iss": clientID, "sub": clientID, "aud": h.base + "/auth/oauth/token",
		"exp": h.clock.Now().Add(4 * time.Minute).Unix(), "jti": oauthJTI(),
	}
	if mutate != nil {
		mutate(claims)
	}
	s, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		h.t.Fatal(err)
	}
	return s
}

var jtiN atomic.Int64 // tests run in parallel

func oauthJTI() string {
	n := jtiN.Add(1)
	return "jti-" + time.Now().Format("150405.000000000") + "-" + string(rune('a'+n%26))
}

func ccForm(assertion, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "scope": {scope},
		"client_assertion_type": {clients.JWTBearerAssertionType}, "client_assertion": {assertion}}
}

func TestBES02_BES03_BES04_ClientCredentialsRS384AndES384(t *testing.T) {
	h := newTestServer(t)
	for _, k := range []struct {
		kid string
		alg jose.SignatureAlgorithm
	}{{clients.DemoKeyRS384, jose.RS384}, {clients.DemoKeyES384, jose.ES384}} {
		resp, body := h.tokenPost(ccForm(h.assertion(clients.DemoBackend, k.kid, k.alg, nil), "system/*.rs system/Patient.read"), "", "")
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %v", k.alg, resp.StatusCode, body)
		}
		if body["token_type"] != "Bearer" || body["refresh_token"] != nil || body["scope"] != "system/*.rs system/Patient.read" {
			t.Errorf("%s: body %v", k.alg, body)
		}
		if exp, _ := body["expires_in"].(float64); exp <= 0 || exp > 300 {
			t.Errorf("expires_in %v", body["expires_in"])
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Error("no Cache-Control")
		}
		g, err := h.srv.ResolveGrant(context.Background(), body["access_token"].(string))
		if err != nil || g.ClientID != clients.DemoBackend || g.Subject != clients.DemoBackend || g.FHIRUser != "" || g.Audience != h.fhirBase() {
			t.Errorf("grant %+v %v", g, err)
		}
	}
}

func TestBES05_UnknownGrantType(t *testing.T) {
	h := newTestServer(t)
	form := ccForm(h.assertion(clients.DemoBackend, clients.DemoKeyES384, jose.ES384, nil), "system/*.rs")
	form.Set("grant_type", "not_a_grant_type")
	resp, body := h.tokenPost(form, "", "")
	wantError(t, resp, body, 400, "unsupported_grant_type")
}

func TestBES06_BadAssertionType(t *testing.T) {
	h := newTestServer(t)
	form := ccForm(h.assertion(clients.DemoBackend, clients.DemoKeyES384, jose.ES384, nil), "system/*.rs")
	form.Set("client_assertion_type", "not_an_assertion_type")
	resp, body := h.tokenPost(form, "", "")
	wantError(t, resp, body, 400, "invalid_request")
}

func TestBES07_BES09_BES11_BadAssertions(t *testing.T) {
	h := newTestServer(t)
	cases := map[string]func(map[string]any){
		"unknown iss": func(c map[string]any) { c["iss"] = "not_a_valid_iss" },
		"aud issuer":  func(c map[string]any) { c["aud"] = h.base + "/auth" },
		"exp past":    func(c map[string]any) { c["exp"] = h.clock.Now().Add(-time.Hour).Unix() },
	}
	for name, m := range cases {
		resp, body := h.tokenPost(ccForm(h.assertion(clients.DemoBackend, clients.DemoKeyES384, jose.ES384, m), "system/*.rs"), "", "")
		if resp.StatusCode != 401 || body["error"] != "invalid_client" {
			t.Errorf("%s: %d %v", name, resp.StatusCode, body)
		}
	}
	a := h.assertion(clients.DemoBackend, clients.DemoKeyES384, jose.ES384, nil)
	if resp, body := h.tokenPost(ccForm(a, "system/*.rs"), "", ""); resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	resp, body := h.tokenPost(ccForm(a, "system/*.rs"), "", "") // BES-11 replay
	wantError(t, resp, body, 401, "invalid_client")
}

func TestBES16_ScopeBeyondPreAuthorization(t *testing.T) {
	h := newTestServer(t)
	resp, body := h.tokenPost(ccForm(h.assertion(clients.DemoBackend, clients.DemoKeyES384, jose.ES384, nil), "system/*.cruds"), "", "")
	wantError(t, resp, body, 400, "invalid_scope")
}

func TestBES18_SymmetricClientNotBackend(t *testing.T) {
	h := newTestServer(t)
	resp, body := h.tokenPost(url.Values{"grant_type": {"client_credentials"}, "scope": {"system/*.rs"}}, "conf", "conf-secret-0123456789abcdef")
	if resp.StatusCode != 400 || body["error"] != "unauthorized_client" {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
}

// A backend-service launch: resource names its /sim base, which brings the
// launch's ad-hoc client (inline JWKS) and the audience.
func TestBES14_LaunchDefinedBackendClient(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "backend-service", Client: launcher.Client{ClientID: "adhoc-bulk", ClientType: "confidential-asymmetric", JWKS: clients.DemoPublicJWKS(), Scope: "system/Observation.rs"}})
	form := ccForm(h.assertion("adhoc-bulk", clients.DemoKeyRS384, jose.RS384, nil), "system/Observation.rs system/Patient.rs")
	form.Set("resource", res.FHIRBaseURL)
	resp, body := h.tokenPost(form, "", "")
	if resp.StatusCode != 200 || body["scope"] != "system/Observation.rs" {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	g, _ := h.srv.ResolveGrant(context.Background(), body["access_token"].(string))
	if g.Audience != res.FHIRBaseURL {
		t.Errorf("audience %q want %q", g.Audience, res.FHIRBaseURL)
	}
}

// TOK-20: an asymmetric client on the code grant.
func TestTOK20_AsymmetricCodeExchange(t *testing.T) {
	h := newTestServer(t)
	f := h.newFlow(clients.DemoAsymmetric, "", h.scenario(launcher.Request{}), "patient/*.rs")
	f.cfg.RedirectURL = ""
	c, _ := h.reg.Get(context.Background(), clients.DemoAsymmetric)
	f.cfg.RedirectURL = c.RedirectURIs[0]
	resp := h.get(f.authURL())
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if code == "" {
		t.Fatalf("no code: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.RedirectURIs[0]}, "code_verifier": {f.verifier},
		"client_assertion_type": {clients.JWTBearerAssertionType}, "client_assertion": {h.assertion(clients.DemoAsymmetric, clients.DemoKeyRS384, jose.RS384, nil)}}
	r, body := h.tokenPost(form, "", "")
	if r.StatusCode != 200 || body["access_token"] == nil {
		t.Fatalf("%d %v", r.StatusCode, body)
	}
}

// A standard SMART Backend Services client knows only the FHIR base of its
// backend launch: it reads that base's smart-configuration, signs an
// assertion whose aud is the advertised token_endpoint, and posts
// client_credentials with nothing else (no resource). The scenario's token
// endpoint carries the launch, so the launch-defined client, its scopes and
// the audience all come from it. resource keeps working (TestBES14_…).
func TestBES_StandardClientOnScenarioBase(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "backend-service", Client: launcher.Client{ClientID: "adhoc-bulk", JWKS: clients.DemoPublicJWKS(), Scope: "system/Observation.rs"}})
	_, disc := h.getJSON(res.FHIRBaseURL+"/.well-known/smart-configuration", nil)
	tokenURL, _ := disc["token_endpoint"].(string)
	if !strings.HasPrefix(tokenURL, h.base+"/sim/") {
		t.Fatalf("token_endpoint %q: want the scenario's own endpoint", tokenURL)
	}
	// CS-05: the CapabilityStatement of that base names the same endpoint.
	if got := h.srv.EndpointsFor(mustBase(t, h, res.FHIRBaseURL)).Token; got != tokenURL {
		t.Errorf("EndpointsFor token %q, discovery %q", got, tokenURL)
	}
	a := h.assertion("adhoc-bulk", clients.DemoKeyES384, jose.ES384, func(c map[string]any) { c["aud"] = tokenURL })
	req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(ccForm(a, "system/Observation.rs").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body := h.do(req)
	if resp.StatusCode != 200 || body["scope"] != "system/Observation.rs" {
		t.Fatalf("%d %v", resp.StatusCode, body)
	}
	g, err := h.srv.ResolveGrant(context.Background(), body["access_token"].(string))
	if err != nil || g.Audience != res.FHIRBaseURL || g.ClientID != "adhoc-bulk" {
		t.Fatalf("grant %+v %v, want adhoc-bulk for %s", g, err, res.FHIRBaseURL)
	}
	// The plain token endpoint knows the launch-defined client too (by its
	// id, from the moment the launch was minted); the token is then for /fhir.
	a = h.assertion("adhoc-bulk", clients.DemoKeyES384, jose.ES384, nil)
	resp, body = h.tokenPost(ccForm(a, "system/Observation.rs"), "", "")
	if resp.StatusCode != 200 {
		t.Fatalf("plain token endpoint: %d %v", resp.StatusCode, body)
	}
	// An assertion naming the plain endpoint is refused at the scenario's.
	a = h.assertion("adhoc-bulk", clients.DemoKeyES384, jose.ES384, nil)
	req, _ = http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(ccForm(a, "system/Observation.rs").Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, body = h.do(req)
	wantError(t, resp, body, 401, "invalid_client")
}

func mustBase(t *testing.T, h *testServer, u string) smart.FHIRBase {
	b, ok := smart.ParseFHIRBase(h.base, u)
	if !ok {
		t.Fatalf("%s is not a FHIR base", u)
	}
	return b
}

// SMART Backend Services: the assertion's JOSE header names its key (kid).
func TestBES08_AssertionWithoutKidOverHTTP(t *testing.T) {
	h := newTestServer(t)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(clients.DemoPrivateJWKS(), &set); err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: set.Key(clients.DemoKeyES384)[0].Key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := jwt.Signed(signer).Claims(map[string]any{"iss": clients.DemoBackend, "sub": clients.DemoBackend, "aud": h.base + "/auth/oauth/token",
		"exp": h.clock.Now().Add(4 * time.Minute).Unix(), "jti": oauthJTI()}).Serialize()
	resp, body := h.tokenPost(ccForm(a, "system/*.rs"), "", "")
	wantError(t, resp, body, 401, "invalid_client")
	if d, _ := body["error_description"].(string); !strings.Contains(d, "kid") {
		t.Errorf("error_description %q does not name the missing kid", d)
	}
}
