package ui

import (
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

func TestLauncherPageRendersForm(t *testing.T) {
	tu := newTestUI(t)
	status, hdr, body := tu.get(t, "/")
	if status != http.StatusOK || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("status %d, Cache-Control %q", status, hdr.Get("Cache-Control"))
	}
	mustContain(t, body,
		`<form id="launch-form" method="post" action="/"`,
		`value="provider-ehr" checked data-testid="launch-type-provider-ehr"`,
		`data-testid="launch-type-backend-service"`,
		`data-testid="patient-p1"`, `Amy V. Shaw`, `38 y`, `MRN-1001`, `Type 2 diabetes, hypertension`,
		`data-testid="patient-p3"`, `13 mo`,
		`<option value="pr-2">Dr. Omar Haddad — Cardiologist</option>`,
		`value="`+tu.base+`/sample-app/launch.html"`,
		`<option value="demo-confidential">`,
		`data-testid="mint"`,
		`Used by: provider-ehr, provider-standalone`,
	)
	if n := strings.Count(body, `data-explanation=`); n != len(smart.SimulatedErrors) {
		t.Errorf("%d simulated error options, want %d", n, len(smart.SimulatedErrors))
	}
	// Every form control has a data-testid (ui/doc.go: every interactive element has a data-testid).
	for _, tag := range regexp.MustCompile(`<(input|select|textarea|button)\b[^>]*>`).FindAllString(body, -1) {
		if strings.Contains(tag, `type="hidden"`) {
			continue
		}
		if !strings.Contains(tag, "data-testid=") {
			t.Errorf("control without data-testid: %s", tag)
		}
	}
}

// A configured launch is a bookmarkable URL: query state fills the form,
// and the page's link reproduces the same query.
func TestLauncherQueryStateRoundTrips(t *testing.T) {
	tu := newTestUI(t)
	q := url.Values{
		"launch_type": {"patient-standalone"}, "patient": {"p1"}, "encounter": {"enc-2"},
		"fc_reference": {"Observation/obs-1"}, "fc_role": {"https://example.org/focus"},
		"need_patient_banner": {"false"}, "intent": {"review"}, "tenant": {"t1"},
		"skip_login": {"1"}, "client_id": {"my-app"}, "client_type": {"public"},
		"redirect_uris": {"https://app.example/cb"}, "scope": {"patient/*.rs openid"}, "pkce": {"optional"},
		"simulate_error": {"request_slow"}, "app_launch_url": {"https://app.example/launch"},
		"access_token_lifetime": {"600"}, "launch_once": {"1"},
	}
	status, _, body := tu.get(t, "/?"+q.Encode())
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	mustContain(t, body,
		`value="patient-standalone" checked data-testid="launch-type-patient-standalone"`,
		`value="p1" checked data-testid="patient-p1"`,
		`<option value="enc-2" selected>Annual checkup · 2024-05-01 (finished)</option>`,
		`value="Observation/obs-1"`, `value="https://example.org/focus"`,
		`<option value="false" selected>false</option>`,
		`checked data-testid="skip-login"`,
		`value="my-app"`, `<option value="optional" selected>`,
		`<option value="request_slow" selected`,
		`FHIR requests succeed, after an added delay`,
		`checked data-testid="launch-once"`,
		`value="600"`,
	)
	mustNotContain(t, body, `checked data-testid="skip-consent"`)

	link := regexp.MustCompile(`id="permalink">|href="([^"]*)" data-testid="permalink"`).FindStringSubmatch(body)
	if link == nil || link[1] == "" {
		t.Fatal("no permalink")
	}
	u, _ := url.Parse(html.UnescapeString(link[1]))
	if !reflect.DeepEqual(u.Query(), q) {
		t.Errorf("permalink query\n got %v\nwant %v", u.Query(), q)
	}
}

func TestLaunchFormQueryRoundTripKeepsSecretOut(t *testing.T) {
	f := LaunchForm{LaunchType: "provider-ehr", Patient: "p1", PatientIDs: "p1,p2", Encounter: "NONE", Practitioner: "pr-1",
		FHIRContext: []ContextRow{{"Observation/obs-1", ""}, {"https://x.example/Q|1", "https://r.example"}}, NeedPatientBanner: "true",
		SmartStyleURL: "https://s.example/style.json", Intent: "i", Tenant: "t", SkipLogin: true, SkipConsent: true, LaunchOnce: true,
		ClientID: "c", ClientType: "confidential-symmetric", ClientSecret: "hush", RedirectURIs: "https://a/cb", Scope: "openid",
		JWKSURL: "https://a/jwks", JWKS: `{"keys":[]}`, PKCE: "required", SimulateError: "token_server_error",
		AppLaunchURL: "", AccessTokenLifetime: "60", RefreshTokenLifetime: "120"}
	got := parseLaunchForm(f.Query(), "http://h")
	want := f
	want.ClientSecret = ""
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, want)
	}
	if strings.Contains(f.Permalink(), "hush") {
		t.Fatal("secret in permalink")
	}
}

// resultURL reads the launch URL out of the result panel.
func resultURL(t *testing.T, body string) *url.URL {
	t.Helper()
	m := regexp.MustCompile(`data-testid="result-launch-url">([^<]*)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no launch URL in result:\n%s", body)
	}
	u, err := url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func TestLauncherPostMintsEHRLaunch(t *testing.T) {
	tu := newTestUI(t)
	status, _, body := tu.post(t, "/", url.Values{
		"launch_type": {"provider-ehr"}, "patient": {"p1"}, "encounter": {"AUTO"}, "practitioner": {"pr-2"},
		"app_launch_url": {tu.base + "/sample-app/launch.html"}, "simulate_error": {"auth_access_denied"},
		"fc_reference": {"Observation/obs-1", ""}, "fc_role": {"https://example.org/focus", ""},
	})
	if status != http.StatusOK {
		t.Fatalf("status %d\n%s", status, body)
	}
	u := resultURL(t, body)
	if u.Query().Get("iss") != tu.base+"/fhir" {
		t.Errorf("iss %q", u.Query().Get("iss"))
	}
	code := u.Query().Get("launch")
	l, err := tu.launches.Open(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	if l.Patient() != "p1" || l.Encounter != "enc-1" || l.Practitioner != "pr-2" || l.SimulateError != "auth_access_denied" ||
		len(l.FHIRContext) != 1 || l.FHIRContext[0].Role != "https://example.org/focus" {
		t.Fatalf("launch %+v", l)
	}
	mustContain(t, body,
		`target="_blank"`, `data-testid="launch-app"`,
		`href="`+tu.base+`/ehr?launch=`+url.QueryEscape(code)+`" data-testid="launch-sim-ehr"`,
		`data-testid="copy-launch-url"`, `data-copy="#result-launch-url"`,
	)
}

func TestLauncherGetWithMintParamMints(t *testing.T) {
	tu := newTestUI(t)
	status, _, body := tu.get(t, "/?launch_type=patient-portal&patient=p2&mint=1")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	l, err := tu.launches.Open(context.Background(), resultURL(t, body).Query().Get("launch"))
	if err != nil || l.Type != launcher.PatientPortal || l.Patient() != "p2" {
		t.Fatalf("launch %+v, %v", l, err)
	}
}

// Validation errors from Mint appear next to the named field, linked by
// aria-describedby, with a 400.
func TestLauncherBadInputShowsFieldErrors(t *testing.T) {
	tu := newTestUI(t)
	cases := []struct {
		name  string
		form  url.Values
		field string
		msg   string
	}{
		{"unknown patient", url.Values{"launch_type": {"provider-ehr"}, "patient": {"nobody"}}, "patient", "unknown patient id"},
		{"foreign encounter", url.Values{"launch_type": {"provider-ehr"}, "patient": {"p1"}, "encounter": {"enc-3"}}, "encounter", "belongs to patient"},
		{"redirect with fragment", url.Values{"launch_type": {"provider-ehr"}, "client_id": {"adhoc"}, "redirect_uris": {"https://a.example/cb#x"}}, "redirect_uris", "fragment"},
		{"registered client with creds", url.Values{"launch_type": {"provider-ehr"}, "client_id": {"demo-public"}, "client_type": {"public"}}, "client_type", "is registered"},
		{"plain pkce", url.Values{"launch_type": {"provider-ehr"}, "pkce": {"plain"}}, "pkce", "S256 only"},
		{"bad role", url.Values{"launch_type": {"provider-ehr"}, "fc_reference": {"Observation/obs-1"}, "fc_role": {"not a uri"}}, "fhir_context", "absolute URI"},
		{"bad lifetime", url.Values{"launch_type": {"provider-ehr"}, "access_token_lifetime": {"ten"}}, "access_token_lifetime", "whole number"},
		{"bad jwks", url.Values{"launch_type": {"provider-ehr"}, "jwks": {"{nope"}}, "jwks", "not valid JSON"},
		{"no type", url.Values{"launch_type": {""}}, "launch_type", "required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, _, body := tu.post(t, "/", c.form)
			if status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400", status)
			}
			m := regexp.MustCompile(`<p class="field-error" id="err-` + c.field + `"[^>]*>([^<]*)<`).FindStringSubmatch(body)
			if m == nil || !strings.Contains(html.UnescapeString(m[1]), c.msg) {
				t.Fatalf("no error %q next to %s: %v", c.msg, c.field, m)
			}
			mustContain(t, body, `aria-describedby="err-`+c.field, `aria-invalid="true"`, `data-testid="error-summary"`)
			mustNotContain(t, body, `data-testid="launch-result"`)
		})
	}
}

// Fields that do not apply to backend services are not sent, so a leftover
// patient does not fail the launch; the result has the FHIR base and a
// ready client_credentials command.
func TestLauncherBackendLaunch(t *testing.T) {
	tu := newTestUI(t)
	status, _, body := tu.post(t, "/", url.Values{
		"launch_type": {"backend-service"}, "patient": {"p1"}, "encounter": {"AUTO"}, "app_launch_url": {tu.base + "/sample-app/launch.html"},
		"client_id": {"demo-backend"}, "simulate_error": {"request_rate_limited"},
	})
	if status != http.StatusOK {
		t.Fatalf("status %d\n%s", status, body)
	}
	m := regexp.MustCompile(`data-testid="result-fhir-base">([^<]*)<`).FindStringSubmatch(body)
	if m == nil || !strings.HasPrefix(m[1], tu.base+"/sim/") || !strings.HasSuffix(m[1], "/fhir") {
		t.Fatalf("fhir base %v", m)
	}
	scenario := strings.TrimSuffix(strings.TrimPrefix(m[1], tu.base+"/sim/"), "/fhir")
	l, err := tu.launches.OpenScenario(context.Background(), scenario)
	if err != nil || l.Type != launcher.BackendService || len(l.Patients) != 0 || l.SimulateError != "request_rate_limited" {
		t.Fatalf("scenario %+v %v", l, err)
	}
	curl := html.UnescapeString(regexp.MustCompile(`(?s)data-testid="result-backend-curl">(.*?)</pre>`).FindStringSubmatch(body)[1])
	for _, want := range []string{"FHIR='" + m[1] + "'", tu.base + "/clients/demo-private-jwks.json", "grant_type=client_credentials", `resource="$FHIR"`,
		"client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "'demo-backend'", "ehrsim-demo-rs384", "RS384"} {
		if !strings.Contains(curl, want) {
			t.Errorf("backend curl lacks %q", want)
		}
	}

	status, hdr, keys := tu.get(t, "/clients/demo-private-jwks.json")
	var set struct{ Keys []map[string]any }
	if status != 200 || hdr.Get("Content-Type") != "application/json" || json.Unmarshal([]byte(keys), &set) != nil || len(set.Keys) != 2 {
		t.Fatalf("demo keys: %d %s", status, keys)
	}
}

func TestLauncherPreviewAndEncounterFragment(t *testing.T) {
	tu := newTestUI(t)
	status, hdr, body := tu.get(t, "/launcher/preview?launch_type=provider-ehr&patient=p1&client_secret=hush&fc_reference=Observation/obs-1&fc_role=")
	if status != 200 || hdr.Get("Content-Type") != "application/json" {
		t.Fatalf("preview %d %s", status, hdr.Get("Content-Type"))
	}
	var p struct{ Request, Curl, Permalink string }
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatal(err)
	}
	var req launcher.Request
	if err := json.Unmarshal([]byte(p.Request), &req); err != nil {
		t.Fatal(err)
	}
	if req.LaunchType != "provider-ehr" || req.Patient != "p1" || req.Client.ClientSecret != "********" || req.FHIRContext[0].Reference != "Observation/obs-1" {
		t.Fatalf("preview request %+v", req)
	}
	if strings.Contains(body, "hush") || !strings.Contains(p.Curl, "/api/launches") || !strings.Contains(p.Permalink, "patient=p1") {
		t.Fatalf("preview %s", body)
	}

	status, _, frag := tu.get(t, "/launcher/encounters?patient=p1&encounter=enc-2")
	if status != 200 {
		t.Fatalf("fragment %d", status)
	}
	mustContain(t, frag, `<option value="enc-1">Office visit`, `<option value="enc-2" selected>`, `<option value="NONE">`)
	mustNotContain(t, frag, "enc-3", "<html")
}

// A first visit (no query) is a ready EHR launch: a patient's chart is open
// and the clinician is signed in, so a newcomer's Create launch → Launch runs
// the sample app. Any query string says exactly what it wants instead.
func TestLauncherFirstVisitIsAReadyEHRLaunch(t *testing.T) {
	tu := newTestUI(t)
	_, _, body := tu.get(t, "/")
	mustContain(t, body,
		`value="p1" checked data-testid="patient-p1"`,
		`name="skip_login" value="1" checked data-testid="skip-login"`,
	)
	_, _, body = tu.get(t, "/?launch_type=provider-ehr")
	mustContain(t, body, `value="" checked data-testid="patient-none"`)
	if strings.Contains(body, `value="1" checked data-testid="skip-login"`) {
		t.Error("skip login ticked although the query string does not ask for it")
	}
}

// A backend service launch works from its defaults: the demo backend
// client is filled in, by the address alone and by a form that left it
// empty.
func TestLauncherBackendLaunchFromDefaults(t *testing.T) {
	tu := newTestUI(t)
	for _, path := range []string{"/?launch_type=backend-service&mint=1", "/?launch_type=backend-service&client_id=&mint=1"} {
		status, _, body := tu.get(t, path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, status, body)
		}
		mustContain(t, html.UnescapeString(body), `data-testid="result-backend-curl"`, `'demo-backend'`, `value="demo-backend"`)
	}
	// Another launch type does not get the backend client.
	if f := parseLaunchForm(url.Values{"launch_type": {"provider-standalone"}}, "http://h"); f.ClientID != "" {
		t.Errorf("provider-standalone client id %q", f.ClientID)
	}
}

// Skip login cannot take effect in a patient launch without one chosen
// patient: the box is disabled with the reason, and the launch leaves it out.
func TestLauncherSkipLoginExplainedWhereItCannotApply(t *testing.T) {
	tu := newTestUI(t)
	_, _, body := tu.get(t, "/?launch_type=patient-standalone&skip_login=1")
	mustContain(t, body, `data-testid="skip-login" id="skip_login" disabled data-blocked="true"`, "Choose one patient to skip login")
	f := parseLaunchForm(url.Values{"launch_type": {"patient-standalone"}, "skip_login": {"1"}}, "http://h")
	if req, _ := f.Request(); req.SkipLogin {
		t.Error("skip_login sent although no patient is chosen")
	}
	for _, q := range []url.Values{
		{"launch_type": {"patient-standalone"}, "skip_login": {"1"}, "patient": {"p1"}},
		{"launch_type": {"patient-portal"}, "skip_login": {"1"}, "patient_ids": {"p2"}},
		{"launch_type": {"provider-standalone"}, "skip_login": {"1"}},
	} {
		if req, _ := parseLaunchForm(q, "http://h").Request(); !req.SkipLogin {
			t.Errorf("%v: skip_login dropped", q)
		}
	}
	if req, _ := parseLaunchForm(url.Values{"launch_type": {"patient-portal"}, "skip_login": {"1"}, "patient_ids": {"p1,p2"}}, "http://h").Request(); req.SkipLogin {
		t.Error("skip_login sent with two patients")
	}
}

// The chooser counts the patients, pages through them and keeps the
// Advanced fold's state in the address.
func TestLauncherPatientPagesAndAdvancedFold(t *testing.T) {
	tu := newTestUI(t)
	for i := 4; i <= 60; i++ {
		tu.dir.Patients = append(tu.dir.Patients, smart.PersonSummary{ResourceType: "Patient", ID: "g" + itoa(i), Name: "Gen Patient " + itoa(i), Gender: "male", BirthDate: "1990-01-01"})
	}
	_, _, body := tu.get(t, "/?launch_type=provider-ehr")
	mustContain(t, body, "60 patients; showing 1–25", "Page 1 of 3", `data-testid="patient-p1"`)
	mustNotContain(t, body, `data-testid="patient-g30"`, "<details id=\"advanced\" class=\"advanced\" open")
	_, _, body = tu.get(t, "/?launch_type=provider-ehr&patient_page=2&advanced=1")
	mustContain(t, body, "showing 26–50", "Page 2 of 3", `data-testid="patient-g30"`, `<details id="advanced" class="advanced" open`)
	mustNotContain(t, body, `data-testid="patient-p1"`)
	_, _, body = tu.get(t, "/?launch_type=provider-ehr&patient_page=99")
	mustContain(t, body, "Page 3 of 3", "showing 51–60")
	_, _, body = tu.get(t, "/?launch_type=provider-ehr&patient_q=gen+patient+4")
	mustContain(t, body, "11 patients match “gen patient 4”")
	mustNotContain(t, body, "patient-pager")
	_, _, body = tu.get(t, "/?launch_type=provider-ehr&patient_q=zzz")
	mustContain(t, body, "0 patients match “zzz”. Search by a name")
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 10028: "10,028", 1234567: "1,234,567"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q", n, got)
		}
	}
	// An error inside the fold opens it.
	_, _, body = tu.get(t, "/?launch_type=provider-ehr&patient=p1&access_token_lifetime=soon&mint=1")
	mustContain(t, body, `<details id="advanced" class="advanced" open`, "whole number of seconds")
}

// A FHIR data source that is down (an upstream FHIR server) gives the
// launcher page a readable 503 naming the cause, not "something went
// wrong"; the page works again once the source answers.
func TestLauncherPageWhileTheDirectoryIsDown(t *testing.T) {
	tu := newTestUI(t)
	tu.dir.Down = fmt.Errorf("the upstream FHIR server refused the connection (%w)", smart.ErrUnavailable)
	resp, err := tu.client.Get(tu.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" ||
		!strings.Contains(string(body), "The FHIR server is unavailable") || !strings.Contains(string(body), "refused the connection") {
		t.Fatalf("directory down: %d %s", resp.StatusCode, body)
	}
	tu.dir.Down = nil
	resp, err = tu.client.Get(tu.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("directory back: %d", resp.StatusCode)
	}
}
