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
	"time"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Every simulated error (docs/simulated-errors.md), minted through POST
// /api/launches and played over plain HTTP: the failure happens at the step a
// real server would fail, with the status, error code and state a client
// sees.
func TestSimulatedErrorsThroughLaunchAPI(t *testing.T) {
	t.Parallel()
	s := ehrsimtest.Start(t)
	type want struct {
		page        bool   // authorize renders an error page, no redirect
		authorize   string // error in the authorize redirect
		token       int    // token status ("" code means success)
		tokenError  string
		refresh     int // refresh status (0: not tried)
		fhir        int // status of the first FHIR read
		fhirHeader  string
		minDuration time.Duration
	}
	cases := map[string]want{
		"auth_invalid_client_id":           {page: true},
		"auth_invalid_redirect_uri":        {page: true},
		"auth_invalid_scope":               {authorize: "invalid_scope"},
		"auth_access_denied":               {authorize: "access_denied"},
		"auth_temporarily_unavailable":     {authorize: "temporarily_unavailable"},
		"auth_invalid_client_secret":       {token: 401, tokenError: "invalid_client"},
		"token_invalid_token":              {token: 400, tokenError: "invalid_grant"},
		"token_invalid_scope":              {token: 400, tokenError: "invalid_scope"},
		"token_invalid_jti":                {token: 401, tokenError: "invalid_client"},
		"token_expired_registration_token": {token: 401, tokenError: "invalid_client"},
		"token_server_error":               {token: 500, tokenError: "server_error"},
		"token_expired_refresh_token":      {token: 200, refresh: 400, fhir: 200},
		"request_invalid_token":            {token: 200, fhir: 401, fhirHeader: `error="invalid_token"`},
		"request_expired_token":            {token: 200, fhir: 401, fhirHeader: `error="invalid_token"`},
		"request_insufficient_scope":       {token: 200, fhir: 403, fhirHeader: `error="insufficient_scope"`},
		"request_server_error":             {token: 200, fhir: 500},
		"request_rate_limited":             {token: 200, fhir: 429},
		"request_slow":                     {token: 200, fhir: 200, minDuration: 900 * time.Millisecond},
	}
	if len(cases) != len(smart.SimulatedErrors) {
		t.Fatalf("%d cases for %d simulated errors: keep them in step", len(cases), len(smart.SimulatedErrors))
	}
	for _, name := range smart.SimulatedErrorNames() {
		w, ok := cases[name]
		if !ok {
			t.Fatalf("no case for %s", name)
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			redirect := s.Base + "/sample-app/index.html"
			var minted struct{ Launch, ISS string }
			json.Unmarshal(post(t, s.Base+"/api/launches", map[string]any{
				"launch_type": "provider-ehr", "patient": "pat-amy-shaw", "skip_login": true, "skip_consent": true,
				"simulate_error": name,
			}, http.StatusCreated), &minted)

			verifier := strings.Repeat("w", 43)
			sum := sha256.Sum256([]byte(verifier))
			q := url.Values{
				"response_type": {"code"}, "client_id": {"sample-app"}, "redirect_uri": {redirect},
				"scope": {"launch openid offline_access patient/*.rs"}, "state": {"st-" + name}, "aud": {minted.ISS},
				"launch": {minted.Launch}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
			}
			c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			resp, err := c.Get(s.AuthorizeURL + "?" + q.Encode())
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if w.page {
				if resp.StatusCode < 400 || resp.Header.Get("Location") != "" || !strings.Contains(resp.Header.Get("Content-Type"), "text/html") {
					t.Fatalf("authorize = %d Location %q, want an HTML error page and no redirect", resp.StatusCode, resp.Header.Get("Location"))
				}
				return
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusFound || loc == nil {
				t.Fatalf("authorize = %d %s", resp.StatusCode, body)
			}
			if got := loc.Query().Get("state"); got != "st-"+name {
				t.Fatalf("state = %q", got)
			}
			if w.authorize != "" {
				if got := loc.Query().Get("error"); got != w.authorize || loc.Query().Get("code") != "" {
					t.Fatalf("authorize redirect %s, want error=%s and no code", loc, w.authorize)
				}
				return
			}
			code := loc.Query().Get("code")
			if code == "" {
				t.Fatalf("no code: %s", loc)
			}

			form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "client_id": {"sample-app"}, "code_verifier": {verifier}}
			status, tok := tokenPost(t, s.TokenURL, form)
			if status != w.token {
				t.Fatalf("token = %d %v, want %d", status, tok, w.token)
			}
			if w.tokenError != "" {
				if tok["error"] != w.tokenError {
					t.Fatalf("token error = %v, want %s", tok["error"], w.tokenError)
				}
				return
			}
			if w.refresh != 0 {
				status, body := tokenPost(t, s.TokenURL, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok["refresh_token"].(string)}, "client_id": {"sample-app"}})
				if status != w.refresh || body["error"] != "invalid_grant" {
					t.Fatalf("refresh = %d %v, want %d invalid_grant", status, body, w.refresh)
				}
			}
			req, _ := http.NewRequest(http.MethodGet, minted.ISS+"/Patient/pat-amy-shaw", nil)
			req.Header.Set("Authorization", "Bearer "+tok["access_token"].(string))
			start := time.Now()
			fr, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			fb, _ := io.ReadAll(fr.Body)
			fr.Body.Close()
			took := time.Since(start)
			if fr.StatusCode != w.fhir {
				t.Fatalf("FHIR read = %d %s, want %d", fr.StatusCode, fb, w.fhir)
			}
			if w.fhir != 200 && !strings.Contains(string(fb), `"resourceType":"OperationOutcome"`) {
				t.Errorf("FHIR error body is not an OperationOutcome: %s", fb)
			}
			if w.fhirHeader != "" && !strings.Contains(fr.Header.Get("WWW-Authenticate"), w.fhirHeader) {
				t.Errorf("WWW-Authenticate = %q, want %s", fr.Header.Get("WWW-Authenticate"), w.fhirHeader)
			}
			if w.fhir == 429 && fr.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
			// request_slow adds a deliberate delay: its presence is the feature.
			if took < w.minDuration {
				t.Errorf("FHIR read took %s, want the simulated delay of at least %s", took, w.minDuration)
			}
		})
	}
}

func tokenPost(t *testing.T, u string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	json.NewDecoder(resp.Body).Decode(&body)
	return resp.StatusCode, body
}
