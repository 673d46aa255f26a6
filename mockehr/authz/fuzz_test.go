package authz

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzAuthorizeAndToken throws arbitrary parameters at /authorize (GET and
// POST) and /oauth/token: never a panic, never a 5xx.
func FuzzAuthorizeAndToken(f *testing.F) {
	f.Add("pub", "https://app.example/callback", "code", "patient/*.rs launch", "http://x/fhir", "S256", "abc", "authorization_code", "c")
	f.Add("", "", "", "", "", "plain", "", "refresh_token", "")
	f.Add("a b", "javascript:alert(1)", "token id_token", "patient/Observation.rs?category=a|b", "%zz", "", "\x00", "client_credentials", "x.y.z")
	h := newTestServerSerial(f).ts.Config.Handler
	f.Fuzz(func(t *testing.T, clientID, redirect, responseType, scope, aud, method, challenge, grant, code string) {
		v := url.Values{"client_id": {clientID}, "redirect_uri": {redirect}, "response_type": {responseType}, "scope": {scope},
			"aud": {aud}, "code_challenge_method": {method}, "code_challenge": {challenge}, "state": {code}, "launch": {code}, "prompt": {challenge}}
		for _, req := range []*http.Request{
			httptest.NewRequest(http.MethodGet, "/auth/authorize?"+v.Encode(), nil),
			postReq("/auth/authorize", v.Encode()),
			postReq("/auth/oauth/token", url.Values{"grant_type": {grant}, "code": {code}, "redirect_uri": {redirect}, "client_id": {clientID},
				"code_verifier": {challenge}, "refresh_token": {code}, "scope": {scope}, "client_assertion": {code}, "client_assertion_type": {method}}.Encode()),
			postReq("/auth/oauth/introspect", url.Values{"token": {code}}.Encode()),
			postReq("/auth/revoke", url.Values{"token": {code}, "client_id": {clientID}}.Encode()),
		} {
			rec := httptest.NewRecorder()
			done := make(chan struct{})
			go func() { h.ServeHTTP(rec, req); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				panic(fmt.Sprintf("hang: %s %s", req.Method, req.URL))
			}
			if rec.Code >= 500 {
				t.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, rec.Body)
			}
		}
	})
}

func postReq(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}
