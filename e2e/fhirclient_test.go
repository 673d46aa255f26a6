package e2e

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/playwright-community/playwright-go"

	"github.com/ehrsim/ehrsim/launcher"
)

// Browser flows driven by the real fhirclient library (SMART's client-js,
// FHIRClientVersion) in the test app of smartapp_test.go. Each test
// asserts what the app displays and what ehrsim returned to the library.

// mint posts a launch and returns the API's result and the launch details.
func mint(t *testing.T, base string, req launcher.Request) (launcher.Result, *launcher.Launch) {
	t.Helper()
	b, _ := json.Marshal(req)
	res, err := http.Post(base+"/api/launches", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out launcher.Result
	if res.StatusCode != http.StatusCreated || json.NewDecoder(res.Body).Decode(&out) != nil {
		t.Fatalf("POST /api/launches %s: %d", b, res.StatusCode)
	}
	get, err := http.Get(base + "/api/launches/" + url.PathEscape(out.ID))
	if err != nil {
		t.Fatal(err)
	}
	defer get.Body.Close()
	var d launcher.Details
	if get.StatusCode != http.StatusOK || json.NewDecoder(get.Body).Decode(&d) != nil || d.Launch == nil {
		t.Fatalf("GET /api/launches/%s: %d", out.ID, get.StatusCode)
	}
	return out, d.Launch
}

// appClient is the launch's client section for the test app: an ad-hoc
// public client (sandbox mode) bound to the app's redirect URI.
func appClient(app *smartApp) launcher.Client {
	return launcher.Client{ClientID: app.ClientID, RedirectURIs: []string{app.Redirect}}
}

// waitApp waits until the app has finished (or failed) and returns its body.
func waitApp(t *testing.T, app playwright.Locator, want string) {
	t.Helper()
	if want == "done" {
		expect(t, assert.Locator(app.GetByTestId("app-error")).ToHaveText(""))
	}
	expect(t, assert.Locator(app.GetByTestId("app-status")).ToHaveText(want))
}

// tokenResponse is the part of the token response the tests check.
type tokenResponse struct {
	AccessToken       string            `json:"access_token"`
	RefreshToken      string            `json:"refresh_token"`
	Scope             string            `json:"scope"`
	Patient           string            `json:"patient"`
	Encounter         string            `json:"encounter"`
	NeedPatientBanner *bool             `json:"need_patient_banner"`
	FHIRContext       []json.RawMessage `json:"fhirContext"`
	IDToken           string            `json:"id_token"`
}

// checkServed checks what ehrsim returned to the library for one launch:
// one successful token response for the patient, the Patient read and the
// vital-signs search, each with CORS for the app's origin; and that the app
// shows exactly that data.
func checkServed(t *testing.T, net *netlog, ui playwright.Locator, s *server, app *smartApp, fhirBase, patient string) tokenResponse {
	t.Helper()
	tokRes := net.find("POST", s.URL+"/auth/oauth/token")
	if len(tokRes) == 0 || tokRes[0].Status() != 200 {
		t.Fatalf("token responses %d, want a first one with 200", len(tokRes))
	}
	var tok tokenResponse
	jsonBody(t, tokRes[0], &tok)
	if tok.Patient != patient {
		t.Errorf("token response patient %q, want %q", tok.Patient, patient)
	}
	if got := text(t, ui, "granted-scope"); got != tok.Scope {
		t.Errorf("app shows scope %q, server granted %q", got, tok.Scope)
	}
	pr := net.one(t, "GET", fhirBase+"/Patient/"+patient)
	if pr.Status() != 200 {
		t.Fatalf("GET Patient/%s = %d", patient, pr.Status())
	}
	cors(t, pr, app.URL)
	cors(t, tokRes[0], app.URL)
	var p struct {
		ID   string
		Name []struct {
			Given  []string
			Family string
		}
	}
	jsonBody(t, pr, &p)
	want := strings.TrimSpace(strings.Join(p.Name[0].Given, " ") + " " + p.Name[0].Family)
	if p.ID != patient || text(t, ui, "patient-name") != want {
		t.Errorf("app shows %q for %s; server returned %s named %q", text(t, ui, "patient-name"), patient, p.ID, want)
	}
	obs := net.one(t, "GET", fhirBase+"/Observation?")
	var b struct {
		Entry []struct {
			Resource struct{ Subject struct{ Reference string } }
		}
	}
	jsonBody(t, obs, &b)
	if obs.Status() != 200 || len(b.Entry) == 0 {
		t.Fatalf("Observation search = %d with %d entries", obs.Status(), len(b.Entry))
	}
	for _, e := range b.Entry {
		if e.Resource.Subject.Reference != "Patient/"+patient {
			t.Errorf("search returned an observation of %s", e.Resource.Subject.Reference)
		}
	}
	expect(t, assert.Locator(ui.GetByTestId("observation-count")).ToHaveText(strconv.Itoa(len(b.Entry))))
	expect(t, assert.Locator(ui.GetByTestId("observation-subjects")).ToHaveText("Patient/"+patient))
	return tok
}

// idTokenClaim returns one string claim of a JWT (the signature is the
// authorization server's tests' business; here the library accepted it).
func idTokenClaim(t *testing.T, jwt, claim string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("id_token %q is not a JWS", jwt)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	v, _ := c[claim].(string)
	return v
}

// cors checks the response allowed the app's origin (the browser enforced it).
func cors(t *testing.T, r playwright.Response, origin string) {
	t.Helper()
	v, err := r.HeaderValue("access-control-allow-origin")
	if err != nil || (v != origin && v != "*") {
		t.Errorf("%s: Access-Control-Allow-Origin %q, want %q", r.URL(), v, origin)
	}
}

// Provider EHR launch minted through the launch API and opened at its
// launch_url: the clinician is signed in by the EHR, approves consent, and
// the app reads the patient, vitals and encounter; fhirContext and
// need_patient_banner reach the app; client.refresh() renews the token.
func TestFHIRClientProviderEHRLaunch(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	app := newSmartApp(t, smartAppConfig{ClientID: "fhirclient-app", Scope: ehrScope, RefreshWithClientID: true})
	yes := true
	res, l := mint(t, s.URL, launcher.Request{
		LaunchType: "provider-ehr", Patient: "pat-grace-kim", NeedPatientBanner: &yes,
		FHIRContext:  []launcher.FHIRContextItem{{Reference: "Practitioner/prac-emily-carter", Role: "https://example.org/role/author"}},
		Client:       appClient(app),
		AppLaunchURL: app.LaunchURL,
	})
	if l.Encounter == "" {
		t.Fatal("the launch has no encounter in context")
	}
	page := newPage(t)
	net := watchNetwork(page)
	goto_(t, page, res.LaunchURL)
	expect(t, assert.Locator(page.GetByTestId("consent-page")).ToBeVisible())
	expect(t, page.GetByTestId("consent-allow").Click())
	ui := page.Locator("body")
	waitApp(t, ui, "done")

	tok := checkServed(t, net, ui, s, app, res.ISS, "pat-grace-kim")
	if tok.Encounter != l.Encounter || text(t, ui, "encounter-id") != l.Encounter {
		t.Errorf("encounter: token %q, app %q, launch %q", tok.Encounter, text(t, ui, "encounter-id"), l.Encounter)
	}
	expect(t, assert.Locator(ui.GetByTestId("encounter-status")).ToHaveText(regexp.MustCompile("^"+l.Encounter+" in-progress$")))
	if r := net.one(t, "GET", res.ISS+"/Encounter/"+l.Encounter); r.Status() != 200 {
		t.Errorf("GET Encounter = %d", r.Status())
	}
	if tok.NeedPatientBanner == nil || !*tok.NeedPatientBanner {
		t.Errorf("token need_patient_banner %v, want true", tok.NeedPatientBanner)
	}
	expect(t, assert.Locator(ui.GetByTestId("need-patient-banner")).ToHaveText("true"))
	expect(t, assert.Locator(ui.GetByTestId("fhir-context")).ToHaveText(`[{"reference":"Practitioner/prac-emily-carter","role":"https://example.org/role/author"}]`))
	// The library shows fhirUser relative (Type/id); the id_token carries it absolute.
	expect(t, assert.Locator(ui.GetByTestId("fhir-user")).ToHaveText("Practitioner/prac-emily-carter"))
	if got := idTokenClaim(t, tok.IDToken, "fhirUser"); got != s.URL+"/fhir/Practitioner/prac-emily-carter" {
		t.Errorf("id_token fhirUser %q", got)
	}

	// The library refreshes the token; the new one works.
	before := text(t, ui, "token-tail")
	expect(t, page.GetByTestId("refresh").Click())
	expect(t, assert.Locator(ui.GetByTestId("refresh-count")).ToHaveText("1"))
	expect(t, assert.Locator(ui.GetByTestId("after-refresh")).ToHaveText("Patient/pat-grace-kim"))
	if after := text(t, ui, "token-tail"); after == before {
		t.Errorf("access token unchanged after refresh (…%s)", after)
	}
	toks := net.find("POST", s.URL+"/auth/oauth/token")
	if len(toks) != 2 || toks[1].Status() != 200 {
		t.Fatalf("%d token responses, want 2 (code, refresh)", len(toks))
	}
	if body, _ := toks[1].Request().PostData(); !strings.Contains(body, "grant_type=refresh_token") {
		t.Errorf("second token request is not a refresh: %s", body)
	}
	var refreshed tokenResponse
	jsonBody(t, toks[1], &refreshed)
	if refreshed.Patient != "pat-grace-kim" || refreshed.Encounter != l.Encounter || len(refreshed.FHIRContext) != 1 {
		t.Errorf("refresh response lost the context: %+v", refreshed)
	}
}

// ehrScope is what the test app asks for in EHR launches (the library adds
// "launch" itself when it sees a launch parameter).
const ehrScope = "launch openid fhirUser offline_access patient/Patient.rs patient/Observation.rs patient/Encounter.rs"
