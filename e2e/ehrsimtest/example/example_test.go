package example_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
)

// srv is one ehrsim shared by every test of the package. Launches are
// independent, so tests may share it and run in parallel; a test that needs
// its own server (other flags, a restart) calls ehrsimtest.Start(t).
var srv *ehrsimtest.Server

func TestMain(m *testing.M) {
	var err error
	srv, err = ehrsimtest.New(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintf(os.Stderr, "ehrsim log:\n%s", srv.Log())
	}
	if err := srv.Close(); err != nil {
		log.Print(err)
	}
	os.Exit(code)
}

// openInBrowser follows a URL and its redirects as a browser would, and
// returns the final page.
func openInBrowser(t *testing.T, u string) (int, string) {
	t.Helper()
	res, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The app's EHR launch, end to end: the EHR opens the app's launch URL, the
// app authorizes with golang.org/x/oauth2 (PKCE, aud, launch), exchanges the
// code and reads the patient in context.
func TestEHRLaunchShowsThePatient(t *testing.T) {
	t.Parallel()
	app := newSMARTApp(t, "my-app")
	l := srv.Launch(t, ehrsimtest.LaunchRequest{
		LaunchType:   ehrsimtest.ProviderEHR,
		Patient:      ehrsimtest.PatientGraceKim,
		SkipConsent:  true, // no consent page: authorize redirects straight to the app
		AppLaunchURL: app.URL + "/launch",
		Client:       ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{app.conf.RedirectURL}},
	})
	status, page := openInBrowser(t, l.LaunchURL)
	if status != http.StatusOK || !strings.Contains(page, "<h1 id=patient>Grace Kim</h1>") {
		t.Fatalf("app after the EHR launch: %d %s", status, page)
	}

	// The same launch without the app's own pages: Tokens runs the
	// authorization and code exchange with the app's oauth2.Config.
	conf := *app.conf
	conf.Endpoint = srv.Endpoint()
	tok, err := srv.Tokens(context.Background(), l, &conf)
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != ehrsimtest.PatientGraceKim || tok.Extra("id_token") == nil {
		t.Errorf("token context: patient %v, id_token %v", tok.Extra("patient"), tok.Extra("id_token") != nil)
	}
}

// A simulated error the app must handle: the user denies access. The app
// gets error=access_denied at its callback and must say so, not crash or
// loop.
func TestEHRLaunchAccessDenied(t *testing.T) {
	t.Parallel()
	app := newSMARTApp(t, "my-app")
	l := srv.Launch(t, ehrsimtest.LaunchRequest{
		LaunchType:    ehrsimtest.ProviderEHR,
		Patient:       ehrsimtest.PatientAmyShaw,
		SkipConsent:   true,
		SimulateError: ehrsimtest.SimAuthAccessDenied,
		AppLaunchURL:  app.URL + "/launch",
		Client:        ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{app.conf.RedirectURL}},
	})
	status, page := openInBrowser(t, l.LaunchURL)
	if status != http.StatusForbidden || !strings.Contains(page, "refused access (access_denied)") {
		t.Fatalf("app after a denied launch: %d %s", status, page)
	}

	// Authorize returns the callback URL itself, for testing a callback
	// handler directly.
	conf := *app.conf
	conf.Endpoint = srv.Endpoint()
	cb, err := srv.Authorize(context.Background(), l, &conf)
	if err != nil {
		t.Fatal(err)
	}
	if cb.Error != "access_denied" || cb.Code != "" || !strings.HasPrefix(cb.URL.String(), app.conf.RedirectURL+"?") {
		t.Errorf("callback %s: error %q code %q", cb.URL, cb.Error, cb.Code)
	}
	_, err = srv.Tokens(context.Background(), l, &conf)
	var ce *ehrsimtest.CallbackError
	if !errors.As(err, &ce) || ce.Code != "access_denied" {
		t.Errorf("Tokens of a denied launch: %v", err)
	}
}

// An API test with a directly issued token: no app, no launch URL.
func TestFHIRClientWithIssuedToken(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tok, err := srv.IssueToken(ctx, ehrsimtest.TokenRequest{
		Patient: ehrsimtest.PatientDanielRivera,
		Scopes:  []string{"patient/Observation.rs"},
	})
	if err != nil {
		t.Fatal(err)
	}
	hc := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok))
	var bundle struct{ Entry []any }
	if err := getJSON(hc, srv.FHIR+"/Observation?patient="+ehrsimtest.PatientDanielRivera+"&category=vital-signs", &bundle); err != nil {
		t.Fatal(err)
	}
	if len(bundle.Entry) == 0 {
		t.Error("no vital signs for the diabetic demo patient")
	}
	// Scopes are enforced: Condition was not granted.
	res, err := hc.Get(srv.FHIR + "/Condition?patient=" + ehrsimtest.PatientDanielRivera)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("Condition without the scope: %d, want 403", res.StatusCode)
	}
}
