package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// Backend services (SMART backend-services) with real clients against the
// demo backend client and its published demo keys.

// smartConfig reads the token endpoint from the FHIR base's discovery.
func smartConfig(t *testing.T, fhirBase string) (tokenURL string) {
	t.Helper()
	res, err := http.Get(fhirBase + "/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var c struct {
		TokenEndpoint string `json:"token_endpoint"`
	}
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&c) != nil || c.TokenEndpoint == "" {
		t.Fatalf("smart-configuration: %d", res.StatusCode)
	}
	return c.TokenEndpoint
}

// demoKey returns the demo private key with the kid.
func demoKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(clients.DemoPrivateJWKS(), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("demo key %s: %d found", kid, len(keys))
	}
	return keys[0]
}

// signAssertion signs a SMART client assertion (RFC 7523) with go-jose.
func signAssertion(t *testing.T, key jose.JSONWebKey, clientID, aud string) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", key.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 16)
	rand.Read(jti)
	now := time.Now()
	s, err := jwt.Signed(signer).Claims(jwt.Claims{
		Issuer: clientID, Subject: clientID, Audience: jwt.Audience{aud},
		Expiry: jwt.NewNumericDate(now.Add(4 * time.Minute)), ID: hex.EncodeToString(jti),
	}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func postForm(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	res, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("POST %s: %d %s", u, res.StatusCode, b)
	}
	return res.StatusCode, body
}

// fhirSearch GETs a FHIR URL with the token and decodes the Bundle.
func fhirSearch(t *testing.T, u, token string) (int, []string) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/fhir+json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b struct {
		ResourceType string
		Entry        []struct {
			Resource struct{ Subject struct{ Reference string } }
		}
	}
	json.NewDecoder(res.Body).Decode(&b)
	var subjects []string
	for _, e := range b.Entry {
		subjects = append(subjects, e.Resource.Subject.Reference)
	}
	return res.StatusCode, subjects
}

// A Go backend client signs RS384 and ES384 assertions with go-jose for the
// demo backend client, gets a token and searches; a replayed assertion is
// refused.
func TestBackendServicesGoJose(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	fhirBase := s.URL + "/fhir"
	tokenURL := smartConfig(t, fhirBase)
	for _, kid := range []string{"ehrsim-demo-rs384", "ehrsim-demo-es384"} {
		t.Run(kid, func(t *testing.T) {
			key := demoKey(t, kid)
			assertion := signAssertion(t, key, clients.DemoBackend, tokenURL)
			form := url.Values{
				"grant_type":            {"client_credentials"},
				"scope":                 {"system/Observation.rs system/Patient.rs"},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {assertion},
			}
			status, tok := postForm(t, tokenURL, form)
			if status != 200 || tok["token_type"] != "Bearer" || tok["scope"] != "system/Observation.rs system/Patient.rs" {
				t.Fatalf("token: %d %v", status, tok)
			}
			if exp, _ := tok["expires_in"].(float64); exp <= 0 || exp > 300 {
				t.Errorf("expires_in %v, want (0, 300]", tok["expires_in"])
			}
			code, subjects := fhirSearch(t, fhirBase+"/Observation?patient=pat-grace-kim&category=vital-signs&_count=5", tok["access_token"].(string))
			if code != 200 || len(subjects) == 0 {
				t.Fatalf("search: %d, %d entries", code, len(subjects))
			}
			for _, sub := range subjects {
				if sub != "Patient/pat-grace-kim" {
					t.Errorf("entry of %s", sub)
				}
			}
			// The token is limited to its scopes.
			if code, _ := fhirSearch(t, fhirBase+"/Condition?patient=pat-grace-kim", tok["access_token"].(string)); code != 403 {
				t.Errorf("Condition search with Observation/Patient scopes: %d, want 403", code)
			}
			// The same assertion again is a replayed jti.
			status, e := postForm(t, tokenURL, form)
			if (status != 400 && status != 401) || e["error"] != "invalid_client" {
				t.Errorf("replayed assertion: %d %v, want invalid_client", status, e)
			}
		})
	}
}

// openidClientScript runs openid-client: discovery from the issuer,
// client_credentials with private_key_jwt, then a FHIR search through the
// library's fetchProtectedResource. openid-client puts the issuer in the
// assertion's aud by default; SMART requires the token URL, so the
// library's modifyAssertion hook sets it.
const openidClientScript = `
const client = await import(process.env.OPENID_CLIENT);
const jwk = JSON.parse(process.env.JWK);
const alg = jwk.alg === "RS384" ? { name: "RSASSA-PKCS1-v1_5", hash: "SHA-384" } : { name: "ECDSA", namedCurve: "P-384" };
const kid = jwk.kid;
delete jwk.alg; delete jwk.use; delete jwk.kid;
const key = await crypto.subtle.importKey("jwk", jwk, alg, false, ["sign"]);
let tokenURL, signedAlg;
const auth = client.PrivateKeyJwt({ key, kid }, { [client.modifyAssertion]: (header, payload) => { payload.aud = tokenURL; signedAlg = header.alg; } });
const config = await client.discovery(new URL(process.env.ISSUER), process.env.CLIENT_ID, {}, auth, { execute: [client.allowInsecureRequests] });
tokenURL = config.serverMetadata().token_endpoint;
const tokens = await client.clientCredentialsGrant(config, { scope: "system/Observation.rs" });
const res = await client.fetchProtectedResource(config, tokens.access_token, new URL(process.env.SEARCH), "GET", null, new Headers({ accept: "application/fhir+json" }));
const bundle = await res.json();
console.log(JSON.stringify({ alg: signedAlg, token_endpoint: tokenURL, token_type: tokens.token_type, scope: tokens.scope, expires_in: tokens.expires_in,
  status: res.status, subjects: [...new Set((bundle.entry || []).map(e => e.resource.subject.reference))], entries: (bundle.entry || []).length }));
`

// openid-client (npm, OpenIDClientVersion) as the backend client, run with
// node, with the RS384 and the ES384 demo key.
func TestBackendServicesOpenIDClient(t *testing.T) {
	t.Parallel()
	entry, err := EnsureOpenIDClient()
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t)
	script := filepath.Join(t.TempDir(), "backend.mjs")
	if err := os.WriteFile(script, []byte(openidClientScript), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, kid := range []string{"ehrsim-demo-rs384", "ehrsim-demo-es384"} {
		t.Run(kid, func(t *testing.T) {
			jwk, _ := json.Marshal(demoKey(t, kid))
			cmd := exec.Command("node", script)
			cmd.Env = append(os.Environ(),
				"OPENID_CLIENT=file://"+entry, "JWK="+string(jwk), "ISSUER="+s.URL+"/auth",
				"CLIENT_ID="+clients.DemoBackend,
				"SEARCH="+s.URL+"/fhir/Observation?patient=pat-grace-kim&category=vital-signs&_count=5")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("node: %v\n%s", err, out)
			}
			var got struct {
				Alg       string   `json:"alg"`
				TE        string   `json:"token_endpoint"`
				TT        string   `json:"token_type"`
				SC        string   `json:"scope"`
				ExpiresIn int      `json:"expires_in"`
				Status    int      `json:"status"`
				Subjects  []string `json:"subjects"`
				Entries   int      `json:"entries"`
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
				t.Fatalf("output: %v\n%s", err, out)
			}
			wantAlg := map[string]string{"ehrsim-demo-rs384": "RS384", "ehrsim-demo-es384": "ES384"}[kid]
			want := fmt.Sprintf("%s %s/auth/oauth/token bearer system/Observation.rs 200 [Patient/pat-grace-kim]", wantAlg, s.URL)
			if g := fmt.Sprintf("%s %s %s %s %d %v", got.Alg, got.TE, strings.ToLower(got.TT), got.SC, got.Status, got.Subjects); g != want || got.Entries == 0 || got.ExpiresIn <= 0 {
				t.Errorf("openid-client got %s (%d entries, expires_in %d), want %s", g, got.Entries, got.ExpiresIn, want)
			}
		})
	}
}
