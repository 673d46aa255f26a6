package ehrsimtest_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
)

// IssueToken for each kind of user: a clinician with a patient in context,
// a patient's own token, a clinician without a patient (user/ scopes).
func TestIssueToken(t *testing.T) {
	t.Parallel()
	srv := ehrsimtest.Start(t)
	ctx := context.Background()
	read := func(tok *oauth2.Token, path string) int {
		t.Helper()
		res, err := oauth2.NewClient(ctx, oauth2.StaticTokenSource(tok)).Get(srv.FHIR + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	tok, err := srv.IssueToken(ctx, ehrsimtest.TokenRequest{Patient: ehrsimtest.PatientGraceKim, Scopes: []string{"openid", "fhirUser", "patient/Patient.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != ehrsimtest.PatientGraceKim || tok.Extra("encounter") == nil || tok.Extra("id_token") == nil {
		t.Errorf("clinician token: patient %v encounter %v", tok.Extra("patient"), tok.Extra("encounter"))
	}
	if s := read(tok, "/Patient/"+ehrsimtest.PatientGraceKim); s != 200 {
		t.Errorf("read own patient: %d", s)
	}

	tok, err = srv.IssueToken(ctx, ehrsimtest.TokenRequest{User: "Patient/" + ehrsimtest.PatientSarahLee, Scopes: []string{"patient/Observation.rs"}, Encounter: ehrsimtest.EncounterNone})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != ehrsimtest.PatientSarahLee || tok.Extra("encounter") != nil {
		t.Errorf("patient token: patient %v encounter %v", tok.Extra("patient"), tok.Extra("encounter"))
	}

	tok, err = srv.IssueToken(ctx, ehrsimtest.TokenRequest{User: ehrsimtest.PractitionerRajMehta, Scopes: []string{"user/Patient.rs"}})
	if err != nil {
		t.Fatal(err)
	}
	if tok.Extra("patient") != nil {
		t.Errorf("token without a patient has patient %v", tok.Extra("patient"))
	}
	if s := read(tok, "/Patient/"+ehrsimtest.PatientAmyShaw); s != 200 {
		t.Errorf("user/Patient.rs read: %d", s)
	}

	tok, err = srv.IssueToken(ctx, ehrsimtest.TokenRequest{Patient: ehrsimtest.PatientAmyShaw, Scopes: []string{"patient/Patient.rs"}, SimulateError: ehrsimtest.SimRequestRateLimited})
	if err != nil {
		t.Fatal(err)
	}
	if s := read(tok, "/Patient/"+ehrsimtest.PatientAmyShaw); s != http.StatusTooManyRequests {
		t.Errorf("request_rate_limited: %d", s)
	}

	_, err = srv.IssueToken(ctx, ehrsimtest.TokenRequest{Patient: "no-such-patient"})
	var le *ehrsimtest.LaunchError
	if !errors.As(err, &le) || le.Field != "patient" {
		t.Errorf("unknown patient: %v", err)
	}
}

// Authorize stops at the redirect URI; an error page or one of ehrsim's own
// pages is an *ErrorPageError that says where it stopped; a token error is
// the oauth2 library's.
func TestAuthorizeOutcomes(t *testing.T) {
	t.Parallel()
	srv := ehrsimtest.Start(t)
	ctx := context.Background()
	const app = "http://127.0.0.1:9/app"
	conf := &oauth2.Config{ClientID: "my-app", RedirectURL: app + "/callback", Endpoint: srv.Endpoint(),
		Scopes: []string{"launch", "patient/Patient.rs"}}
	launch := func(req ehrsimtest.LaunchRequest) ehrsimtest.Launch {
		req.Client = ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{app + "/callback"}}
		return srv.Launch(t, req)
	}

	cb, err := srv.Authorize(ctx, launch(ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderEHR, Patient: ehrsimtest.PatientAmyShaw, SkipConsent: true}), conf)
	if err != nil || cb.Code == "" || cb.State == "" || cb.Verifier == "" || cb.URL.Host != "127.0.0.1:9" {
		t.Fatalf("EHR launch: %+v, %v", cb, err)
	}

	_, err = srv.Authorize(ctx, launch(ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderEHR, Patient: ehrsimtest.PatientAmyShaw, SkipConsent: true,
		SimulateError: ehrsimtest.SimAuthInvalidClientID}), conf)
	var pe *ehrsimtest.ErrorPageError
	if !errors.As(err, &pe) || pe.Status < 400 {
		t.Errorf("auth_invalid_client_id: %v", err)
	}

	_, err = srv.Authorize(ctx, launch(ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderEHR, Patient: ehrsimtest.PatientAmyShaw}), conf)
	if !errors.As(err, &pe) || !strings.Contains(pe.URL, srv.Base) {
		t.Errorf("EHR launch without SkipConsent: %v, want it stopped at the consent page", err)
	}

	_, err = srv.Tokens(ctx, launch(ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderEHR, Patient: ehrsimtest.PatientAmyShaw, SkipConsent: true,
		SimulateError: ehrsimtest.SimTokenServerError}), conf)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != 500 || re.ErrorCode != "server_error" {
		t.Errorf("token_server_error: %v", err)
	}

	l := launch(ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.PatientStandalone, Patient: ehrsimtest.PatientSarahLee, SkipLogin: true, SkipConsent: true})
	sconf := *conf
	sconf.Scopes = []string{"launch/patient", "patient/Patient.rs"}
	tok, err := srv.Tokens(ctx, l, &sconf)
	if err != nil || tok.Extra("patient") != ehrsimtest.PatientSarahLee {
		t.Errorf("standalone launch: %v, %v", tok, err)
	}
}

// Nothing a server logs reaches the test binary's output: not the OpenID
// library's route list at start, not the warning of a simulated error, not
// the request log. It is all in the server's own log. The test runs itself
// in a child process to see that process's whole output.
func TestLogsStayInTheServer(t *testing.T) {
	if os.Getenv("EHRSIMTEST_LOG_CHILD") == "1" {
		srv := ehrsimtest.Start(t)
		l := srv.Launch(t, ehrsimtest.LaunchRequest{LaunchType: ehrsimtest.ProviderEHR, Patient: ehrsimtest.PatientAmyShaw, SkipConsent: true,
			SimulateError: ehrsimtest.SimAuthInvalidScope})
		conf := &oauth2.Config{ClientID: ehrsimtest.ClientSampleApp, RedirectURL: srv.Base + "/sample-app/index.html", Endpoint: srv.Endpoint(), Scopes: []string{"launch"}}
		if cb, err := srv.Authorize(context.Background(), l, conf); err != nil || cb.Error != "invalid_scope" {
			t.Fatalf("auth_invalid_scope: %+v %v", cb, err)
		}
		log := srv.Log()
		for _, want := range []string{"ehrsim ready", "msg=request", "path=/auth/authorize", "oidc_error", "request_id="} {
			if !strings.Contains(log, want) {
				t.Errorf("server log lacks %q:\n%s", want, log)
			}
		}
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLogsStayInTheServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), "EHRSIMTEST_LOG_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	if s := strings.TrimSpace(string(out)); s != "PASS" {
		t.Errorf("the test binary printed more than PASS:\n%s", s)
	}
}
