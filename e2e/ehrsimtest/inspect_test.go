package ehrsimtest_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
)

// inspectFlow is one app's run against a launch, driven over plain HTTP.
type inspectFlow struct {
	t        *testing.T
	s        *ehrsimtest.Server
	clientID string
	redirect string
	launchID string
	launch   string
	iss      string
	c        *http.Client
}

func newInspectFlow(t *testing.T, s *ehrsimtest.Server, client map[string]any) *inspectFlow {
	body := map[string]any{"launch_type": "provider-ehr", "patient": "pat-amy-shaw", "skip_login": true, "skip_consent": true}
	f := &inspectFlow{t: t, s: s, clientID: "sample-app", redirect: s.Base + "/sample-app/index.html",
		c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	if client != nil {
		body["client"] = client
		f.clientID = client["client_id"].(string)
		f.redirect = client["redirect_uris"].([]string)[0]
	}
	var minted struct{ ID, Launch, ISS string }
	json.Unmarshal(post(t, s.Base+"/api/launches", body, http.StatusCreated), &minted)
	f.launchID, f.launch, f.iss = minted.ID, minted.Launch, minted.ISS
	return f
}

func (f *inspectFlow) get(u string, hdr map[string]string) *http.Response {
	f.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := f.c.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// authorize sends the authorize request with extra parameters (nil values
// are left out) and returns the redirect's query.
func (f *inspectFlow) authorize(extra map[string]string) url.Values {
	f.t.Helper()
	q := url.Values{"response_type": {"code"}, "client_id": {f.clientID}, "redirect_uri": {f.redirect},
		"scope": {"launch openid fhirUser patient/Patient.rs patient/Observation.rs"}, "aud": {f.iss}, "launch": {f.launch}}
	for k, v := range extra {
		if v == "" {
			q.Del(k)
		} else {
			q.Set(k, v)
		}
	}
	resp := f.get(f.s.AuthorizeURL+"?"+q.Encode(), nil)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		f.t.Fatalf("authorize = %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func s256(v string) string {
	sum := sha256.Sum256([]byte(v))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func (f *inspectFlow) token(code, verifier string) string {
	f.t.Helper()
	status, tok := tokenPost(f.t, f.s.TokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {f.redirect}, "client_id": {f.clientID}, "code_verifier": {verifier}})
	if status != http.StatusOK {
		f.t.Fatalf("token = %d %v", status, tok)
	}
	return tok["access_token"].(string)
}

func (f *inspectFlow) events() inspect.EventsBody {
	f.t.Helper()
	var body inspect.EventsBody
	if err := json.Unmarshal(get(f.t, f.s.Base+"/api/launches/"+f.launchID+"/events", "", http.StatusOK), &body); err != nil {
		f.t.Fatal(err)
	}
	return body
}

func kinds(evs []inspect.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Kind))
	}
	return out
}

// The sample app's EHR launch, done right: every step is in the timeline,
// in order, with no error diagnostics, and its report has no failure.
func TestInspectorCleanEHRLaunch(t *testing.T) {
	t.Parallel()
	s := ehrsimtest.Start(t)
	f := newInspectFlow(t, s, nil)
	f.get(f.iss+"/.well-known/smart-configuration", nil)
	verifier := strings.Repeat("v", 43)
	q := f.authorize(map[string]string{"state": "st-1", "code_challenge": s256(verifier), "code_challenge_method": "S256"})
	at := f.token(q.Get("code"), verifier)
	if r := f.get(f.iss+"/Patient/pat-amy-shaw", map[string]string{"Authorization": "Bearer " + at}); r.StatusCode != 200 {
		t.Fatalf("read = %d", r.StatusCode)
	}
	if r := f.get(f.iss+"/Observation?patient=pat-amy-shaw&_count=2", map[string]string{"Authorization": "Bearer " + at}); r.StatusCode != 200 {
		t.Fatalf("search = %d", r.StatusCode)
	}
	body := f.events()
	want := []string{"launch.minted", "discovery", "authorize", "code.issued", "token", "fhir", "fhir"}
	if got := kinds(body.Events); !slices.Equal(got, want) {
		t.Fatalf("timeline %v, want %v", got, want)
	}
	for i, e := range body.Events {
		if e.Seq != int64(i+1) || e.LaunchID != f.launchID || e.ClientID != "sample-app" {
			t.Errorf("event %d: seq %d launch %s client %s", i, e.Seq, e.LaunchID, e.ClientID)
		}
		if i > 0 && e.At.Before(body.Events[i-1].At) {
			t.Errorf("event %d is older than the one before it", i)
		}
	}
	if body.Errors != 0 {
		t.Fatalf("a clean launch has %d error diagnostics: %+v", body.Errors, body.Events)
	}
	tok := body.Events[4]
	if tok.Status != 200 || tok.Response["patient"] != "pat-amy-shaw" || tok.Response["id_token"] == "" || tok.Request["pkce"] == "" {
		t.Errorf("token event %+v", tok)
	}
	if body.Events[6].Response["total"] == "" {
		t.Errorf("search event has no result count: %+v", body.Events[6])
	}
	if strings.Contains(string(mustJSON(body)), at) {
		t.Fatal("the access token appears in the events")
	}
	var rep inspect.Report
	json.Unmarshal(get(t, s.Base+"/api/clients/sample-app/report", "", http.StatusOK), &rep)
	if rep.Errors != 0 || rep.Launches != 1 {
		t.Fatalf("report: %d errors over %d launches: %+v", rep.Errors, rep.Launches, rep)
	}
}

func mustJSON(v any) []byte { b, _ := json.Marshal(v); return b }

// A sloppy app (PKCE plain, then no state, the token in the query string,
// another patient read) gets exactly those diagnostics, in the timeline,
// the JSON report and the JUnit report.
func TestInspectorSloppyAppDiagnostics(t *testing.T) {
	t.Parallel()
	s := ehrsimtest.Start(t)
	f := newInspectFlow(t, s, map[string]any{"client_id": "sloppy-app", "redirect_uris": []string{"http://127.0.0.1:9/cb"}})
	verifier := strings.Repeat("s", 43)
	if q := f.authorize(map[string]string{"state": "st-1", "code_challenge": verifier, "code_challenge_method": "plain"}); q.Get("error") != "invalid_request" {
		t.Fatalf("plain PKCE: %v, want invalid_request", q)
	}
	q := f.authorize(map[string]string{"code_challenge": s256(verifier), "code_challenge_method": "S256"})
	at := f.token(q.Get("code"), verifier)
	if r := f.get(f.iss+"/Patient/pat-amy-shaw?access_token="+url.QueryEscape(at), nil); r.StatusCode != 401 {
		t.Fatalf("token in the query: %d, want 401", r.StatusCode)
	}
	if r := f.get(f.iss+"/Patient/pat-grace-kim", map[string]string{"Authorization": "Bearer " + at}); r.StatusCode != 404 && r.StatusCode != 403 {
		t.Fatalf("other patient: %d, want 403 or 404", r.StatusCode)
	}
	body := f.events()
	var got []string
	for _, e := range body.Events {
		for _, d := range e.Diagnostics {
			got = append(got, d.Rule)
			if d.Spec == "" || d.SpecURL == "" || d.Message == "" {
				t.Errorf("diagnostic without message or citation: %+v", d)
			}
		}
	}
	want := []string{inspect.RulePKCEPlain, inspect.RuleStateMissing, inspect.RuleTokenInQuery, inspect.RuleOtherPatient}
	if !slices.Equal(got, want) {
		t.Fatalf("diagnostics %v, want exactly %v", got, want)
	}
	var rep inspect.Report
	json.Unmarshal(get(t, s.Base+"/api/clients/sloppy-app/report", "", http.StatusOK), &rep)
	var failed []string
	for _, r := range rep.Rules {
		if r.Outcome == inspect.Fail {
			failed = append(failed, r.Rule)
			if len(r.Evidence) == 0 || r.Evidence[0].LaunchID != f.launchID || r.Fix == "" {
				t.Errorf("rule %s: evidence %+v fix %q", r.Rule, r.Evidence, r.Fix)
			}
		}
	}
	slices.Sort(failed)
	slices.Sort(want)
	if !slices.Equal(failed, want) || rep.Errors != 4 || !rep.Failed() {
		t.Fatalf("report failed %v (errors %d), want %v", failed, rep.Errors, want)
	}
	var suites struct {
		Suites []struct {
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(get(t, s.Base+"/api/clients/sloppy-app/report?format=junit", "", http.StatusOK), &suites); err != nil {
		t.Fatal(err)
	}
	if len(suites.Suites) != 1 || suites.Suites[0].Failures != 4 || len(suites.Suites[0].Cases) != len(inspect.Rules) {
		t.Fatalf("JUnit %+v", suites)
	}
}

// A simulated error is in the timeline as injected, beside the step it
// failed.
func TestInspectorRecordsSimulatedErrors(t *testing.T) {
	t.Parallel()
	s := ehrsimtest.Start(t)
	var minted struct{ ID, Launch, ISS string }
	json.Unmarshal(post(t, s.Base+"/api/launches", map[string]any{"launch_type": "provider-ehr", "patient": "pat-amy-shaw",
		"skip_login": true, "skip_consent": true, "simulate_error": "token_server_error"}, http.StatusCreated), &minted)
	f := &inspectFlow{t: t, s: s, clientID: "sample-app", redirect: s.Base + "/sample-app/index.html", launchID: minted.ID, launch: minted.Launch, iss: minted.ISS,
		c: &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	verifier := strings.Repeat("e", 43)
	q := f.authorize(map[string]string{"state": "st", "code_challenge": s256(verifier), "code_challenge_method": "S256"})
	if status, _ := tokenPost(t, s.TokenURL, url.Values{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {f.redirect}, "client_id": {"sample-app"}, "code_verifier": {verifier}}); status != 500 {
		t.Fatalf("token = %d, want the simulated 500", status)
	}
	body := f.events()
	got := kinds(body.Events)
	if want := []string{"launch.minted", "authorize", "code.issued", "token", "simulated_error"}; !slices.Equal(got, want) {
		t.Fatalf("timeline %v, want %v", got, want)
	}
	if e := body.Events[4]; e.Request["simulate_error"] != "token_server_error" || e.Status != 500 {
		t.Errorf("simulated error event %+v", e)
	}
}
