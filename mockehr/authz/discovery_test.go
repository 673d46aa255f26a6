package authz

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/launcher"
)

func (h *testServer) getJSON(u string, hdr map[string]string) (*http.Response, map[string]any) {
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return h.do(req)
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestDISC01_DISC15_SmartConfiguration(t *testing.T) {
	h := newTestServer(t)
	scenario := h.scenario(launcher.Request{})
	for _, base := range []string{h.fhirBase(), scenario} {
		for _, accept := range []string{"application/json", "text/html", ""} { // DISC-02
			resp, d := h.getJSON(base+"/.well-known/smart-configuration", map[string]string{"Accept": accept})
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				t.Fatalf("%s: %d %s", base, resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			for _, k := range []string{"authorization_endpoint", "token_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri", "issuer", "registration_endpoint"} {
				if s, _ := d[k].(string); !strings.HasPrefix(s, h.base+"/") { // DISC-07 absolute
					t.Errorf("%s = %v", k, d[k])
				}
			}
			if d["issuer"] != h.base+"/auth" { // DISC-08
				t.Errorf("issuer %v", d["issuer"])
			}
			if !slices.Contains(strs(d["grant_types_supported"]), "authorization_code") || !slices.Contains(strs(d["grant_types_supported"]), "client_credentials") { // DISC-04
				t.Errorf("grants %v", d["grant_types_supported"])
			}
			if m := strs(d["code_challenge_methods_supported"]); !slices.Equal(m, []string{"S256"}) { // DISC-05
				t.Errorf("pkce %v", m)
			}
			caps := strs(d["capabilities"])
			for _, c := range []string{"launch-ehr", "launch-standalone", "authorize-post", "client-public", "client-confidential-symmetric", "client-confidential-asymmetric", "sso-openid-connect", "context-banner", "context-style", "context-ehr-patient", "context-ehr-encounter", "context-standalone-patient", "context-standalone-encounter", "permission-offline", "permission-online", "permission-patient", "permission-user", "permission-v1", "permission-v2"} {
				if !slices.Contains(caps, c) { // DISC-15
					t.Errorf("capability %s missing", c)
				}
			}
			if !slices.Contains(strs(d["token_endpoint_auth_methods_supported"]), "private_key_jwt") || !slices.Contains(strs(d["token_endpoint_auth_signing_alg_values_supported"]), "RS384") { // DISC-09
				t.Errorf("auth methods %v algs %v", d["token_endpoint_auth_methods_supported"], d["token_endpoint_auth_signing_alg_values_supported"])
			}
		}
	}
	resp, d := h.getJSON(h.base+"/sim/bogus/fhir/.well-known/smart-configuration", nil)
	if resp.StatusCode != 404 || d["error"] == nil {
		t.Errorf("bad scenario: %d %v", resp.StatusCode, d)
	}
}

func TestDISC14_CORS(t *testing.T) {
	h := newTestServer(t)
	resp, _ := h.getJSON(h.fhirBase()+"/.well-known/smart-configuration", map[string]string{"Origin": "https://app.example"})
	if o := resp.Header.Get("Access-Control-Allow-Origin"); o != "*" && o != "https://app.example" {
		t.Errorf("ACAO %q", o)
	}
	for _, u := range []string{h.fhirBase() + "/.well-known/smart-configuration", h.base + "/auth/oauth/token", h.base + "/auth/oauth/introspect", h.base + "/auth/revoke"} {
		req, _ := http.NewRequest(http.MethodOptions, u, nil)
		req.Header.Set("Origin", "https://app.example")
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "content-type,authorization")
		resp, _ := h.do(req)
		if resp.StatusCode >= 300 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("preflight %s: %d %v", u, resp.StatusCode, resp.Header)
		}
	}
	// SAP-06: the token POST itself carries ACAO.
	f, code := h.codeFor("pub", "", "patient/*.rs")
	form := codeForm(f, code)
	form.Set("client_id", "pub")
	req, _ := http.NewRequest(http.MethodPost, h.base+"/auth/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://app.example")
	resp, body := h.do(req)
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
		t.Errorf("token CORS: %d %v %v", resp.StatusCode, resp.Header, body)
	}
}

func TestOIDC02_OIDC05_OpenIDConfigurationAndKeys(t *testing.T) {
	h := newTestServer(t)
	resp, d := h.getJSON(h.base+"/auth/.well-known/openid-configuration", nil)
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if d["issuer"] != h.base+"/auth" || d["introspection_endpoint"] != h.base+"/auth/oauth/introspect" || d["device_authorization_endpoint"] != nil {
		t.Errorf("%v", d)
	}
	if !slices.Equal(strs(d["response_types_supported"]), []string{"code"}) || !slices.Contains(strs(d["id_token_signing_alg_values_supported"]), "RS256") {
		t.Errorf("%v %v", d["response_types_supported"], d["id_token_signing_alg_values_supported"])
	}
	if slices.Contains(strs(d["grant_types_supported"]), "urn:ietf:params:oauth:grant-type:jwt-bearer") {
		t.Error("jwt-bearer advertised")
	}
	// CS-05 style: OIDC and SMART discovery agree.
	_, sc := h.getJSON(h.fhirBase()+"/.well-known/smart-configuration", nil)
	for _, k := range []string{"authorization_endpoint", "token_endpoint", "introspection_endpoint", "revocation_endpoint", "jwks_uri", "issuer"} {
		if d[k] != sc[k] {
			t.Errorf("%s: OIDC %v SMART %v", k, d[k], sc[k])
		}
	}
	resp, keys := h.getJSON(h.base+"/auth/keys", nil)
	ks, _ := keys["keys"].([]any)
	if resp.StatusCode != 200 || len(ks) != 1 {
		t.Fatalf("%d %v", resp.StatusCode, keys)
	}
	k := ks[0].(map[string]any)
	if k["kty"] != "RSA" || k["alg"] != "RS256" || k["kid"] == "" || k["n"] == nil || k["d"] != nil {
		t.Errorf("key %v", k)
	}
}

func TestDiscoveryConfigOverrides(t *testing.T) {
	h := newTestServer(t, func(o *Options) {
		o.Discovery = DiscoveryConfig{Capabilities: []string{"launch-standalone", "client-public"}, ScopesSupported: []string{"patient/*.rs"}, ManagementEndpoint: "https://manage.example/"}
	})
	_, d := h.getJSON(h.fhirBase()+"/.well-known/smart-configuration", nil)
	b, _ := json.Marshal(d)
	if !slices.Equal(strs(d["capabilities"]), []string{"launch-standalone", "client-public"}) || d["management_endpoint"] != "https://manage.example/" || d["issuer"] != nil {
		t.Errorf("%s", b)
	}
}

func TestUserInfo(t *testing.T) {
	h := newTestServer(t)
	f, code := h.codeFor("pub", "", "openid", "fhirUser", "patient/*.rs")
	tok := h.exchange(f, code)
	resp, d := h.getJSON(h.base+"/auth/userinfo", map[string]string{"Authorization": "Bearer " + tok.AccessToken})
	if resp.StatusCode != 200 || d["fhirUser"] != h.fhirBase()+"/Patient/p-1" && !strings.HasSuffix(d["fhirUser"].(string), "/Patient/p-1") || d["sub"] == nil {
		t.Fatalf("%d %v", resp.StatusCode, d)
	}
	if resp, _ := h.getJSON(h.base+"/auth/userinfo", map[string]string{"Authorization": "Bearer nope"}); resp.StatusCode != 401 {
		t.Errorf("bad token %d", resp.StatusCode)
	}
}
