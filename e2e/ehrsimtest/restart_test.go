package ehrsimtest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
)

// Signing keys, registered clients, refresh tokens and launches survive a
// restart with the same data directory (docs/architecture.md, state and
// storage). The whole binary is restarted on the same address; everything
// minted before keeps working.
func TestRestartKeepsLaunchesClientsKeysAndRefreshTokens(t *testing.T) {
	s1 := ehrsimtest.Start(t)
	const secret = "restart-secret-0123456789abcdef"
	redirect := "http://127.0.0.1:9/cb"
	post(t, s1.Base+"/api/clients", map[string]any{
		"client_id": "restart-app", "client_type": "confidential-symmetric", "client_secret": secret,
		"redirect_uris": []string{redirect},
	}, http.StatusCreated)
	launch := func(s *ehrsimtest.Server) string {
		var res struct{ Launch string }
		json.Unmarshal(post(t, s.Base+"/api/launches", map[string]any{
			"launch_type": "provider-ehr", "patient": "pat-amy-shaw", "skip_login": true, "skip_consent": true,
			"client": map[string]any{"client_id": "restart-app"},
		}, http.StatusCreated), &res)
		return res.Launch
	}
	before := launch(s1)
	unused := launch(s1)
	tok := codeFlow(t, s1, before, redirect, secret)
	kid := idTokenKID(t, tok["id_token"].(string))

	s1.Stop()
	s2 := ehrsimtest.Start(t, ehrsimtest.WithArgs("--data-dir", s1.DataDir, "--listen", s1.Addr))
	if s2.Base != s1.Base {
		t.Fatalf("restarted on %s, want %s", s2.Base, s1.Base)
	}

	// The refresh token issued before the restart refreshes.
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}}
	var refreshed map[string]any
	json.Unmarshal(postForm(t, s2.TokenURL, form, "restart-app", secret, http.StatusOK), &refreshed)
	get(t, s2.FHIR+"/Patient/pat-amy-shaw", refreshed["access_token"].(string), http.StatusOK)
	// The signing key is the same one (its kid still signs id_tokens).
	if got := idTokenKID(t, refreshed["id_token"].(string)); got != kid {
		t.Errorf("id_token kid after restart = %s, want %s", got, kid)
	}
	// A launch minted before the restart authorizes after it, for the
	// client registered before it.
	after := codeFlow(t, s2, unused, redirect, secret)
	get(t, s2.FHIR+"/Patient/pat-amy-shaw", after["access_token"].(string), http.StatusOK)
}

// codeFlow runs authorize (skip login/consent) and the code exchange.
func codeFlow(t *testing.T, s *ehrsimtest.Server, launch, redirect, secret string) map[string]any {
	t.Helper()
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {"restart-app"}, "redirect_uri": {redirect},
		"scope": {"launch openid fhirUser offline_access patient/*.rs"}, "state": {"st"}, "aud": {s.FHIR},
		"launch": {launch}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(s.AuthorizeURL + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	code := loc.Query().Get("code")
	if resp.StatusCode != http.StatusFound || code == "" {
		t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier}}
	var tok map[string]any
	json.Unmarshal(postForm(t, s.TokenURL, form, "restart-app", secret, http.StatusOK), &tok)
	if tok["refresh_token"] == nil || tok["id_token"] == nil {
		t.Fatalf("token response lacks refresh_token or id_token: %v", tok)
	}
	return tok
}

func idTokenKID(t *testing.T, jwt string) string {
	t.Helper()
	head, err := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	if err != nil {
		t.Fatal(err)
	}
	var h struct{ Kid string }
	json.Unmarshal(head, &h)
	if h.Kid == "" {
		t.Fatalf("id_token header without kid: %s", head)
	}
	return h.Kid
}

func post(t *testing.T, u string, body any, want int) []byte {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req, want)
}

func postForm(t *testing.T, u string, form url.Values, id, secret string, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	return do(t, req, want)
}

func get(t *testing.T, u, bearer string, want int) []byte {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "Bearer "+bearer)
	return do(t, req, want)
}

func do(t *testing.T, req *http.Request, want int) []byte {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s = %d, want %d: %s", req.Method, req.URL, resp.StatusCode, want, b)
	}
	return b
}
