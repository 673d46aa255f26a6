package ehrsimtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Callback is where the authorization server sent the browser: the app's
// redirect URI with either a code or an error, as the app's callback
// handler receives it.
type Callback struct {
	// URL is the whole redirect (conf.RedirectURL?code=…&state=…, or
	// ?error=…&error_description=…&state=…): hand it to your app's callback
	// handler, or use the fields below.
	URL *url.URL
	// Code is the authorization code; empty when Error is set.
	Code string
	// State is the state parameter echoed back (Authorize sends a random one).
	State string
	// Error and ErrorDescription are the OAuth error of a refused
	// authorization (access_denied, invalid_scope, temporarily_unavailable…).
	Error, ErrorDescription string
	// Verifier is the PKCE code verifier Authorize used; exchange the code
	// with conf.Exchange(ctx, cb.Code, oauth2.VerifierOption(cb.Verifier)).
	Verifier string
}

// ErrorPageError is an authorization the server refused without redirecting
// to the app (an unknown client or redirect URI must never be redirected
// to), or one that stopped at one of ehrsim's own pages (login, patient
// picker, consent) because the launch did not skip them.
type ErrorPageError struct {
	Status int    // the page's HTTP status
	URL    string // the page's URL
	Text   string // the start of the page's text
}

func (e *ErrorPageError) Error() string {
	return fmt.Sprintf("ehrsimtest: authorize stopped at %s (%d), not at the redirect URI: %s", e.URL, e.Status, e.Text)
}

// CallbackError is an authorization that came back to the app with an OAuth
// error, as returned by Tokens and IssueToken.
type CallbackError struct {
	Code        string // error: access_denied, invalid_scope, …
	Description string // error_description
}

func (e *CallbackError) Error() string {
	return "ehrsimtest: authorize answered error=" + e.Code + ": " + e.Description
}

// Authorize plays the authorization step of launch l as the app configured
// by conf would after its launch page: it sends conf's authorization request
// (conf.Scopes, PKCE S256, a random state, aud = l.FHIRBaseURL, and launch =
// l.Launch for EHR launches) and follows the server's redirects until one
// leads to conf.RedirectURL, which it returns without contacting it.
//
// The launch has to need no person: mint it with SkipConsent (and, for
// standalone launches, SkipLogin). A launch that stops at ehrsim's login,
// picker or consent page, or an authorization refused with an error page
// (SimAuthInvalidClientID, SimAuthInvalidRedirectURI, an unknown client in
// strict mode), returns an *ErrorPageError. An authorization refused with a
// redirect (SimAuthAccessDenied, …) is a Callback with Error set and a nil
// error.
func (s *Server) Authorize(ctx context.Context, l Launch, conf *oauth2.Config) (*Callback, error) {
	if conf.RedirectURL == "" {
		return nil, errors.New("ehrsimtest: Authorize: conf.RedirectURL is empty")
	}
	verifier := oauth2.GenerateVerifier()
	state := randomString()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("aud", l.FHIRBaseURL)}
	if l.Launch != "" {
		opts = append(opts, oauth2.SetAuthURLParam("launch", l.Launch))
	}
	c := conf
	if c.Endpoint.AuthURL == "" {
		cp := *conf
		cp.Endpoint = s.Endpoint()
		c = &cp
	}
	target := c.AuthCodeURL(state, opts...)
	redirect := strings.TrimSuffix(stripQuery(conf.RedirectURL), "/")
	var callback *url.URL
	hc := *s.http
	hc.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if strings.TrimSuffix(stripQuery(req.URL.String()), "/") == redirect {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		if len(via) >= 10 {
			return errors.New("more than 10 redirects")
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ehrsimtest: authorize: %w", err)
	}
	defer res.Body.Close()
	if callback == nil {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
		return nil, &ErrorPageError{Status: res.StatusCode, URL: res.Request.URL.String(), Text: pageText(b)}
	}
	q := callback.Query()
	return &Callback{URL: callback, Code: q.Get("code"), State: q.Get("state"), Error: q.Get("error"),
		ErrorDescription: q.Get("error_description"), Verifier: verifier}, nil
}

// Tokens runs launch l's whole authorization code flow for the app
// configured by conf (Authorize, then the code exchange with PKCE) and
// returns the token response. The SMART context is in its extra fields:
// tok.Extra("patient"), "encounter", "id_token", "need_patient_banner", ….
// A refused authorization is a *CallbackError or an *ErrorPageError; a
// refused code exchange is an *oauth2.RetrieveError.
func (s *Server) Tokens(ctx context.Context, l Launch, conf *oauth2.Config) (*oauth2.Token, error) {
	cb, err := s.Authorize(ctx, l, conf)
	if err != nil {
		return nil, err
	}
	if cb.Error != "" {
		return nil, &CallbackError{Code: cb.Error, Description: cb.ErrorDescription}
	}
	c := conf
	if c.Endpoint.TokenURL == "" {
		cp := *conf
		cp.Endpoint = s.Endpoint()
		c = &cp
	}
	return c.Exchange(s.clientContext(ctx), cb.Code, oauth2.VerifierOption(cb.Verifier))
}

// TokenRequest describes a token to issue with IssueToken.
type TokenRequest struct {
	// Scopes are the scopes to grant, e.g. "patient/Observation.rs" or
	// "user/Patient.rs"; "openid fhirUser" adds an id_token. IssueToken adds
	// the launch scope it needs for the patient context.
	Scopes []string
	// Patient is the patient in context (patient/ scopes are limited to
	// them); empty for a token without patient context (user/ scopes).
	Patient string
	// Encounter is the encounter in context when Patient is set:
	// EncounterAuto (the default), EncounterNone or an id.
	Encounter string
	// User is the token's user: a practitioner id (default
	// PractitionerEmilyCarter) or "Patient/<id>" for a patient's own token
	// (then Patient is that patient).
	User string
	// SimulateError makes the token's FHIR requests (request_*) or its
	// refresh (SimTokenExpiredRefreshToken) fail.
	SimulateError SimulatedError
	// AccessTokenLifetime is in seconds (0: the server's default).
	AccessTokenLifetime int
}

// IssueToken issues an access token for API tests, with no app and no
// browser: it mints a launch for tr (login and consent skipped, for the demo
// public client ClientPublic) and runs the authorization code flow against
// it, so the token is exactly what an app would get. Use it with
// oauth2.StaticTokenSource, or send tok.AccessToken as a Bearer token.
func (s *Server) IssueToken(ctx context.Context, tr TokenRequest) (*oauth2.Token, error) {
	req := LaunchRequest{
		Patient: tr.Patient, Encounter: tr.Encounter, SkipLogin: true, SkipConsent: true,
		SimulateError: tr.SimulateError, AccessTokenLifetime: tr.AccessTokenLifetime,
		Client: Client{ClientID: ClientPublic},
	}
	scopes := append([]string(nil), tr.Scopes...)
	switch user, isPatient := strings.CutPrefix(tr.User, "Patient/"); {
	case isPatient:
		if tr.Patient != "" && tr.Patient != user {
			return nil, fmt.Errorf("ehrsimtest: IssueToken: User %s with Patient %s: a patient's token is for that patient", tr.User, tr.Patient)
		}
		req.LaunchType, req.Patient = PatientPortal, user
		scopes = append(scopes, "launch")
	default:
		req.LaunchType, req.Practitioner = ProviderEHR, strings.TrimPrefix(tr.User, "Practitioner/")
		scopes = append(scopes, "launch")
	}
	l, err := s.TryLaunch(ctx, req)
	if err != nil {
		return nil, err
	}
	conf := &oauth2.Config{ClientID: ClientPublic, Endpoint: s.Endpoint(), RedirectURL: demoPublicRedirect, Scopes: scopes}
	return s.Tokens(ctx, l, conf)
}

// demoPublicRedirect is a registered redirect URI of ClientPublic. It is
// never contacted: Authorize stops at it.
const demoPublicRedirect = "http://localhost:9000/callback"

// clientContext makes golang.org/x/oauth2 use the server's HTTP client.
func (s *Server) clientContext(ctx context.Context) context.Context {
	if _, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok {
		return ctx
	}
	return context.WithValue(ctx, oauth2.HTTPClient, s.http)
}

func randomString() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func stripQuery(u string) string {
	if i := strings.IndexAny(u, "?#"); i >= 0 {
		return u[:i]
	}
	return u
}

// pageText is the start of an HTML page's text, tags removed.
func pageText(b []byte) string {
	var out strings.Builder
	in := false
	for _, r := range string(b) {
		switch {
		case r == '<':
			in = true
		case r == '>':
			in = false
			out.WriteByte(' ')
		case !in:
			out.WriteRune(r)
		}
	}
	t := strings.Join(strings.Fields(out.String()), " ")
	if len(t) > 300 {
		t = t[:300] + "…"
	}
	return t
}
