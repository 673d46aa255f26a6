package ui

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
)

var iframeRe = regexp.MustCompile(`<iframe[^>]*>`)

// attr returns an attribute of the first tag in s, unescaped.
func attr(t *testing.T, tag, name string) string {
	t.Helper()
	m := regexp.MustCompile(`\s` + name + `="([^"]*)"`).FindStringSubmatch(tag)
	if m == nil {
		t.Fatalf("%s has no %s", tag, name)
	}
	return html.UnescapeString(m[1])
}

func (tu *testUI) mint(t *testing.T, req launcher.Request) (*launcher.Result, *launcher.Launch) {
	t.Helper()
	res, l, err := tu.launches.Mint(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return res, l
}

// app-launch §need_patient_banner: inside the simulated EHR the banner is
// the EHR's, so the app gets need_patient_banner=false, and the iframe
// starts the app at its launch URL with iss and launch (EHR-01, EHR-02).
func TestEHRScreenShowsBannerAndAppIframe(t *testing.T) {
	tu := newTestUI(t)
	no := false
	res, _ := tu.mint(t, launcher.Request{LaunchType: "provider-ehr", Patient: "p1", Practitioner: "pr-2", NeedPatientBanner: &no, SimulateError: "request_slow"})

	status, hdr, body := tu.get(t, "/ehr?launch="+url.QueryEscape(res.Launch))
	if status != http.StatusOK || hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("status %d %q\n%s", status, hdr.Get("Content-Type"), body)
	}
	mustContain(t, body,
		`data-testid="banner-name">Amy V. Shaw<`,
		`data-testid="banner-sex">Female<`,
		`data-testid="banner-age">38 y<`,
		`data-testid="banner-dob">1987-02-20<`,
		`data-testid="banner-mrn">MRN-1001<`,
		`>Penicillin<`, `>Peanuts<`,
		`Encounter: Office visit · 2025-02-28 · Clinic A (in-progress)`,
		`Signed in as <strong>Dr. Omar Haddad</strong>`,
		`data-testid="ehr-simulated-error"`,
		`data-testid="ehr-app-name">ehrsim sample app<`,
	)
	tags := iframeRe.FindAllString(body, -1)
	if len(tags) != 1 {
		t.Fatalf("want one iframe, got %d", len(tags))
	}
	// The sample app is on ehrsim's origin: no sandbox (it could lift it).
	if strings.Contains(tags[0], "sandbox") {
		t.Errorf("same-origin app framed with a sandbox: %s", tags[0])
	}
	if got := frameAttrs("http://h:8080", "https://app.example/launch?iss=x")["sandbox"]; got != appSandbox {
		t.Errorf("another origin's app: sandbox %v", got)
	}
	if _, ok := frameAttrs("http://h:8080", "http://H:8080/sample-app/launch.html")["sandbox"]; ok {
		t.Error("same origin (host case differs): sandboxed")
	}
	if got := attr(t, tags[0], "allow"); !strings.Contains(got, "clipboard-write") {
		t.Errorf("allow %q", got)
	}
	src, err := url.Parse(attr(t, tags[0], "src"))
	if err != nil {
		t.Fatal(err)
	}
	if src.Scheme+"://"+src.Host+src.Path != tu.base+"/sample-app/launch.html" {
		t.Errorf("iframe src %s", src)
	}
	if src.Query().Get("iss") != tu.base+"/fhir" || src.Query().Get("launch") != res.Launch {
		t.Errorf("iframe src query %v, want iss %s and the launch code", src.Query(), tu.base+"/fhir")
	}
	if src.String() != res.LaunchURL {
		t.Errorf("iframe src %s differs from the minted launch_url %s", src, res.LaunchURL)
	}
}

// A launch minted on the launcher says need_patient_banner=true; the EHR
// plays the framed variant of the same launch (same id, expiry and single
// use) with false, keeping the app's own query parameters (EHR-01).
func TestEHRFramesTheSameLaunchWithoutBanner(t *testing.T) {
	tu := newTestUI(t)
	res, orig := tu.mint(t, launcher.Request{
		LaunchType: "provider-ehr", Patient: "p1", Encounter: "enc-2", Practitioner: "pr-1",
		FHIRContext:   []launcher.FHIRContextItem{{Reference: "Observation/obs-1", Role: "https://example.org/focus"}},
		Intent:        "reconcile-medications",
		SimulateError: "request_server_error",
		Client:        launcher.Client{ClientID: "my-adhoc-app", ClientType: "confidential-symmetric", ClientSecret: "s3cret", RedirectURIs: []string{"https://app.example/cb"}},
		AppLaunchURL:  "https://app.example/launch?x=1&y=a%20b&x=2",
		LaunchOnce:    true,
	})
	if orig.NeedPatientBanner == nil || !*orig.NeedPatientBanner {
		t.Fatalf("precondition: launcher default need_patient_banner true, got %v", orig.NeedPatientBanner)
	}
	status, _, body := tu.get(t, "/ehr?launch="+url.QueryEscape(res.Launch))
	if status != http.StatusOK {
		t.Fatalf("status %d, want the EHR screen", status)
	}
	raw := attr(t, iframeRe.FindString(body), "src")
	src, _ := url.Parse(raw)
	code := src.Query().Get("launch")
	if src.Host != "app.example" || !strings.HasPrefix(src.RawQuery, "x=1&y=a%20b&x=2&") || code == "" {
		t.Fatalf("iframe src %s: want the other-origin app with its own query kept as it was", raw)
	}
	l, err := tu.launches.Open(context.Background(), code)
	if err != nil {
		t.Fatal(err)
	}
	if l.NeedPatientBanner == nil || *l.NeedPatientBanner {
		t.Fatalf("framed need_patient_banner %v, want false", l.NeedPatientBanner)
	}
	if l.ID != orig.ID || !l.ExpiresAt.Equal(orig.ExpiresAt) || !l.LaunchOnce {
		t.Fatalf("framed launch is another launch: id %s expires %s once %v; want %s %s true", l.ID, l.ExpiresAt, l.LaunchOnce, orig.ID, orig.ExpiresAt)
	}
	if l.Patient() != "p1" || l.Encounter != "enc-2" || l.Practitioner != "pr-1" || l.Intent != orig.Intent ||
		l.SimulateError != orig.SimulateError || l.AppLaunchURL != orig.AppLaunchURL ||
		l.Client.ClientSecret != "s3cret" || l.Client.ClientType != "confidential-symmetric" ||
		len(l.FHIRContext) != 1 || l.FHIRContext[0].Reference != "Observation/obs-1" {
		t.Fatalf("framed launch differs: %+v", l)
	}
}

func TestEHRUnknownAndExpiredLaunchArePages(t *testing.T) {
	tu := newTestUI(t)
	status, hdr, body := tu.get(t, "/ehr?launch=not-a-real-code")
	if status != http.StatusNotFound || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("unknown: %d %s", status, hdr.Get("Content-Type"))
	}
	mustContain(t, body, `data-testid="error-page"`, "Unknown launch", `href="/"`)

	no := false
	res, _ := tu.mint(t, launcher.Request{LaunchType: "provider-ehr", Patient: "p1", NeedPatientBanner: &no})
	tu.now = tu.now.Add(25 * time.Hour)
	status, _, body = tu.get(t, "/ehr?launch="+url.QueryEscape(res.Launch))
	if status != http.StatusGone {
		t.Fatalf("expired: %d", status)
	}
	mustContain(t, body, "Launch expired")
}

func TestEHRHomeLaunchesChosenPatient(t *testing.T) {
	tu := newTestUI(t)
	status, _, body := tu.get(t, "/ehr?q=bob")
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
	mustContain(t, body, `data-testid="ehr-patient-p2"`, "MRN-1002", "COPD", `value="sample-app"`, "Dr. Susan Clark")
	mustNotContain(t, body, `data-testid="ehr-patient-p1"`)

	status, hdr, _ := tu.post(t, "/ehr", url.Values{"patient": {"p2"}, "practitioner": {"pr-2"}, "app": {"sample-app"}})
	if status != http.StatusSeeOther {
		t.Fatalf("status %d", status)
	}
	loc, _ := url.Parse(hdr.Get("Location"))
	l, err := tu.launches.Open(context.Background(), loc.Query().Get("launch"))
	if err != nil {
		t.Fatal(err)
	}
	if l.Type != launcher.ProviderEHR || l.Patient() != "p2" || l.Practitioner != "pr-2" || l.Encounter != "enc-3" ||
		l.NeedPatientBanner == nil || *l.NeedPatientBanner || l.Client.ClientID != "sample-app" {
		t.Fatalf("launch %+v", l)
	}
	// Straight to the screen: no second mint.
	status, _, body = tu.get(t, loc.RequestURI())
	if status != http.StatusOK {
		t.Fatalf("screen status %d", status)
	}
	mustContain(t, body, `data-testid="banner-name">Bob Kramer<`, "<strong>NKA</strong>")
}

func TestEHRHomeBadInputIsFieldError(t *testing.T) {
	tu := newTestUI(t)
	status, _, body := tu.post(t, "/ehr", url.Values{"patient": {"nobody"}, "app": {"sample-app"}})
	if status != http.StatusBadRequest {
		t.Fatalf("status %d", status)
	}
	mustContain(t, body, `id="err-patient"`, `unknown patient id`, `aria-describedby="err-patient"`)

	status, _, body = tu.post(t, "/ehr", url.Values{"patient": {"p1"}, "app": {"no-such-app"}})
	if status != http.StatusBadRequest {
		t.Fatalf("status %d", status)
	}
	mustContain(t, body, `id="err-app"`, "Choose one of the listed apps.")
}
