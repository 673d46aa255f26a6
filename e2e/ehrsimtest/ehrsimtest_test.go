package ehrsimtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
)

// noRedirects is an HTTP client that shows each redirect instead of
// following it, as an app's own test would, to catch the code.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// authorize opens an authorization URL and returns the redirect it answers.
func authorize(t *testing.T, authURL string) *url.URL {
	t.Helper()
	res, err := noRedirects.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound && res.StatusCode != http.StatusSeeOther {
		t.Fatalf("authorize: %d, want a redirect", res.StatusCode)
	}
	loc, err := res.Location()
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// A user's test: an EHR launch with login and consent skipped, driven with
// golang.org/x/oauth2 over plain HTTP, then FHIR reads with the token.
func TestEHRLaunchWithXOAuth2(t *testing.T) {
	t.Parallel()
	srv := ehrsimtest.Start(t)
	const app = "http://127.0.0.1:9/my-app" // never contacted: redirects are read, not followed
	l := srv.Launch(t, ehrsimtest.LaunchRequest{
		LaunchType: "provider-ehr", Patient: "pat-grace-kim", SkipLogin: true, SkipConsent: true,
		AppLaunchURL: app + "/launch",
		Client:       ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{app + "/callback"}},
	})
	iss, launch, err := ehrsimtest.LaunchParams(l.LaunchURL)
	if err != nil || iss != srv.FHIR || launch == "" || !strings.HasPrefix(l.LaunchURL, app+"/launch?") {
		t.Fatalf("launch URL %q: iss %q launch %q (%v)", l.LaunchURL, iss, launch, err)
	}
	conf := &oauth2.Config{
		ClientID: "my-app", Endpoint: srv.Endpoint(), RedirectURL: app + "/callback",
		Scopes: []string{"launch", "openid", "fhirUser", "patient/Patient.rs", "patient/Observation.rs"},
	}
	verifier := oauth2.GenerateVerifier()
	loc := authorize(t, conf.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", iss), oauth2.SetAuthURLParam("launch", launch)))
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != app+"/callback" || loc.Query().Get("state") != "state-1" {
		t.Fatalf("redirect to %s", loc)
	}
	tok, err := conf.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != "pat-grace-kim" || tok.Extra("encounter") == "" || tok.Extra("id_token") == "" {
		t.Errorf("token context: patient %v encounter %v id_token set %v", tok.Extra("patient"), tok.Extra("encounter"), tok.Extra("id_token") != "")
	}
	hc := conf.Client(context.Background(), tok)
	res, err := hc.Get(iss + "/Patient/pat-grace-kim")
	if err != nil {
		t.Fatal(err)
	}
	var p struct{ ResourceType, ID string }
	json.NewDecoder(res.Body).Decode(&p)
	res.Body.Close()
	if res.StatusCode != 200 || p.ResourceType != "Patient" || p.ID != "pat-grace-kim" {
		t.Errorf("GET Patient: %d %+v", res.StatusCode, p)
	}
	// Scopes are enforced: Condition was not granted.
	res, err = hc.Get(iss + "/Condition?patient=pat-grace-kim")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("GET Condition: %d, want 403", res.StatusCode)
	}
}

// Two servers in one test are independent; a bad launch is refused with
// the field named.
func TestStartIsolatedAndLaunchErrors(t *testing.T) {
	t.Parallel()
	a, b := ehrsimtest.Start(t), ehrsimtest.Start(t)
	if a.Base == b.Base || a.DataDir == b.DataDir {
		t.Fatalf("servers share %s / %s", a.Base, a.DataDir)
	}
	if a.Issuer != a.Base+"/auth" || a.TokenURL != a.Issuer+"/oauth/token" || a.Clients.Backend != "demo-backend" || len(a.Clients.PrivateJWKS) == 0 {
		t.Errorf("server description: %+v", a)
	}
	_, err := a.TryLaunch(context.Background(), ehrsimtest.LaunchRequest{LaunchType: "provider-ehr", Patient: "no-such-patient"})
	var le *ehrsimtest.LaunchError
	if !errors.As(err, &le) || le.Status != http.StatusBadRequest || le.Field != "patient" {
		t.Errorf("bad launch: %v", err)
	}
}

// StrictClients: an unregistered client gets an error page, not a code;
// a registered demo client still works.
func TestStrictClients(t *testing.T) {
	t.Parallel()
	srv := ehrsimtest.Start(t, ehrsimtest.StrictClients())
	conf := &oauth2.Config{ClientID: "unregistered-app", Endpoint: srv.Endpoint(), RedirectURL: "http://127.0.0.1:9/cb", Scopes: []string{"openid", "patient/Patient.rs"}}
	res, err := noRedirects.Get(conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", srv.FHIR)))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode < 400 || res.StatusCode >= 500 {
		t.Errorf("unregistered client in strict mode: %d, want an error page", res.StatusCode)
	}
	l := srv.Launch(t, ehrsimtest.LaunchRequest{LaunchType: "patient-standalone", Patient: "pat-sarah-lee", SkipLogin: true, SkipConsent: true})
	conf.ClientID, conf.RedirectURL = srv.Clients.Public, "http://localhost:9000/callback" // registered for demo-public
	loc := authorize(t, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()), oauth2.SetAuthURLParam("aud", l.FHIRBaseURL)))
	if loc.Query().Get("code") == "" {
		t.Errorf("registered client in strict mode: redirect %s has no code", loc)
	}
}
