package clients

import (
	"context"
	"crypto/elliptic"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestRFC7591RegistrationHappyPaths(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()

	// Default auth method is client_secret_basic (RFC 7591 §2): a secret is issued.
	st, h, body, raw := e.do("POST", "/auth/register", `{"redirect_uris":["https://app.example/cb"],"client_name":"My App","scope":"launch openid","logo_uri":"https://app.example/logo.png"}`)
	if st != 201 || h.Get("Cache-Control") != "no-store" || h.Get("Pragma") != "no-cache" {
		t.Fatalf("register: %d %v %s", st, h, raw)
	}
	id, _ := body["client_id"].(string)
	secret, _ := body["client_secret"].(string)
	if !strings.HasPrefix(id, "dyn-") || secret == "" || body["client_secret_expires_at"] != float64(0) ||
		body["client_id_issued_at"] != float64(e.clk.Now().Unix()) || body["token_endpoint_auth_method"] != AuthClientSecretBasic ||
		body["client_name"] != "My App" || body["scope"] != "launch openid" {
		t.Fatalf("register body: %s", raw)
	}
	if gt := body["grant_types"].([]any); len(gt) != 2 || gt[0] != GrantAuthorizationCode {
		t.Fatalf("grant_types: %v", gt)
	}
	if c, err := e.reg.Get(ctx, id); err != nil || c.Type != TypeSymmetric || !e.reg.CheckSecret(ctx, id, secret) {
		t.Fatalf("stored: %+v %v", c, err)
	}
	// The management API never shows that secret.
	if _, _, _, raw := e.do("GET", "/api/clients/"+id, ""); strings.Contains(raw, secret) {
		t.Fatalf("secret leaked: %s", raw)
	}

	// Public client.
	st, _, body, raw = e.do("POST", "/auth/register", `{"redirect_uris":["http://localhost:3000/cb"],"token_endpoint_auth_method":"none","response_types":["code"]}`)
	if st != 201 || body["client_secret"] != nil || body["client_secret_expires_at"] != nil || body["token_endpoint_auth_method"] != AuthNone {
		t.Fatalf("public: %d %s", st, raw)
	}

	// Backend service with an inline JWKS, then a real assertion authenticates it.
	k := newECKey(t, "svc-key", elliptic.P384())
	reqBody, _ := json.Marshal(map[string]any{
		"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt",
		"jwks": json.RawMessage(publicSet(t, k)), "scope": "system/*.rs",
	})
	st, _, body, raw = e.do("POST", "/auth/register", string(reqBody))
	if st != 201 || body["client_secret"] != nil || body["response_types"] != nil || body["jwks"] == nil {
		t.Fatalf("backend: %d %s", st, raw)
	}
	if gt := body["grant_types"].([]any); len(gt) != 1 || gt[0] != GrantClientCredentials {
		t.Fatalf("backend grant_types: %v", gt)
	}
	svc := body["client_id"].(string)
	e.wantOK(sign(t, k, jose.ES384, "svc-key", nil, claimsFor(svc, e.clk)), "", svc)

	// Asymmetric code-grant client with a jwks_uri.
	st, _, body, raw = e.do("POST", "/auth/register", `{"redirect_uris":["https://app.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example/jwks.json"}`)
	if st != 201 || body["jwks_uri"] != "https://app.example/jwks.json" || body["token_endpoint_auth_method"] != AuthPrivateKeyJWT {
		t.Fatalf("asymmetric: %d %s", st, raw)
	}
	if c, _ := e.reg.Get(ctx, body["client_id"].(string)); c.Type != TypeAsymmetric {
		t.Fatalf("asymmetric stored as %s", c.Type)
	}
}

func TestRFC7591RegistrationErrors(t *testing.T) {
	e := newAPIEnv(t)
	k := newECKey(t, "k", elliptic.P384())
	jwks := string(publicSet(t, k))
	cases := []struct{ name, body, code, field string }{
		{"no redirect uris", `{"token_endpoint_auth_method":"none"}`, "invalid_redirect_uri", "redirect_uris"},
		{"fragment", `{"redirect_uris":["https://a.example/cb#f"],"token_endpoint_auth_method":"none"}`, "invalid_redirect_uri", "redirect_uris"},
		{"relative", `{"redirect_uris":["cb"],"token_endpoint_auth_method":"none"}`, "invalid_redirect_uri", "redirect_uris"},
		{"both key forms", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwks + `,"jwks_uri":"https://a.example/j"}`, "invalid_client_metadata", "jwks"},
		{"no keys", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}`, "invalid_client_metadata", "jwks"},
		{"bad jwks_uri", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"j.json"}`, "invalid_client_metadata", "jwks_uri"},
		{"backend with secret", `{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`, "invalid_client_metadata", "token_endpoint_auth_method"},
		{"mixed grants", `{"grant_types":["client_credentials","authorization_code"],"token_endpoint_auth_method":"private_key_jwt","jwks":` + jwks + `}`, "invalid_client_metadata", "grant_types"},
		{"implicit", `{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}`, "invalid_client_metadata", "grant_types"},
		{"refresh only", `{"redirect_uris":["https://a.example/cb"],"grant_types":["refresh_token"]}`, "invalid_client_metadata", "grant_types"},
		{"token response type", `{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}`, "invalid_client_metadata", "response_types"},
		{"client_secret_jwt", `{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_jwt"}`, "invalid_client_metadata", "token_endpoint_auth_method"},
		{"bad scope", `{"redirect_uris":["https://a.example/cb"],"scope":"a  b"}`, "invalid_client_metadata", "scope"},
		{"wrong type", `{"redirect_uris":"https://a.example/cb"}`, "invalid_client_metadata", "redirect_uris"},
		{"not json", `nope`, "invalid_client_metadata", "body"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, _, body, raw := e.do("POST", "/auth/register", tc.body)
			if st != 400 || body["error"] != tc.code || body["field"] != tc.field || body["error_description"] == "" {
				t.Fatalf("status %d body %s, want 400 %s naming %s", st, raw, tc.code, tc.field)
			}
		})
	}
	list, _ := e.reg.List(context.Background())
	if len(list) != 5 {
		t.Fatalf("%d clients after failed registrations, want the 5 demo clients", len(list))
	}
}
