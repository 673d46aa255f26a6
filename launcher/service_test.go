package launcher

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

var ctx = context.Background()

// fullRequest sets every contract field (provider EHR launch, ad-hoc
// confidential-symmetric client).
func fullRequest() Request {
	f := false
	return Request{
		LaunchType:   "provider-ehr",
		Patient:      "pt-1",
		Encounter:    "enc-1z",
		Practitioner: "pr-2",
		FHIRContext: []FHIRContextItem{
			{Reference: "Observation/obs-1", Role: "https://example.org/roles/focus"},
			{Canonical: "http://example.org/Questionnaire/phq9|1.0", Type: "Questionnaire"},
			{Identifier: json.RawMessage(`{"system":"urn:x","value":"42"}`), Type: "ImagingStudy"},
			{Reference: "Patient/pt-2", Role: "https://example.org/roles/sibling"},
		},
		NeedPatientBanner: &f,
		SmartStyleURL:     "https://app.example/style.json",
		Intent:            "reconcile-medications",
		Tenant:            "tenant-a",
		SkipLogin:         true,
		SkipConsent:       true,
		Client: Client{
			ClientID: "my-app", ClientType: clients.TypeSymmetric, ClientSecret: "s3cr3t-value-xyz",
			RedirectURIs: []string{"https://app.example/cb", "http://localhost:3000/cb"},
			Scope:        "launch openid fhirUser patient/*.rs", PKCE: clients.PKCEOptional,
		},
		SimulateError:        "token_invalid_scope",
		AppLaunchURL:         "https://app.example/launch?x=1&y=a%20b",
		LaunchOnce:           true,
		AccessTokenLifetime:  120,
		RefreshTokenLifetime: 7200,
	}
}

func TestMintOpenRoundTripsEveryField(t *testing.T) {
	e := newEnv(t, "")
	req := fullRequest()
	res, minted, err := e.svc.Mint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.svc.Open(ctx, res.Launch)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l, minted) {
		t.Fatalf("opened launch differs from minted:\n%+v\n%+v", l, minted)
	}
	want := &Launch{
		ID: res.ID, Type: ProviderEHR, Patients: []string{"pt-1"}, Encounter: "enc-1z", Practitioner: "pr-2",
		FHIRContext: req.FHIRContext, NeedPatientBanner: req.NeedPatientBanner, SmartStyleURL: req.SmartStyleURL,
		Intent: req.Intent, Tenant: req.Tenant, SkipLogin: true, SkipConsent: true, Client: req.Client,
		SimulateError: smart.SimulatedError(req.SimulateError), AppLaunchURL: req.AppLaunchURL, LaunchOnce: true,
		AccessTokenLifetime: 120, RefreshTokenLifetime: 7200,
		CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(24 * time.Hour), code: res.Launch,
	}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("launch:\n got %+v\nwant %+v", l, want)
	}
	if len(res.ID) != 22 {
		t.Errorf("id %q: want 22 base64url chars (128 bits)", res.ID)
	}
}

func TestStandaloneRoundTripAndFHIRBase(t *testing.T) {
	e := newEnv(t, "")
	res, _, err := e.svc.Mint(ctx, Request{LaunchType: "patient-standalone", Patient: "pt-1,pt-2", Client: Client{ClientID: "reg-app", Scope: "patient/*.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Launch != "" || res.SimEHRURL != "" || res.LaunchURL != "" {
		t.Errorf("standalone result has launch/sim_ehr_url/launch_url: %+v", res)
	}
	prefix, suffix := testBase+"/sim/", "/fhir"
	if !strings.HasPrefix(res.FHIRBaseURL, prefix) || !strings.HasSuffix(res.FHIRBaseURL, suffix) || res.ISS != res.FHIRBaseURL {
		t.Fatalf("fhir_base_url %q iss %q", res.FHIRBaseURL, res.ISS)
	}
	sc := strings.TrimSuffix(strings.TrimPrefix(res.FHIRBaseURL, prefix), suffix)
	l, err := e.svc.OpenScenario(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.Patients, []string{"pt-1", "pt-2"}) || l.Encounter != "" || l.Client.Scope != "patient/*.rs" || l.Client.PKCE != "" {
		t.Fatalf("scenario launch %+v", l)
	}
	// FHIRBase is deterministic: a copy without the remembered scenario
	// re-derives the same base (another instance sharing the key does too).
	cp := *l
	cp.scenario = ""
	if got := e.svc.FHIRBase(&cp); got != res.FHIRBaseURL {
		t.Fatalf("FHIRBase re-derived %q, want %q", got, res.FHIRBaseURL)
	}
	if _, err := e.svc.Open(ctx, sc); !errors.Is(err, ErrUnknownLaunch) {
		t.Fatalf("scenario opened as launch code: %v", err)
	}
}

func TestEHR01_EHR02_LaunchURLShape(t *testing.T) {
	e := newEnv(t, "")
	res, _, err := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1", AppLaunchURL: "https://app.example/launch?x=1&iss=old&y=a%20b#frag"})
	if err != nil {
		t.Fatal(err)
	}
	if res.ISS != testBase+"/fhir" || res.FHIRBaseURL != res.ISS {
		t.Fatalf("EHR-02: iss %q fhir_base_url %q, want %q", res.ISS, res.FHIRBaseURL, testBase+"/fhir")
	}
	want := "https://app.example/launch?x=1&y=a%20b&iss=" + url.QueryEscape(res.ISS) + "&launch=" + url.QueryEscape(res.Launch) + "#frag"
	if res.LaunchURL != want {
		t.Fatalf("EHR-01 launch_url\n got %s\nwant %s", res.LaunchURL, want)
	}
	u, _ := url.Parse(res.LaunchURL)
	if q := u.Query(); q.Get("iss") != res.ISS || q.Get("launch") != res.Launch || len(q["iss"]) != 1 {
		t.Fatalf("EHR-01 query %v", q)
	}
	if res.SimEHRURL != testBase+"/ehr?launch="+url.QueryEscape(res.Launch) {
		t.Fatalf("sim_ehr_url %q", res.SimEHRURL)
	}
}

func TestEHRDefaults(t *testing.T) {
	e := newEnv(t, "")
	res, l, err := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1"})
	if err != nil {
		t.Fatal(err)
	}
	if l.AppLaunchURL != testBase+"/sample-app/launch.html" || l.SmartStyleURL != testBase+"/smart-style/v1.json" ||
		l.NeedPatientBanner == nil || !*l.NeedPatientBanner || l.Client.ClientID != DefaultClientID ||
		l.Practitioner != "pr-1" || l.Encounter != "enc-1a" {
		t.Fatalf("defaults not applied: %+v", l)
	}
	if !strings.HasPrefix(res.LaunchURL, testBase+"/sample-app/launch.html?iss=") {
		t.Fatalf("launch_url %q", res.LaunchURL)
	}
	// AUTO with no in-progress encounter: no encounter, not an error.
	_, l, err = e.svc.Mint(ctx, Request{LaunchType: "patient-portal", Patient: "pt-2", Encounter: "AUTO"})
	if err != nil || l.Encounter != "" || l.Practitioner != "" {
		t.Fatalf("pt-2 AUTO: %v %+v", err, l)
	}
	_, l, err = e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1", Encounter: "NONE"})
	if err != nil || l.Encounter != "" {
		t.Fatalf("NONE: %v %+v", err, l)
	}
}

func TestSealedValuesRejectTampering(t *testing.T) {
	e := newEnv(t, "")
	res, _, err := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1"})
	if err != nil {
		t.Fatal(err)
	}
	code := res.Launch
	raw, _ := base64.RawURLEncoding.DecodeString(code)
	flip := func(i int) string {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		return base64.RawURLEncoding.EncodeToString(b)
	}
	cases := map[string]string{
		"empty":            "",
		"not base64":       "!!!" + code[3:],
		"truncated":        code[:len(code)-4],
		"header only":      code[:20],
		"version byte":     flip(0),
		"nonce bit":        flip(5),
		"ciphertext bit":   flip(len(raw) / 2),
		"tag bit":          flip(len(raw) - 1),
		"padded":           code + "==",
		"appended":         code + "AAAA",
		"huge":             strings.Repeat("A", maxSealed+1),
		"other key":        otherKeyCode(t),
		"standard base64":  base64.StdEncoding.EncodeToString(raw),
		"lowercased a bit": strings.ToLower(code[:10]) + code[10:],
	}
	for name, v := range cases {
		if v == code {
			continue // e.g. lower-casing an already lower-case prefix
		}
		if l, err := e.svc.Open(ctx, v); !errors.Is(err, ErrUnknownLaunch) || l != nil {
			t.Errorf("%s: Open = %v, %v; want ErrUnknownLaunch", name, l, err)
		}
	}
	// Cross-purpose: a launch code is not a scenario.
	if _, err := e.svc.OpenScenario(ctx, code); !errors.Is(err, ErrUnknownLaunch) {
		t.Errorf("launch code opened as scenario: %v", err)
	}
}

// otherKeyCode mints a code in another data dir (another sealing key).
func otherKeyCode(t *testing.T) string {
	o := newEnv(t, "")
	res, _, err := o.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Launch
}

func TestLaunchSurvivesRestart(t *testing.T) {
	e := newEnv(t, "")
	res, _, err := e.svc.Mint(ctx, fullRequest())
	if err != nil {
		t.Fatal(err)
	}
	sres, _, err := e.svc.Mint(ctx, Request{LaunchType: "provider-standalone", Patient: "pt-3"})
	if err != nil {
		t.Fatal(err)
	}
	e.db.Close()
	e2 := newEnv(t, e.dir) // new store.Open, new Service, same data dir
	l, err := e2.svc.Open(ctx, res.Launch)
	if err != nil {
		t.Fatalf("after restart: %v", err)
	}
	if l.Client.ClientSecret != "s3cr3t-value-xyz" || l.Patient() != "pt-1" {
		t.Fatalf("after restart: %+v", l)
	}
	sc := strings.TrimSuffix(strings.TrimPrefix(sres.FHIRBaseURL, testBase+"/sim/"), "/fhir")
	if sl, err := e2.svc.OpenScenario(ctx, sc); err != nil || sl.Patient() != "pt-3" || e2.svc.FHIRBase(sl) != sres.FHIRBaseURL {
		t.Fatalf("scenario after restart: %v %+v", err, sl)
	}
}

func TestExpiryViaClock(t *testing.T) {
	e := newEnv(t, "")
	res, _, err := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1"})
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(24*time.Hour - time.Second)
	if _, err := e.svc.Open(ctx, res.Launch); err != nil {
		t.Fatalf("1 s before expiry: %v", err)
	}
	e.clock.Add(time.Second)
	l, err := e.svc.Open(ctx, res.Launch)
	if !errors.Is(err, ErrExpiredLaunch) || l == nil || l.ID != res.ID {
		t.Fatalf("at expiry: %v %v; want ErrExpiredLaunch with the launch", l, err)
	}
}

func TestEHR09_LaunchOnceConsumedOnce(t *testing.T) {
	e := newEnv(t, "")
	res, _, err := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1", LaunchOnce: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := e.svc.Open(ctx, res.Launch)
	if err != nil {
		t.Fatal(err)
	}
	if used, _ := e.svc.Used(ctx, l); used {
		t.Fatal("used before Consume")
	}
	if err := e.svc.Consume(ctx, l); err != nil {
		t.Fatalf("first Consume: %v", err)
	}
	// A second instance sharing the database sees it used.
	e2svc, err := New(ctx, Options{BaseURL: testBase, DB: e.db, Directory: fakeDir(), Now: e.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	l2, err := e2svc.Open(ctx, res.Launch)
	if err != nil {
		t.Fatal(err)
	}
	if err := e2svc.Consume(ctx, l2); !errors.Is(err, ErrLaunchUsed) {
		t.Fatalf("second Consume: %v, want ErrLaunchUsed", err)
	}
	if used, _ := e.svc.Used(ctx, l); !used {
		t.Fatal("Used false after Consume")
	}
	// Reusable launches are never consumed.
	res2, _, _ := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1"})
	r, _ := e.svc.Open(ctx, res2.Launch)
	for i := 0; i < 3; i++ {
		if err := e.svc.Consume(ctx, r); err != nil {
			t.Fatalf("reusable Consume %d: %v", i, err)
		}
	}
}

// A launch whose client section names an unregistered client_id defines
// that client for as long as the launch lives (sandbox mode), so the
// authorization server knows it at every endpoint.
func TestMintDefinesLaunchClients(t *testing.T) {
	e := newEnv(t, "")
	if _, _, err := e.svc.Mint(ctx, fullRequest()); err != nil {
		t.Fatal(err)
	}
	backend := Request{LaunchType: "backend-service", Client: Client{ClientID: "my-backend", JWKSURL: "https://app.example/jwks.json", Scope: "system/*.rs"}}
	if _, _, err := e.svc.Mint(ctx, backend); err != nil {
		t.Fatal(err)
	}
	// Registered or defaulted clients define nothing.
	for _, req := range []Request{
		{LaunchType: "provider-ehr", Patient: "pt-1"},
		{LaunchType: "provider-ehr", Patient: "pt-1", Client: Client{ClientID: "reg-app", Scope: "launch"}},
		{LaunchType: "patient-standalone"},
	} {
		if _, _, err := e.svc.Mint(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	got := e.clients.definitions()
	until := e.clock.Now().Add(24 * time.Hour)
	want := []definedClient{
		{clients.Client{ID: "my-app", Type: clients.TypeSymmetric, RedirectURIs: []string{"https://app.example/cb", "http://localhost:3000/cb"},
			Scope: "launch openid fhirUser patient/*.rs", PKCE: clients.PKCEOptional, JWKS: json.RawMessage{}}, "s3cr3t-value-xyz", until},
		{clients.Client{ID: "my-backend", Type: clients.TypeBackend, JWKSURL: "https://app.example/jwks.json", Scope: "system/*.rs", JWKS: json.RawMessage{}}, "", until},
	}
	if len(got) != len(want) {
		t.Fatalf("defined %d clients, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		g, w := got[i], want[i]
		if len(g.client.RedirectURIs) == 0 {
			g.client.RedirectURIs = nil
		}
		if len(g.client.JWKS) == 0 {
			g.client.JWKS = json.RawMessage{}
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("definition %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
}

// The framed variant is the same launch: one id (so launch_once is spent
// by either code), one expiry, need_patient_banner false.
func TestFramedIsTheSameLaunch(t *testing.T) {
	e := newEnv(t, "")
	req := fullRequest()
	tr := true
	req.NeedPatientBanner = &tr
	res, l, err := e.svc.Mint(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	code, launchURL, err := e.svc.Framed(l)
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.svc.Open(ctx, code)
	if err != nil {
		t.Fatal(err)
	}
	if f.ID != l.ID || !f.ExpiresAt.Equal(l.ExpiresAt) || *f.NeedPatientBanner || !*l.NeedPatientBanner {
		t.Fatalf("framed %+v of %+v", f, l)
	}
	if want := "https://app.example/launch?x=1&y=a%20b&iss="; !strings.HasPrefix(launchURL, want) || !strings.HasSuffix(launchURL, "&launch="+url.QueryEscape(code)) {
		t.Fatalf("launch URL %s", launchURL)
	}
	if err := e.svc.Consume(ctx, f); err != nil {
		t.Fatal(err)
	}
	o, _ := e.svc.Open(ctx, res.Launch)
	if err := e.svc.Consume(ctx, o); !errors.Is(err, ErrLaunchUsed) {
		t.Fatalf("the original code after the framed one was used: %v, want ErrLaunchUsed", err)
	}
	if _, _, err := e.svc.Framed(&Launch{Type: PatientStandalone}); err == nil {
		t.Fatal("a standalone launch was framed")
	}
}
