// Package ehrsimtest starts an ehrsim inside a Go test, for users' own test
// suites: a real SMART authorization server and scope-enforcing FHIR server
// on 127.0.0.1 with a fresh data directory and the demo data and clients,
// and helpers that play an app's part of the SMART flows over plain HTTP.
//
//	srv := ehrsimtest.Start(t) // or New(ctx) + Close, e.g. from TestMain
//	l := srv.Launch(t, ehrsimtest.LaunchRequest{
//		LaunchType: ehrsimtest.ProviderEHR, Patient: ehrsimtest.PatientGraceKim, SkipConsent: true,
//		AppLaunchURL: app.URL + "/launch",
//		Client: ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{app.URL + "/callback"}}})
//	// l.LaunchURL is what an EHR would open: app.URL/launch?iss=…&launch=…
//	tok, err := srv.Tokens(ctx, l, conf)          // authorize + code exchange with your oauth2.Config
//	cb, err := srv.Authorize(ctx, l, conf)        // just the redirect your callback would get (code or error)
//	tok, err = srv.IssueToken(ctx, ehrsimtest.TokenRequest{Patient: ehrsimtest.PatientAmyShaw,
//		Scopes: []string{"patient/Observation.rs"}}) // a token for API tests, no app needed
//
// Each server is isolated (own port, own database), so tests may start them
// in parallel. Start's server stops, and its data directory is removed,
// when the test ends. Everything a server logs, including the request log,
// goes to its own buffer (Server.Log), printed only if the test failed.
// The directory example/ is a complete user's test suite;
// docs/testing-with-ehrsim.md has the rest.
package ehrsimtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/launcher"
)

// Server is a running ehrsim. Its fields describe it; change none of them.
type Server struct {
	Base    string // http://127.0.0.1:port (no trailing slash): launcher, /api, /ehr
	FHIR    string // Base + "/fhir": the FHIR base and iss of EHR launches
	Issuer  string // Base + "/auth": the OpenID issuer
	DataDir string // its data directory (database, keys); temporary unless set with WithArgs
	Addr    string // host:port listened on

	// AuthorizeURL and TokenURL come from the server's SMART discovery.
	AuthorizeURL, TokenURL string

	// Clients are the demo clients' ids, secret and keys.
	Clients DemoClients

	app      *app.Server
	log      *syncBuffer
	http     *http.Client
	cancel   context.CancelFunc
	ownDir   string // the temporary data directory New made, removed by Close
	stop     sync.Once
	rmDir    sync.Once
	closeErr error
}

// DemoClients are the clients every ehrsim seeds (see mockehr/clients).
// The keys are PUBLIC DEMO KEYS: never use them for anything real.
type DemoClients struct {
	SampleApp    string // public; the built-in sample app
	Public       string // public, PKCE
	Confidential string // confidential-symmetric, secret Secret
	Asymmetric   string // confidential-asymmetric (private_key_jwt), keys PrivateJWKS
	Backend      string // backend service (client_credentials + private_key_jwt), scope BackendScope
	Secret       string
	BackendScope string
	// PrivateJWKS is the demo key set with private parts ({"keys":[…]};
	// kids ehrsim-demo-rs384 and ehrsim-demo-es384).
	PrivateJWKS []byte
}

// Option configures Start and New.
type Option func(*options)

type options struct{ args []string }

// WithArgs appends command-line flags (see the README's configuration table).
func WithArgs(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// WithFixtures loads a directory of FHIR Bundles / NDJSON (Synthea output
// works), beside the demo data (FixturesAdd) or instead of it
// (FixturesReplace).
func WithFixtures(dir string, mode FixturesMode) Option {
	return WithArgs("--fixtures", dir, "--fixtures-mode", string(mode))
}

// StrictClients makes only registered clients able to authorize (the
// default sandbox mode accepts any client_id as a public client).
func StrictClients() Option { return WithArgs("--strict-clients", "true") }

// Start starts ehrsim on 127.0.0.1:0 with a temporary data directory and
// waits until it is ready (see New). It stops when the test ends, and its
// log is printed if the test failed.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	s, err := New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("ehrsim log:\n%s", s.Log())
		}
	})
	return s
}

// Stop shuts the server down gracefully (in-flight requests finish) before
// the test ends, e.g. to restart one on the same data directory and address
// (WithArgs("--data-dir", s.DataDir, "--listen", s.Addr)). Calling it again
// does nothing; the test's cleanup calls it too. The data directory stays
// until the test ends.
func (s *Server) Stop() {
	s.stop.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.cancel() // background work first, as the binary does on SIGTERM
		s.closeErr = s.app.Shutdown(ctx)
		unrouteLogs(s.Addr, s.app.Logger.Handler())
		s.http.CloseIdleConnections()
	})
}

// Endpoint is the server's OAuth 2.0 endpoint for golang.org/x/oauth2.
func (s *Server) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: s.AuthorizeURL, TokenURL: s.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
}

// Launch mints a launch with POST /api/launches and fails the test on any
// answer but 201 (the error names the field).
func (s *Server) Launch(t testing.TB, req LaunchRequest) Launch {
	t.Helper()
	l, err := s.TryLaunch(context.Background(), req)
	if err != nil {
		t.Fatalf("ehrsimtest: %v", err)
	}
	return l
}

// TryLaunch is Launch returning the error (a *LaunchError for a refused
// launch), for tests of invalid launches and for code without a testing.TB.
func (s *Server) TryLaunch(ctx context.Context, req LaunchRequest) (Launch, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return Launch{}, err
	}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, s.Base+"/api/launches", bytes.NewReader(b))
	if err != nil {
		return Launch{}, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	res, err := s.http.Do(hreq)
	if err != nil {
		return Launch{}, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		var e launcher.APIError
		json.NewDecoder(res.Body).Decode(&e)
		return Launch{}, &LaunchError{Status: res.StatusCode, Field: e.Field, Description: e.Description}
	}
	var l Launch
	if err := json.NewDecoder(res.Body).Decode(&l); err != nil {
		return Launch{}, err
	}
	return l, nil
}

// LaunchError is a refused launch request.
type LaunchError struct {
	Status      int
	Field       string
	Description string
}

func (e *LaunchError) Error() string {
	return "POST /api/launches: " + http.StatusText(e.Status) + ": " + e.Field + ": " + e.Description
}

// LaunchParams splits an EHR launch URL into iss and launch, as an app's
// launch page receives them.
func LaunchParams(launchURL string) (iss, launch string, err error) {
	u, err := url.Parse(launchURL)
	if err != nil {
		return "", "", err
	}
	q := u.Query()
	return q.Get("iss"), q.Get("launch"), nil
}
