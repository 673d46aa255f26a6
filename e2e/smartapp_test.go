package e2e

import (
	"encoding/json"
	"html/template"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/playwright-community/playwright-go"
)

// smartApp is a tiny SMART app built on the real, unmodified fhirclient
// browser bundle, served from its own origin (127.0.0.1:<other port>), so
// every call to ehrsim is cross-origin and CORS is exercised as in
// production. launch.html calls FHIR.oauth2.authorize (iss and launch come
// from its URL, as the library reads them); index.html calls
// FHIR.oauth2.ready and shows what the library got, in data-testid elements.
type smartApp struct {
	URL       string // origin, no trailing slash
	LaunchURL string // URL + "/launch.html"
	Redirect  string // URL + "/index.html"
	ClientID  string
}

// smartAppConfig is what the app's pages are built with.
type smartAppConfig struct {
	ClientID string `json:"clientId"`
	Scope    string `json:"scope"`
	// Probes are extra FHIR requests index.html makes after the standard
	// ones ({patient} is replaced); each shows "200" or the error status.
	Probes []string `json:"probes,omitempty"`
	// RefreshWithClientID sets the library's refreshTokenWithClientId
	// option (client_id in refresh requests); off is the library default.
	RefreshWithClientID bool `json:"refreshWithClientId,omitempty"`
	// Redirect is filled in by newSmartApp.
	Redirect string `json:"redirectUri"`
}

const defaultAppScope = "launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs patient/Encounter.rs"

var fhirClientJS = sync.OnceValues(EnsureFHIRClient)

// newSmartApp starts the test app for cfg; it stops when the test ends.
func newSmartApp(t *testing.T, cfg smartAppConfig) *smartApp {
	t.Helper()
	bundle, err := fhirClientJS()
	if err != nil {
		t.Fatal(err)
	}
	js, err := os.ReadFile(bundle)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Scope == "" {
		cfg.Scope = defaultAppScope
	}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	app := &smartApp{URL: srv.URL, LaunchURL: srv.URL + "/launch.html", Redirect: srv.URL + "/index.html", ClientID: cfg.ClientID}
	cfg.Redirect = app.Redirect
	cfgJSON, _ := json.Marshal(cfg)
	page := func(tpl *template.Template) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			tpl.Execute(w, template.JS(cfgJSON))
		}
	}
	mux.HandleFunc("GET /launch.html", page(launchPage))
	mux.HandleFunc("GET /index.html", page(indexPage))
	mux.HandleFunc("GET /fhir-client.js", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
		w.Write(js)
	})
	return app
}

var launchPage = template.Must(template.New("launch").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>fhirclient app · launch</title>
<script src="/fhir-client.js"></script></head>
<body><p data-testid="launch-status">Launching…</p><pre data-testid="launch-error"></pre>
<script>
const cfg = {{.}};
FHIR.oauth2.authorize({clientId: cfg.clientId, scope: cfg.scope, redirectUri: cfg.redirectUri, completeInTarget: true})
  .catch(e => { document.querySelector('[data-testid="launch-error"]').textContent = String(e && e.message || e); });
</script></body></html>`))

var indexPage = template.Must(template.New("index").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>fhirclient app</title>
<script src="/fhir-client.js"></script></head>
<body>
<dl>
<dt>status</dt><dd data-testid="app-status">loading</dd>
<dt>error</dt><dd><pre data-testid="app-error"></pre></dd>
<dt>client_id</dt><dd data-testid="client-id"></dd>
<dt>granted scope</dt><dd data-testid="granted-scope"></dd>
<dt>patient id</dt><dd data-testid="patient-id"></dd>
<dt>patient name</dt><dd data-testid="patient-name"></dd>
<dt>encounter id</dt><dd data-testid="encounter-id"></dd>
<dt>encounter status</dt><dd data-testid="encounter-status"></dd>
<dt>user</dt><dd data-testid="fhir-user"></dd>
<dt>need_patient_banner</dt><dd data-testid="need-patient-banner"></dd>
<dt>fhirContext</dt><dd data-testid="fhir-context"></dd>
<dt>smart_style_url</dt><dd data-testid="smart-style-url"></dd>
<dt>observations</dt><dd data-testid="observation-count"></dd>
<dt>observation subjects</dt><dd data-testid="observation-subjects"></dd>
<dt>probes</dt><dd><ul data-testid="probes"></ul></dd>
<dt>token tail</dt><dd data-testid="token-tail"></dd>
<dt>refreshes</dt><dd data-testid="refresh-count">0</dd>
<dt>after refresh</dt><dd data-testid="after-refresh"></dd>
<dt>refresh error</dt><dd data-testid="refresh-error"></dd>
</dl>
<button type="button" data-testid="refresh" disabled>Refresh token</button>
<script>
const cfg = {{.}};
const out = (id, v) => { document.querySelector('[data-testid="' + id + '"]').textContent = v; };
const fail = e => String(e && e.status ? e.status + " " + e.message : (e && e.message) || e);
const humanName = p => { const n = (p.name || [])[0] || {}; return [(n.given || []).join(" "), n.family].filter(Boolean).join(" "); };
let refreshes = 0;
if (cfg.refreshWithClientId) FHIR.oauth2.settings.refreshTokenWithClientId = true;
FHIR.oauth2.ready().then(async client => {
  window.smartClient = client;
  const tr = client.state.tokenResponse;
  out("client-id", client.state.clientId);
  out("granted-scope", tr.scope || "");
  out("patient-id", client.patient.id || "");
  out("encounter-id", client.encounter.id || "");
  out("fhir-user", client.user.fhirUser || "");
  out("need-patient-banner", String(tr.need_patient_banner));
  out("fhir-context", JSON.stringify(tr.fhirContext || []));
  out("smart-style-url", tr.smart_style_url || "");
  out("token-tail", tr.access_token.slice(-8));
  document.querySelector('[data-testid="refresh"]').disabled = false;
  // Each read is shown on its own, so a refused one (403 after a reduced
  // consent) shows its status while the others still show data.
  const step = async (id, fn) => { try { out(id, await fn()); } catch (e) { out(id, "error " + (e.status || fail(e))); } };
  if (client.patient.id) {
    await step("patient-name", async () => humanName(await client.patient.read()));
    await step("observation-count", async () => {
      const b = await client.request("Observation?patient=" + client.patient.id + "&category=vital-signs&_count=20");
      const entries = b.entry || [];
      out("observation-subjects", [...new Set(entries.map(e => e.resource.subject.reference))].join(","));
      return String(entries.length);
    });
  }
  if (client.encounter.id) {
    await step("encounter-status", async () => { const e = await client.encounter.read(); return e.id + " " + e.status; });
  }
  for (const probe of cfg.probes || []) {
    const li = document.createElement("li");
    li.dataset.testid = "probe-" + probe.split("?")[0];
    try { await client.request(probe.replace("{patient}", client.patient.id)); li.textContent = "200"; }
    catch (e) { li.textContent = String(e.status || fail(e)); }
    document.querySelector('[data-testid="probes"]').append(li);
  }
  out("app-status", "done");
}).catch(e => { out("app-error", fail(e)); out("app-status", "error"); });

document.querySelector('[data-testid="refresh"]').addEventListener("click", async () => {
  try {
    const st = await window.smartClient.refresh(); // resolves to the client state
    out("refresh-count", String(++refreshes));
    out("token-tail", st.tokenResponse.access_token.slice(-8));
    const p = await window.smartClient.patient.read();
    out("after-refresh", p.resourceType + "/" + p.id);
  } catch (e) { out("refresh-error", fail(e)); }
});
</script></body></html>`))

// netlog records every response the browser context receives, so a test
// can assert what ehrsim actually returned to the library.
type netlog struct {
	mu   sync.Mutex
	resp []playwright.Response
}

func watchNetwork(page playwright.Page) *netlog {
	n := &netlog{}
	page.Context().OnResponse(func(r playwright.Response) {
		n.mu.Lock()
		n.resp = append(n.resp, r)
		n.mu.Unlock()
	})
	return n
}

// find returns the responses to method requests whose URL starts with
// prefix. A prefix naming the token endpoint (…/auth/oauth/token) matches
// every token endpoint of that server: a standalone launch's discovery
// advertises its scenario's own (…/sim/{scenario}/auth/token).
func (n *netlog) find(method, prefix string) []playwright.Response {
	n.mu.Lock()
	defer n.mu.Unlock()
	base, isToken := strings.CutSuffix(prefix, "/auth/oauth/token")
	var out []playwright.Response
	for _, r := range n.resp {
		u := r.URL()
		match := strings.HasPrefix(u, prefix)
		if !match && isToken && strings.HasPrefix(u, base+"/sim/") {
			path, _, _ := strings.Cut(u, "?")
			match = strings.HasSuffix(path, "/auth/token")
		}
		if r.Request().Method() == method && match {
			out = append(out, r)
		}
	}
	return out
}

// one returns the only response matching, failing the test otherwise.
func (n *netlog) one(t *testing.T, method, prefix string) playwright.Response {
	t.Helper()
	rs := n.find(method, prefix)
	if len(rs) != 1 {
		t.Fatalf("%d responses to %s %s*, want 1", len(rs), method, prefix)
	}
	return rs[0]
}

// jsonBody decodes a response body into v.
func jsonBody(t *testing.T, r playwright.Response, v any) {
	t.Helper()
	b, err := r.Body()
	if err != nil {
		t.Fatalf("body of %s: %v", r.URL(), err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("body of %s: %v\n%s", r.URL(), err, b)
	}
}

// text returns the trimmed text of the element with the data-testid.
func text(t *testing.T, scope interface {
	GetByTestId(any) playwright.Locator
}, id string) string {
	t.Helper()
	s, err := scope.GetByTestId(id).TextContent()
	if err != nil {
		t.Fatalf("text of %s: %v", id, err)
	}
	return strings.TrimSpace(s)
}
