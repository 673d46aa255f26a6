package authz

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/smarttest"
	"github.com/ehrsim/ehrsim/mockehr/store"
	"github.com/ehrsim/ehrsim/ui/authui"
)

var (
	dirPatients = []smart.PersonSummary{
		{ResourceType: "Patient", ID: "p-1", Name: "Amy Shaw", Gender: "female", BirthDate: "1987-02-20", MRN: "MRN-001", Patients: []string{"p-1"}},
		{ResourceType: "Patient", ID: "p-2", Name: "Bob Jones", Gender: "male", BirthDate: "1950-07-04", MRN: "MRN-002", Patients: []string{"p-2"}},
		{ResourceType: "Patient", ID: "p-3", Name: "Cara Diaz", Gender: "female", BirthDate: "2011-11-11", MRN: "MRN-003", Patients: []string{"p-3"}},
	}
	dirPractitioners = []smart.PersonSummary{
		{ResourceType: "Practitioner", ID: "pr-1", Name: "Dr. Ada Ward", Role: "Family medicine physician"},
		{ResourceType: "Practitioner", ID: "pr-2", Name: "Dr. Ben Kim", Role: "Cardiologist"},
	}
	dirRelated = []smart.PersonSummary{
		{ResourceType: "RelatedPerson", ID: "rp-1", Name: "Carl Diaz", Role: "Parent", Patients: []string{"p-3"}},
	}
	dirEncounters = []smart.EncounterSummary{
		{ID: "e-1", PatientID: "p-1", Status: "in-progress", Class: "AMB", Type: "Office visit", Start: time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)},
		{ID: "e-2", PatientID: "p-1", Status: "finished", Class: "AMB", Type: "Annual checkup", Start: time.Date(2025, 1, 2, 9, 0, 0, 0, time.UTC), End: time.Date(2025, 1, 2, 10, 0, 0, 0, time.UTC)},
		{ID: "e-3", PatientID: "p-2", Status: "in-progress", Class: "IMP", Type: "Admission", Start: time.Date(2026, 11, 21, 9, 0, 0, 0, time.UTC)},
	}
)

// fakeDir is the directory the tests' people and encounters live in.
func fakeDir() *smarttest.Directory {
	return &smarttest.Directory{Patients: dirPatients, PractitionerList: dirPractitioners, Related: dirRelated,
		EncounterList: dirEncounters, AnyResource: true}
}

// testServer is one ehrsim authorization server on httptest, with the real
// launcher, client registry and assertion verifier.
type testServer struct {
	t        testing.TB
	ts       *httptest.Server
	base     string
	srv      *Server
	db       *store.DB
	launches *launcher.Service
	reg      *clients.Registry
	clock    *smarttest.Clock
	browser  *http.Client // cookie jar, no redirects followed
	opts     Options
}

// restart replaces the authorization server by a new one on the same
// database (a process restart: nothing in memory survives).
func (h *testServer) restart() {
	h.t.Helper()
	srv, err := New(context.Background(), h.opts)
	if err != nil {
		h.t.Fatal(err)
	}
	h.srv = srv
	h.ts.Config.Handler = h.mux(srv)
}

// mux mounts srv and its pages (ui/authui) as the app does.
func (h *testServer) mux(srv *Server) *http.ServeMux {
	mux := http.NewServeMux()
	srv.Mount(mux)
	(&authui.Handler{Flow: srv, Directory: fakeDir(), Issuer: srv.Issuer(), Now: h.clock.Now}).Mount(mux)
	return mux
}

const cbURL = "https://app.example/callback"

type serverOpt func(*Options)

func newTestServer(t *testing.T, opts ...serverOpt) *testServer {
	t.Helper()
	t.Parallel()
	return newTestServerSerial(t, opts...)
}

// newTestServerSerial is newTestServer for tests that cannot run in parallel.
func newTestServerSerial(t testing.TB, opts ...serverOpt) *testServer {
	t.Helper()
	ctx := context.Background() // outlives one fuzz iteration; the sweeper stops with the process
	h := &testServer{t: t, clock: smarttest.NewClock(time.Now())}
	h.ts = httptest.NewUnstartedServer(nil)
	h.ts.Start()
	t.Cleanup(h.ts.Close)
	h.base = h.ts.URL
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h.db = db
	h.reg, err = clients.NewRegistry(ctx, db, clients.RegistryOptions{BaseURL: h.base, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.launches, err = launcher.New(ctx, launcher.Options{BaseURL: h.base, DB: db, Directory: fakeDir(), Clients: h.reg, Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	o := Options{
		BaseURL: h.base, DB: db, Clients: h.reg, Launches: h.launches, Directory: fakeDir(),
		Assertions: &clients.AssertionVerifier{Registry: h.reg, TokenURL: func() string { return h.base + "/auth/oauth/token" }, Now: h.clock.Now},
		Now:        h.clock.Now,
	}
	for _, f := range opts {
		f(&o)
	}
	h.opts = o
	h.srv, err = New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	h.ts.Config.Handler = h.mux(h.srv)
	jar, _ := cookiejar.New(nil)
	h.browser = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range []clients.Client{
		{ID: "pub", Type: clients.TypePublic, RedirectURIs: []string{cbURL}},
		{ID: "conf", Type: clients.TypeSymmetric, RedirectURIs: []string{cbURL}},
	} {
		secret := ""
		if c.Type == clients.TypeSymmetric {
			secret = "conf-secret-0123456789abcdef"
		}
		if _, err := h.reg.Create(ctx, c, secret); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func (h *testServer) fhirBase() string { return h.base + "/fhir" }

// mint creates a launch through the real launcher.
func (h *testServer) mint(req launcher.Request) *launcher.Result {
	h.t.Helper()
	res, _, err := h.launches.Mint(context.Background(), req)
	if err != nil {
		h.t.Fatalf("mint: %v", err)
	}
	return res
}

// oauthConfig is a real x/oauth2 client configuration.
func (h *testServer) oauthConfig(clientID, secret string, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInParams
	if secret != "" {
		style = oauth2.AuthStyleInHeader
	}
	return &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: cbURL, Scopes: scopes,
		Endpoint: oauth2.Endpoint{AuthURL: h.base + "/auth/authorize", TokenURL: h.base + "/auth/oauth/token", AuthStyle: style},
	}
}

// get runs a request in the test browser (cookies kept, redirects not followed).
func (h *testServer) get(u string) *http.Response {
	h.t.Helper()
	resp, err := h.browser.Get(u)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func (h *testServer) postForm(u string, v url.Values) *http.Response {
	h.t.Helper()
	resp, err := h.browser.PostForm(u, v)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// redirectParams checks a 302/303 to the app's callback and returns its query.
func (h *testServer) redirectParams(resp *http.Response) url.Values {
	h.t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		h.t.Fatalf("status %d, want a redirect; body %s", resp.StatusCode, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		h.t.Fatal(err)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != cbURL {
		h.t.Fatalf("redirect to %s, want the callback %s", loc, cbURL)
	}
	return loc.Query()
}

// flow is one authorization: PKCE verifier, state and the oauth2 config.
type flow struct {
	cfg      *oauth2.Config
	verifier string
	state    string
	extra    []oauth2.AuthCodeOption
}

func (h *testServer) newFlow(clientID, secret, aud string, scopes ...string) *flow {
	f := &flow{cfg: h.oauthConfig(clientID, secret, scopes...), verifier: oauth2.GenerateVerifier(), state: "st-" + oauth2.GenerateVerifier()[:8]}
	f.extra = []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oauth2.SetAuthURLParam("aud", aud)}
	return f
}

func (f *flow) with(k, v string) *flow {
	f.extra = append(f.extra, oauth2.SetAuthURLParam(k, v))
	return f
}

func (f *flow) authURL() string { return f.cfg.AuthCodeURL(f.state, f.extra...) }

// code runs authorize and expects a straight redirect with a code.
func (h *testServer) code(f *flow) string {
	h.t.Helper()
	q := h.redirectParams(h.get(f.authURL()))
	if q.Get("error") != "" {
		h.t.Fatalf("authorize error %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != f.state {
		h.t.Fatalf("state %q, want %q", q.Get("state"), f.state)
	}
	if q.Get("code") == "" {
		h.t.Fatal("no code")
	}
	return q.Get("code")
}

func (h *testServer) exchange(f *flow, code string) *oauth2.Token {
	h.t.Helper()
	tok, err := f.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		h.t.Fatalf("exchange: %v", err)
	}
	return tok
}

// tokenPost posts a raw form to the token endpoint.
func (h *testServer) tokenPost(form url.Values, basicID, basicSecret string) (*http.Response, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.base+"/auth/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	return h.do(req)
}

func (h *testServer) do(req *http.Request) (*http.Response, map[string]any) {
	h.t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if len(body) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(body, &m); err != nil {
			h.t.Fatalf("bad JSON %s: %v", body, err)
		}
	}
	return resp, m
}

func scopeSet(s string) []string {
	f := strings.Fields(s)
	slices.Sort(f)
	return f
}

func wantError(t *testing.T, resp *http.Response, body map[string]any, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || body["error"] != code {
		t.Fatalf("got %d %v, want %d error=%s", resp.StatusCode, body, status, code)
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("Content-Type %q, want application/json", resp.Header.Get("Content-Type"))
	}
}
