package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
)

// inspectUI is the ui over a memory-only recorder and the real launcher.
type inspectUI struct {
	*testUI
	rec *inspect.Recorder
}

func newInspectUI(t *testing.T) *inspectUI {
	t.Helper()
	tu := newTestUI(t)
	rec := inspect.NewRecorder(inspect.Options{Now: func() time.Time { return tu.now }})
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	(&Handler{BaseURL: srv.URL, Launches: tu.launches, Directory: tu.dir, Clients: tu.registry, Inspector: rec, Now: func() time.Time { return tu.now }}).Mount(mux)
	tu.base = srv.URL
	return &inspectUI{testUI: tu, rec: rec}
}

// sloppyLaunch records the steps of a launch that broke two rules.
func (iu *inspectUI) sloppyLaunch(id, client string) {
	at := iu.now
	step := func(d time.Duration, k inspect.Kind, summary string, req map[string]string, checks ...[2]string) {
		e := inspect.Event{LaunchID: id, ClientID: client, At: at.Add(d), Kind: k, Summary: summary, Request: req, Status: 200}
		for _, c := range checks {
			e.Check(c[0], c[1] != "", c[1])
		}
		iu.rec.Record(e)
	}
	step(0, inspect.KindLaunchMinted, "provider-ehr launch for p1", map[string]string{"launch_type": "provider-ehr"})
	step(250*time.Millisecond, inspect.KindAuthorize, "authorize → code", map[string]string{"client_id": client, "code_challenge_method": "S256"},
		[2]string{inspect.RuleStateMissing, "no state parameter"}, [2]string{inspect.RulePKCEPlain, ""}, [2]string{inspect.RuleScopeV1, "patient/Observation.read is v1"})
	step(1500*time.Millisecond, inspect.KindFHIR, "GET Patient/p1 → 200", map[string]string{"path": "/fhir/Patient/p1"}, [2]string{inspect.RuleTokenInQuery, ""})
}

func TestInspectorTimelinePage(t *testing.T) {
	iu := newInspectUI(t)
	iu.sloppyLaunch("L1", "sloppy")
	status, hdr, body := iu.get(t, "/inspect/L1")
	if status != 200 {
		t.Fatalf("GET /inspect/L1 = %d\n%s", status, body)
	}
	if hdr.Get("X-Frame-Options") != "SAMEORIGIN" || hdr.Get("Content-Security-Policy") != "frame-ancestors 'self'" {
		t.Errorf("anti-framing headers missing: %v", hdr)
	}
	mustContain(t, body, `data-testid="timeline-counts">1 error, 1 warning<`, `3 steps`,
		`data-testid="step-1"`, `data-testid="step-2"`, `data-testid="step-3"`, `+0 ms`, `+250 ms`, `+1.500 s`,
		`data-rule="state-missing"`, `no state parameter`, `href="https://hl7.org/fhir/smart-app-launch/STU2.2/app-launch.html#obtain-authorization-code"`,
		`data-testid="step-2-request"`, `<dt>code_challenge_method</dt>`, `href="/clients/sloppy/report"`,
		`data-stream="/api/launches/L1/events"`, `/static/js/inspect.`)
	// Steps in order, and every link and control is labelled.
	if i, j := strings.Index(body, `data-testid="step-1"`), strings.Index(body, `data-testid="step-3"`); i > j {
		t.Error("steps out of order")
	}
	for _, a := range regexp.MustCompile(`<(a|button|input|details|summary)\b[^>]*>`).FindAllString(body[strings.Index(body, "<main"):], -1) {
		if strings.HasPrefix(a, "<a") || strings.HasPrefix(a, "<button") || strings.HasPrefix(a, "<input") || strings.HasPrefix(a, "<details") {
			if !strings.Contains(a, "data-testid=") {
				t.Errorf("element without data-testid: %s", a)
			}
		}
	}

	if status, _, _ := iu.get(t, "/inspect/nope"); status != 404 {
		t.Errorf("unknown launch: %d, want 404", status)
	}
}

func TestInspectorListAndLaunchCode(t *testing.T) {
	iu := newInspectUI(t)
	iu.sloppyLaunch("L1", "sloppy")
	iu.sloppyLaunch("L2", "other")
	status, _, body := iu.get(t, "/inspect")
	if status != 200 {
		t.Fatalf("GET /inspect = %d", status)
	}
	mustContain(t, body, `href="/inspect/L1"`, `href="/inspect/L2"`, `href="/clients/sloppy/report"`, `1 error, 1 warning`, `aria-current="page"`)
	if strings.Index(body, `/inspect/L2"`) > strings.Index(body, `/inspect/L1"`) {
		t.Error("the newest launch is not first")
	}

	// A launch code (what an app knows) opens the launch's timeline.
	res, l := iu.mint(t, launcher.Request{LaunchType: "provider-ehr", Patient: "p1"})
	iu.rec.Record(inspect.Event{LaunchID: l.ID, Kind: inspect.KindLaunchMinted, Summary: "minted"})
	status, hdr, _ := iu.get(t, "/inspect?launch="+url.QueryEscape(res.Launch))
	if status != http.StatusSeeOther || hdr.Get("Location") != "/inspect/"+l.ID {
		t.Fatalf("by launch code: %d %s, want 303 /inspect/%s", status, hdr.Get("Location"), l.ID)
	}
	// So does the scenario id of a standalone launch's /sim/{scenario}/fhir
	// base (what a standalone app knows).
	sres, sl := iu.mint(t, launcher.Request{LaunchType: "patient-standalone", Patient: "p1"})
	iu.rec.Record(inspect.Event{LaunchID: sl.ID, Kind: inspect.KindLaunchMinted, Summary: "minted"})
	scenario := strings.TrimSuffix(strings.TrimPrefix(sres.FHIRBaseURL, iu.launches.BaseURL()+"/sim/"), "/fhir")
	status, hdr, _ = iu.get(t, "/inspect?launch="+url.QueryEscape(scenario))
	if status != http.StatusSeeOther || hdr.Get("Location") != "/inspect/"+sl.ID {
		t.Fatalf("by scenario %s: %d %s, want 303 /inspect/%s", scenario, status, hdr.Get("Location"), sl.ID)
	}
	status, hdr, _ = iu.get(t, "/inspect?launch=L1")
	if status != http.StatusSeeOther || hdr.Get("Location") != "/inspect/L1" {
		t.Fatalf("by id: %d %s", status, hdr.Get("Location"))
	}
	status, _, body = iu.get(t, "/inspect?launch=bogus")
	if status != 404 || !strings.Contains(body, `data-testid="inspect-error"`) {
		t.Fatalf("unknown code: %d", status)
	}
}

func TestClientReportPageWithoutLaunches(t *testing.T) {
	iu := newInspectUI(t)
	status, _, body := iu.get(t, "/clients/nobody/report")
	if status != 200 {
		t.Fatalf("GET report = %d", status)
	}
	mustContain(t, body, `0 errors, 0 warnings`, `0 recent launches`, `data-testid="rule-state-missing" data-outcome="not_exercised"`)
}

func TestClientReportPage(t *testing.T) {
	iu := newInspectUI(t)
	iu.sloppyLaunch("L1", "sloppy")
	status, hdr, body := iu.get(t, "/clients/sloppy/report")
	if status != 200 || hdr.Get("X-Frame-Options") != "SAMEORIGIN" {
		t.Fatalf("GET report = %d %v", status, hdr)
	}
	mustContain(t, body, `data-testid="report-counts">1 error, 1 warning<`,
		`data-testid="rule-state-missing" data-outcome="fail"`, `data-testid="rule-pkce-plain" data-outcome="pass"`,
		`data-testid="rule-token-in-query" data-outcome="pass"`, `data-testid="rule-code-reused" data-outcome="not_exercised"`,
		`href="/inspect/L1#step-2"`, `no state parameter`, `data-testid="rule-state-missing-fix"`,
		`Send an unguessable state`, `/api/clients/sloppy/report?format=junit`, `ehrsim report --url `+iu.base+` --client sloppy`)
	for _, r := range inspect.Rules {
		mustContain(t, body, `data-testid="rule-`+r.ID+`"`)
	}
	// The clients page links every client's report.
	_, _, list := iu.get(t, "/clients")
	mustContain(t, list, `href="/clients/sample-app/report"`)
}

func TestLauncherAndEHRLinkTheInspector(t *testing.T) {
	iu := newInspectUI(t)
	res, l := iu.mint(t, launcher.Request{LaunchType: "provider-ehr", Patient: "p1"})
	iu.rec.Record(inspect.Event{LaunchID: l.ID, Kind: inspect.KindLaunchMinted, Summary: "minted"})
	_, _, body := iu.get(t, "/ehr?launch="+url.QueryEscape(res.Launch))
	m := regexp.MustCompile(`href="(/inspect\?launch=[^"]+)"[^>]*data-testid="ehr-inspect"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the EHR screen has no inspector link")
	}
	status, hdr, _ := iu.get(t, strings.ReplaceAll(m[1], "&amp;", "&"))
	if status != http.StatusSeeOther || hdr.Get("Location") != "/inspect/"+l.ID {
		t.Fatalf("EHR inspector link %s: %d %s, want /inspect/%s", m[1], status, hdr.Get("Location"), l.ID)
	}
	_, _, body = iu.post(t, "/", url.Values{"launch_type": {"provider-ehr"}, "patient": {"p1"}})
	mustContain(t, body, `data-testid="result-inspect"`)
}
