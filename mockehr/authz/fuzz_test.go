package authz

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// FuzzAuthorizeAndToken throws arbitrary parameters at /authorize (GET and
// POST), /oauth/token, introspection and revocation: never a panic, never a
// 5xx, and every error of the right kind (checkOAuthAnswer).
//
// Under -fuzz it used to sit at 0 exec/s for minutes: every request goes
// through SQLite (client and token look-ups), and modernc.org/sqlite is
// coverage-instrumented like all code under -fuzz, so coverage depends on
// the database's history (page layout, statement cache, WAL) as well as on
// the input. Inputs kept looking new, and the fuzzer minimized each one for
// the default -fuzzminimizetime of 60 s, executions it does not count.
// `go tool task fuzz` bounds minimization (-fuzzminimizetime 100x).
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
			checkOAuthAnswer(t, req, rec)
		}
	})
}

// checkOAuthAnswer: the authorization endpoint answers with a redirect
// (carrying the code or error) or a 4xx page; the token, introspection and
// revocation endpoints answer 4xx with an OAuth error JSON (RFC 6749 §5.2).
func checkOAuthAnswer(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch {
	case rec.Code >= 300 && rec.Code < 400:
		if rec.Header().Get("Location") == "" {
			t.Fatalf("%s %s: %d without Location", req.Method, req.URL, rec.Code)
		}
	case strings.HasSuffix(req.URL.Path, "/authorize"):
		if rec.Code < 400 && rec.Code != http.StatusOK || rec.Body.Len() == 0 {
			t.Fatalf("%s %s: %d %q", req.Method, req.URL, rec.Code, rec.Body)
		}
	case rec.Code >= 400:
		var e struct {
			Error string `json:"error"`
		}
		if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") || json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" {
			t.Fatalf("%s %s: %d is not an OAuth error JSON: %q %.300s", req.Method, req.URL, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
		}
	}
}

func postReq(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}
