package ehrsimtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/upstream/upstreamtest"
)

// Upstream mode end to end, in process: an upstream FHIR server started
// here (fhirtest.World behind its own bearer credential) and a whole
// ehrsim pointed at it with --fhir-upstream.

func startUpstreamMode(t *testing.T) (*ehrsimtest.Server, *upstreamtest.Server) {
	t.Helper()
	up := upstreamtest.Start(t, fhirtest.World())
	srv := ehrsimtest.Start(t, ehrsimtest.WithArgs("--fhir-upstream", up.URL,
		"--fhir-upstream-header", "Authorization: Bearer "+upstreamtest.Token, "--log-level", "debug"))
	t.Cleanup(func() {
		if strings.Contains(srv.Log(), upstreamtest.Token) {
			t.Errorf("the upstream credential is in ehrsim's log")
		}
	})
	return srv, up
}

// fetch GETs u with the bearer token tok ("" for none) and fails the test
// if the upstream credential is in the answer.
func fetch(t *testing.T, tok, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for k, vs := range res.Header {
		if strings.Contains(k+strings.Join(vs, ""), upstreamtest.Token) {
			t.Errorf("GET %s: the upstream credential is in header %s", u, k)
		}
	}
	if strings.Contains(string(b), upstreamtest.Token) {
		t.Errorf("GET %s: the upstream credential is in the answer", u)
	}
	return res.StatusCode, string(b)
}

func bundleIDs(t *testing.T, body string) []string {
	t.Helper()
	var b struct {
		ResourceType string
		Entry        []struct {
			Resource struct{ ResourceType, ID string }
		}
	}
	if json.Unmarshal([]byte(body), &b) != nil || b.ResourceType != "Bundle" {
		t.Fatalf("not a Bundle: %s", body)
	}
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource.ResourceType+"/"+e.Resource.ID)
	}
	return out
}

func TestUpstreamEHRLaunch(t *testing.T) {
	t.Parallel()
	srv, up := startUpstreamMode(t)
	const app = "http://127.0.0.1:9/my-app" // never contacted
	l := srv.Launch(t, ehrsimtest.LaunchRequest{
		LaunchType: ehrsimtest.ProviderEHR, Patient: "p1", Practitioner: "pr1", SkipConsent: true,
		AppLaunchURL: app + "/launch",
		Client:       ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{app + "/callback"}},
	})
	conf := &oauth2.Config{ClientID: "my-app", RedirectURL: app + "/callback",
		Scopes: []string{"launch", "openid", "fhirUser", "patient/*.rs"}}
	tok, err := srv.Tokens(context.Background(), l, conf)
	if err != nil {
		t.Fatal(err)
	}
	// The launch context comes from the upstream: e1 is p1's in-progress encounter.
	if tok.Extra("patient") != "p1" || tok.Extra("encounter") != "e1" {
		t.Errorf("token context: patient %v, encounter %v", tok.Extra("patient"), tok.Extra("encounter"))
	}
	at := tok.AccessToken
	if st, body := fetch(t, at, l.FHIRBaseURL+"/Patient/p1"); st != 200 || !strings.Contains(body, "Amy") {
		t.Errorf("Patient/p1: %d %s", st, body)
	}
	up.Reset()
	if st, _ := fetch(t, at, l.FHIRBaseURL+"/Patient/p2"); st != 404 {
		t.Errorf("Patient/p2 under patient/*.rs: %d, want 404", st)
	}
	if len(up.Requests()) != 0 {
		t.Errorf("another patient's read reached the upstream: %v", up.Requests())
	}
	st, body := fetch(t, at, l.FHIRBaseURL+"/Observation?_include=Observation:subject")
	if ids := bundleIDs(t, body); st != 200 || strings.Join(ids, " ") != "Observation/o1 Observation/o2 Patient/p1" {
		t.Errorf("Observation search: %d %v", st, ids)
	}
	if strings.Contains(body, up.URL) || !strings.Contains(body, srv.FHIR+"/Observation/o1") {
		t.Errorf("URLs not rewritten to %s: %s", srv.FHIR, body)
	}
	if st, body := fetch(t, at, l.FHIRBaseURL+"/Observation?subject.name=Bob"); st != 400 || !strings.Contains(body, "subject.name") {
		t.Errorf("chained search: %d %s", st, body)
	}
	// metadata: the upstream's statement with ehrsim's SMART endpoints.
	if st, body := fetch(t, "", srv.FHIR+"/metadata"); st != 200 || !strings.Contains(body, srv.Issuer+"/authorize") || strings.Contains(body, up.URL) {
		t.Errorf("metadata: %d %s", st, body)
	}
	// The simulated EHR's banner shows the upstream patient.
	if st, body := fetch(t, "", l.SimEHRURL); st != 200 || !strings.Contains(body, "Amy Shaw") {
		t.Errorf("simulated EHR: %d (Amy Shaw shown: %v)", st, strings.Contains(body, "Amy Shaw"))
	}
	// The launch inspector records the proxied requests like any others,
	// with the other patient's read flagged.
	var sawRead, sawOther bool
	for _, ev := range srv.Events(t, l.ID) {
		sawRead = sawRead || ev.Kind == "fhir" && strings.Contains(ev.Summary, "/Patient/p1") && ev.Status == 200
		sawOther = sawOther || ev.Kind == "fhir" && strings.Contains(ev.Summary, "/Patient/p2") && ev.Status == 404 && len(ev.Diagnostics) > 0
	}
	if !sawRead || !sawOther {
		t.Errorf("inspector events: read of p1 %v, flagged read of p2 %v", sawRead, sawOther)
	}
	// The demo data is not loaded: its patients are unknown, named by field.
	_, err = srv.TryLaunch(context.Background(), ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderEHR, Patient: ehrsimtest.PatientAmyShaw})
	var le *ehrsimtest.LaunchError
	if !errors.As(err, &le) || le.Status != 400 || le.Field != "patient" {
		t.Errorf("launch for a patient the upstream lacks: %v", err)
	}
	_, err = srv.TryLaunch(context.Background(), ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderEHR, Patient: "p1", Practitioner: "nobody"})
	if !errors.As(err, &le) || le.Status != 400 || le.Field != "practitioner" {
		t.Errorf("launch for a practitioner the upstream lacks: %v", err)
	}
}

func TestUpstreamStandaloneLaunches(t *testing.T) {
	t.Parallel()
	srv, _ := startUpstreamMode(t)
	const app = "http://127.0.0.1:9/my-app"
	client := ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{app + "/callback"}}
	conf := &oauth2.Config{ClientID: "my-app", RedirectURL: app + "/callback",
		Scopes: []string{"launch/patient", "openid", "fhirUser", "patient/*.rs"}}

	// Patient standalone: Bob Jones (p2) signs in; his token sees his data only.
	l := srv.Launch(t, ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.PatientStandalone, Patient: "p2",
		SkipLogin: true, SkipConsent: true, Client: client})
	tok, err := srv.Tokens(context.Background(), l, conf)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != "p2" || !strings.Contains(l.FHIRBaseURL, "/sim/") {
		t.Fatalf("patient standalone: patient %v, base %s", tok.Extra("patient"), l.FHIRBaseURL)
	}
	st, body := fetch(t, tok.AccessToken, l.FHIRBaseURL+"/Condition")
	if ids := bundleIDs(t, body); st != 200 || strings.Join(ids, " ") != "Condition/c4" || !strings.Contains(body, l.FHIRBaseURL+"/Condition/c4") {
		t.Errorf("p2's Conditions on %s: %d %v", l.FHIRBaseURL, st, ids)
	}
	if st, _ := fetch(t, tok.AccessToken, l.FHIRBaseURL+"/Patient/p1/$everything"); st != 404 {
		t.Errorf("another patient's $everything: %d, want 404", st)
	}

	// Provider standalone: the patient picker lists the upstream's
	// patients; picking Bob Jones gives a token for p2.
	l = srv.Launch(t, ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderStandalone, Practitioner: "pr1",
		SkipLogin: true, SkipConsent: true, Client: client})
	tok = pickPatient(t, l, conf, srv, "p2", "Amy Shaw", "Bob Jones")
	if tok.Extra("patient") != "p2" {
		t.Errorf("picked p2, token patient %v", tok.Extra("patient"))
	}
	if st, body := fetch(t, tok.AccessToken, l.FHIRBaseURL+"/Patient/p2"); st != 200 || !strings.Contains(body, "Jones") {
		t.Errorf("picked patient's read: %d %s", st, body)
	}
	// A picker limited to one upstream patient is answered straight away.
	l = srv.Launch(t, ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderStandalone, Patient: "p1", Practitioner: "pr1",
		SkipLogin: true, SkipConsent: true, Client: client})
	conf.Scopes = []string{"launch/patient", "openid", "fhirUser", "user/*.rs"}
	tok, err = srv.Tokens(context.Background(), l, conf)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != "p1" {
		t.Errorf("provider standalone: patient %v", tok.Extra("patient"))
	}
	// user/ scopes reach every patient, still through ehrsim's checks.
	if st, body := fetch(t, tok.AccessToken, l.FHIRBaseURL+"/Observation?_count=10"); st != 200 || len(bundleIDs(t, body)) != 4 {
		t.Errorf("user/*.rs Observation search: %d %s", st, body)
	}
}

func TestUpstreamDownGivesClearErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := ehrsimtest.Start(t, ehrsimtest.WithArgs("--fhir-upstream", "http://"+addr+"/fhir",
		"--fhir-upstream-header", "Authorization: Bearer "+upstreamtest.Token))
	// ehrsim starts and stays healthy.
	if st, _ := fetch(t, "", srv.Base+"/healthz"); st != 200 {
		t.Errorf("healthz: %d", st)
	}
	if st, body := fetch(t, "", srv.FHIR+"/metadata"); st != 502 || !strings.Contains(body, "OperationOutcome") || !strings.Contains(body, "refused the connection") {
		t.Errorf("metadata with the upstream down: %d %s", st, body)
	}
	tok, err := srv.IssueToken(context.Background(), ehrsimtest.TokenRequest{Patient: "p1", Scopes: []string{"patient/*.rs"}})
	if err == nil {
		t.Errorf("a token for a patient nobody could look up: %v", tok)
	}
	// A launch cannot be validated: refused, and the log says why.
	if _, err = srv.TryLaunch(context.Background(), ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderEHR, Patient: "p1"}); err == nil {
		t.Error("a launch was minted while its patient could not be looked up")
	}
	if !strings.Contains(srv.Log(), "upstream FHIR server refused the connection") {
		t.Errorf("the log does not say the upstream is down")
	}
	if strings.Contains(srv.Log(), upstreamtest.Token) {
		t.Errorf("the upstream credential is in ehrsim's log")
	}
}

var hiddenInput = regexp.MustCompile(`name="(id|csrf)" value="([^"]*)"`)

// pickPatient runs an authorization that stops at ehrsim's patient
// picker, as a browser with cookies would: it checks the picker lists
// names, posts the choice of patient and exchanges the code.
func pickPatient(t *testing.T, l ehrsimtest.Launch, conf *oauth2.Config, srv *ehrsimtest.Server, patient string, names ...string) *oauth2.Token {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var callback *url.URL
	hc := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), conf.RedirectURL) {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	c := *conf
	c.Endpoint = srv.Endpoint()
	verifier := oauth2.GenerateVerifier()
	res, err := hc.Get(c.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", l.FHIRBaseURL)))
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(res.Request.URL.Path, "/auth/patient") {
		t.Fatalf("authorize did not stop at the patient picker: %d %s", res.StatusCode, res.Request.URL)
	}
	for _, n := range names {
		if !strings.Contains(string(page), n) {
			t.Errorf("the patient picker does not list %s", n)
		}
	}
	form := url.Values{"patient": {patient}}
	for _, m := range hiddenInput.FindAllStringSubmatch(string(page), -1) {
		form.Set(m[1], m[2])
	}
	res, err = hc.PostForm(res.Request.URL.Scheme+"://"+res.Request.URL.Host+"/auth/patient", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if callback == nil || callback.Query().Get("code") == "" {
		t.Fatalf("picking %s did not lead back to the app: %d %s", patient, res.StatusCode, res.Request.URL)
	}
	tok, err := c.Exchange(context.Background(), callback.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
