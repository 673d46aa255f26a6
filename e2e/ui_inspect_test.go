package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
	"github.com/playwright-community/playwright-go"
)

// minted is the launch API's answer.
type minted struct {
	ID        string `json:"id"`
	Launch    string `json:"launch"`
	ISS       string `json:"iss"`
	LaunchURL string `json:"launch_url"`
}

func mintLaunch(t *testing.T, base string, body map[string]any) minted {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(base+"/api/launches", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m minted
	if res.StatusCode != http.StatusCreated || json.NewDecoder(res.Body).Decode(&m) != nil || m.ID == "" {
		t.Fatalf("POST /api/launches %s: %d", b, res.StatusCode)
	}
	return m
}

func getBody(t *testing.T, u string) []byte {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
	}
	return b
}

// timelineKinds reads the kinds of the timeline's steps, in page order.
func timelineKinds(t *testing.T, page playwright.Page) []string {
	t.Helper()
	v, err := page.Locator(`[data-testid="timeline"] > li`).EvaluateAll(`els => els.map(e => e.dataset.kind)`)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range v.([]any) {
		out = append(out, k.(string))
	}
	return out
}

// The sample app's EHR launch from the launcher page, then its "Inspect
// this launch" link: the timeline shows every step in order, no error.
func TestUIInspectorSampleAppEHRLaunch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	page := newPage(t)
	goto_(t, page, s.URL+"/")
	_, name := firstPatient(t, page)
	expect(t, page.GetByTestId("skip-login").Check())
	expect(t, page.GetByTestId("skip-consent").Check())
	expect(t, page.GetByTestId("mint").Click())
	expect(t, assert.Locator(page.GetByTestId("result-inspect")).ToBeVisible())
	fromLauncher, err := page.GetByTestId("result-inspect").GetAttribute("href")
	if err != nil || !strings.HasPrefix(fromLauncher, "/inspect/") {
		t.Fatalf("launcher's inspector link %q (%v)", fromLauncher, err)
	}
	href, err := page.GetByTestId("launch-app").GetAttribute("href")
	if err != nil {
		t.Fatal(err)
	}
	goto_(t, page, href)
	expectAppShowsPatient(t, page.Locator("body"), name)

	link := page.GetByTestId("inspect-launch")
	expect(t, assert.Locator(link).ToBeVisible())
	expect(t, assert.Locator(link).ToHaveAccessibleName(regexp.MustCompile(`Inspect this launch`)))
	inspectHref, err := link.GetAttribute("href")
	if err != nil {
		t.Fatal(err)
	}
	goto_(t, page, inspectHref) // the launch code resolves to the launch's timeline
	expect(t, assert.Page(page).ToHaveURL(s.URL+fromLauncher))
	expect(t, assert.Locator(page.GetByTestId("timeline-counts")).ToContainText("0 errors"))
	expect(t, assert.Locator(page.GetByTestId("timeline-client")).ToHaveText("sample-app"))
	kinds := strings.Join(timelineKinds(t, page), " ")
	if !regexp.MustCompile(`^launch\.minted( discovery)+ authorize code\.issued token( fhir)+$`).MatchString(kinds) {
		t.Fatalf("timeline steps: %s", kinds)
	}
	expect(t, assert.Locator(page.GetByTestId("step-1-offset")).ToHaveText("+0 ms"))
	// Request and response details open on demand.
	token := page.Locator(`[data-testid="timeline"] > li[data-kind="token"]`)
	resp := token.Locator(`details[data-testid$="-response"]`)
	expect(t, assert.Locator(resp.Locator("dl")).ToBeHidden())
	expect(t, resp.Locator("summary").Click())
	expect(t, assert.Locator(resp.Locator("dl")).ToContainText("pat-"))
	// The recent launches list links here.
	expect(t, page.GetByTestId("nav-inspect").Click())
	expect(t, assert.Locator(page.Locator(`[data-testid="inspect-launches"] a[href="`+fromLauncher+`"]`)).ToBeVisible())
}

// sloppyApp is a deliberately careless SMART app, served cross-origin on
// 127.0.0.1: PKCE plain first (refused), then S256 without state, the
// access token in the query string, and a read of another patient.
const sloppyApp = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Sloppy app</title></head>
<body>
<p data-testid="sloppy-status" aria-live="polite">starting</p>
<pre data-testid="sloppy-log"></pre>
<script>
const CLIENT = "sloppy-app";
const SCOPE = "launch openid fhirUser patient/Patient.rs patient/Observation.rs";
const REDIRECT = location.origin + "/callback";
const status = (m) => { document.querySelector("[data-testid=sloppy-status]").textContent = m; };
// The log survives the redirects (sessionStorage).
const log = (m) => {
  sessionStorage.setItem("sloppy-log", (sessionStorage.getItem("sloppy-log") || "") + m + "\n");
  document.querySelector("[data-testid=sloppy-log]").textContent = sessionStorage.getItem("sloppy-log");
};
const b64url = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
async function main() {
  const p = new URLSearchParams(location.search);
  if (location.pathname === "/launch") {
    const iss = p.get("iss"), launch = p.get("launch");
    const conf = await (await fetch(iss + "/.well-known/smart-configuration")).json();
    const verifier = "sloppy-verifier-".padEnd(48, "x");
    sessionStorage.setItem("sloppy", JSON.stringify({ iss, launch, conf, verifier }));
    const q = new URLSearchParams({ response_type: "code", client_id: CLIENT, redirect_uri: REDIRECT, scope: SCOPE,
      aud: iss, launch, state: "st-1", code_challenge: verifier, code_challenge_method: "plain" });
    location.assign(conf.authorization_endpoint + "?" + q);
    return;
  }
  const s = JSON.parse(sessionStorage.getItem("sloppy"));
  if (p.get("error")) {
    log("authorize refused: " + p.get("error"));
    const challenge = b64url(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(s.verifier)));
    const q = new URLSearchParams({ response_type: "code", client_id: CLIENT, redirect_uri: REDIRECT, scope: SCOPE,
      aud: s.iss, launch: s.launch, code_challenge: challenge, code_challenge_method: "S256" }); // no state
    location.assign(s.conf.authorization_endpoint + "?" + q);
    return;
  }
  const res = await fetch(s.conf.token_endpoint, { method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "authorization_code", code: p.get("code"), redirect_uri: REDIRECT,
      client_id: CLIENT, code_verifier: s.verifier }) });
  const tok = await res.json();
  log("token: " + res.status);
  const r1 = await fetch(s.iss + "/Patient/" + tok.patient + "?access_token=" + encodeURIComponent(tok.access_token));
  log("token in the query: " + r1.status);
  const r2 = await fetch(s.iss + "/Patient/pat-grace-kim", { headers: { Authorization: "Bearer " + tok.access_token } });
  log("other patient: " + r2.status);
  status("done");
}
main().catch((e) => status("failed: " + e));
</script>
</body></html>`

// The sloppy app gets exactly its four diagnostics, the same in the
// inspector page, the JSON API, the report page, the JUnit report and
// `ehrsim report` (exit 1).
func TestUIInspectorSloppyAppDiagnostics(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	appSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		io.WriteString(w, sloppyApp)
	}))
	t.Cleanup(appSrv.Close)
	l := mintLaunch(t, s.URL, map[string]any{"launch_type": "provider-ehr", "patient": "pat-amy-shaw", "skip_login": true, "skip_consent": true,
		"app_launch_url": appSrv.URL + "/launch",
		"client":         map[string]any{"client_id": "sloppy-app", "redirect_uris": []string{appSrv.URL + "/callback"}}})

	page := newPage(t)
	goto_(t, page, l.LaunchURL)
	expect(t, assert.Locator(page.GetByTestId("sloppy-status")).ToHaveText("done"))
	expect(t, assert.Locator(page.GetByTestId("sloppy-log")).ToContainText("authorize refused: invalid_request"))
	expect(t, assert.Locator(page.GetByTestId("sloppy-log")).ToContainText("token: 200"))

	want := []string{inspect.RulePKCEPlain, inspect.RuleStateMissing, inspect.RuleTokenInQuery, inspect.RuleOtherPatient}

	// The inspector page.
	goto_(t, page, s.URL+"/inspect/"+l.ID)
	expect(t, assert.Locator(page.GetByTestId("timeline-counts")).ToHaveText("4 errors, 0 warnings"))
	diags := page.Locator(`[data-testid="timeline"] li[data-rule]`)
	v, err := diags.EvaluateAll(`els => els.map(e => e.dataset.rule + " " + e.dataset.severity)`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, x := range v.([]any) {
		got = append(got, x.(string))
	}
	var wantSev []string
	for _, r := range want {
		wantSev = append(wantSev, r+" error")
	}
	if !slices.Equal(got, wantSev) {
		t.Fatalf("inspector page diagnostics %v, want %v", got, wantSev)
	}
	for _, r := range want {
		d := page.Locator(`[data-testid="timeline"] li[data-rule="` + r + `"]`)
		expect(t, assert.Locator(d).ToBeVisible())
		spec := d.Locator(`a[data-testid$="-spec"]`)
		expect(t, assert.Locator(spec).ToHaveAttribute("href", regexp.MustCompile(`^https://`)))
		expect(t, assert.Locator(spec).ToHaveAccessibleName(regexp.MustCompile(`^Specification: `)))
	}

	// The JSON API.
	var evs inspect.EventsBody
	if err := json.Unmarshal(getBody(t, s.URL+"/api/launches/"+l.ID+"/events"), &evs); err != nil {
		t.Fatal(err)
	}
	var api []string
	for _, e := range evs.Events {
		for _, d := range e.Diagnostics {
			api = append(api, d.Rule)
		}
	}
	if !slices.Equal(api, want) || evs.Errors != 4 {
		t.Fatalf("JSON API diagnostics %v (errors %d), want %v", api, evs.Errors, want)
	}

	// The report page, reached from the timeline.
	expect(t, page.GetByTestId("timeline-report-link").Click())
	expect(t, assert.Locator(page.GetByTestId("report-counts")).ToHaveText("4 errors, 0 warnings"))
	for _, r := range want {
		expect(t, assert.Locator(page.GetByTestId("rule-"+r+"-outcome")).ToHaveText("fail"))
		expect(t, assert.Locator(page.GetByTestId("rule-"+r+"-fix")).ToBeVisible())
		expect(t, assert.Locator(page.GetByTestId("rule-"+r+"-evidence-1-link")).ToHaveAttribute("href", regexp.MustCompile(`^/inspect/`+regexp.QuoteMeta(l.ID)+`#step-\d+$`)))
	}

	// The JUnit report.
	var suites struct {
		Suites []struct {
			Failures int `xml:"failures,attr"`
			Cases    []struct {
				Failure *struct {
					Type string `xml:"type,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(getBody(t, s.URL+"/api/clients/sloppy-app/report?format=junit"), &suites); err != nil {
		t.Fatal(err)
	}
	var junit []string
	for _, c := range suites.Suites[0].Cases {
		if c.Failure != nil {
			junit = append(junit, c.Failure.Type)
		}
	}
	slices.Sort(junit)
	sorted := slices.Sorted(slices.Values(want))
	if suites.Suites[0].Failures != 4 || !slices.Equal(junit, sorted) {
		t.Fatalf("JUnit failures %d %v, want %v", suites.Suites[0].Failures, junit, sorted)
	}

	// The CLI: exit 1 (a failed report, not a usage error).
	var out bytes.Buffer
	err = app.Run(context.Background(), []string{"report", "--url", s.URL, "--client", "sloppy-app"}, func(string) string { return "" }, &out)
	var failed *app.ReportFailedError
	if !errors.As(err, &failed) || app.IsUsage(err) || failed.Errors != 4 {
		t.Fatalf("ehrsim report: %v (usage %v), want 4 failed rules (exit 1)\n%s", err, app.IsUsage(err), out.String())
	}
	for _, r := range want {
		if !strings.Contains(out.String(), "FAIL  "+r) {
			t.Errorf("ehrsim report output lacks FAIL %s:\n%s", r, out.String())
		}
	}
}

// The timeline follows a running launch: a step recorded after the page
// was opened appears without a reload.
func TestUIInspectorTimelineLive(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	redirect := s.URL + "/sample-app/index.html"
	l := mintLaunch(t, s.URL, map[string]any{"launch_type": "provider-ehr", "patient": "pat-amy-shaw", "skip_login": true, "skip_consent": true})
	page := newPage(t)
	goto_(t, page, s.URL+"/inspect/"+l.ID)
	expect(t, assert.Locator(page.GetByTestId("timeline-steps")).ToHaveText("1 step"))
	expect(t, assert.Locator(page.GetByTestId("timeline-live")).ToContainText("Following this launch live"))
	if _, err := page.Evaluate(`window.__sameDocument = true`); err != nil {
		t.Fatal(err)
	}

	// An authorize request (no state: a diagnostic too) recorded now.
	q := url.Values{"response_type": {"code"}, "client_id": {"sample-app"}, "redirect_uri": {redirect}, "scope": {"launch patient/Patient.rs"},
		"aud": {l.ISS}, "launch": {l.Launch}, "code_challenge": {strings.Repeat("A", 43)}, "code_challenge_method": {"S256"}}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Get(s.AuthorizeURL + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: %d", res.StatusCode)
	}

	expect(t, assert.Locator(page.Locator(`[data-testid="timeline"] > li[data-kind="authorize"]`)).ToBeVisible())
	expect(t, assert.Locator(page.Locator(`[data-testid="timeline"] li[data-rule="state-missing"]`)).ToBeVisible())
	expect(t, assert.Locator(page.GetByTestId("timeline-counts")).ToHaveText("1 error, 0 warnings"))
	expect(t, assert.Locator(page.GetByTestId("timeline-steps")).ToHaveText("3 steps"))
	if same, err := page.Evaluate(`window.__sameDocument === true`); err != nil || same != true {
		t.Fatalf("the page was reloaded (%v, %v)", same, err)
	}
}
