// Package ehrsimtest starts an ehrsim inside a Go test, for users' own test
// suites: a real SMART authorization server and scope-enforcing FHIR server
// on 127.0.0.1 with a fresh data directory, the demo clients, and a helper
// that mints launches through the launch API (POST /api/launches).
//
//	srv := ehrsimtest.Start(t)
//	l := srv.Launch(t, ehrsimtest.LaunchRequest{LaunchType: "provider-ehr", Patient: "pat-grace-kim",
//		SkipLogin: true, SkipConsent: true, AppLaunchURL: myApp + "/launch",
//		Client: ehrsimtest.Client{ClientID: "my-app", RedirectURIs: []string{myApp + "/callback"}}})
//	// l.LaunchURL is what an EHR would open: myApp/launch?iss=…&launch=…
//
// Each Start is isolated (own port, own database), so tests may call it in
// parallel. The server stops, and its data directory is removed, when the
// test ends; its log is printed if the test failed. See
// docs/testing-with-ehrsim.md.
package ehrsimtest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// LaunchRequest is the body of POST /api/launches (docs/architecture.md,
// launch API contract).
type LaunchRequest = launcher.Request

// Client is a launch's client section: an unregistered client_id defines
// an ad-hoc client for that launch (sandbox mode).
type Client = launcher.Client

// FHIRContextItem is one SMART 2.2 fhirContext object of a launch.
type FHIRContextItem = launcher.FHIRContextItem

// Launch is the launch API's answer: ID, Launch (the code), ISS,
// LaunchURL, FHIRBaseURL, SimEHRURL.
type Launch = launcher.Result

// Encounter selectors for LaunchRequest.Encounter.
const (
	EncounterAuto = launcher.EncounterAuto
	EncounterNone = launcher.EncounterNone
)

// Server is a running ehrsim.
type Server struct {
	Base    string // http://127.0.0.1:port (no trailing slash): launcher, /api, /ehr
	FHIR    string // Base + "/fhir": the FHIR base and iss of EHR launches
	Issuer  string // Base + "/auth": the OpenID issuer
	DataDir string
	Addr    string // host:port listened on

	// AuthorizeURL and TokenURL come from the server's SMART discovery.
	AuthorizeURL, TokenURL string

	Clients DemoClients

	app  *app.Server
	stop sync.Once
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

// Option configures Start.
type Option func(*options)

type options struct{ args []string }

// WithArgs appends command-line flags (see the README's configuration table).
func WithArgs(args ...string) Option {
	return func(o *options) { o.args = append(o.args, args...) }
}

// WithFixtures loads a directory of FHIR Bundles / NDJSON (Synthea output
// works); mode is "add" (beside the demo data) or "replace".
func WithFixtures(dir, mode string) Option {
	return WithArgs("--fixtures", dir, "--fixtures-mode", mode)
}

// StrictClients makes only registered clients able to authorize (the
// default sandbox mode accepts any client_id as a public client).
func StrictClients() Option { return WithArgs("--strict-clients", "true") }

// Start starts ehrsim on 127.0.0.1:0 with a temporary data directory and
// waits until it is ready. It stops when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	dir := t.TempDir()
	log := &syncBuffer{}
	args := append([]string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "warn"}, o.args...)
	// The developer's EHRSIM_* variables never leak into a test server.
	getenv := func(k string) string {
		if strings.HasPrefix(k, "EHRSIM_") {
			return ""
		}
		return os.Getenv(k)
	}
	a, err := app.Start(context.Background(), args, getenv, log)
	if err != nil {
		t.Fatalf("ehrsimtest: start ehrsim: %v\n%s", err, log.String())
	}
	s := &Server{
		Base: a.URL, FHIR: a.URL + "/fhir", Issuer: a.URL + "/auth", DataDir: a.Config.DataDir, Addr: a.Addr, app: a,
		Clients: DemoClients{
			SampleApp: clients.DemoSampleApp, Public: clients.DemoPublic, Confidential: clients.DemoConfidential,
			Asymmetric: clients.DemoAsymmetric, Backend: clients.DemoBackend, Secret: clients.DemoSecret,
			BackendScope: clients.DemoBackendScope, PrivateJWKS: clients.DemoPrivateJWKS(),
		},
	}
	t.Cleanup(func() {
		s.Stop()
		if t.Failed() {
			t.Logf("ehrsim log:\n%s", log.String())
		}
	})
	s.AuthorizeURL, s.TokenURL = s.discover(t, s.FHIR)
	return s
}

// Stop shuts the server down gracefully (in-flight requests finish) before
// the test ends, e.g. to restart one on the same data directory and address
// (WithArgs("--data-dir", s.DataDir, "--listen", s.Addr)). Calling it again
// does nothing; the test's cleanup calls it too.
func (s *Server) Stop() {
	s.stop.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.app.Shutdown(ctx)
	})
}

// discover reads the authorize and token endpoints of a FHIR base.
func (s *Server) discover(t testing.TB, fhirBase string) (authorize, token string) {
	t.Helper()
	res, err := http.Get(fhirBase + "/.well-known/smart-configuration")
	if err != nil {
		t.Fatalf("ehrsimtest: discovery: %v", err)
	}
	defer res.Body.Close()
	var c struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&c) != nil || c.Token == "" {
		t.Fatalf("ehrsimtest: GET %s/.well-known/smart-configuration: %d", fhirBase, res.StatusCode)
	}
	return c.Authorize, c.Token
}

// Endpoint is the server's OAuth 2.0 endpoint for golang.org/x/oauth2.
func (s *Server) Endpoint() oauth2.Endpoint {
	return oauth2.Endpoint{AuthURL: s.AuthorizeURL, TokenURL: s.TokenURL, AuthStyle: oauth2.AuthStyleInParams}
}

// Launch mints a launch with POST /api/launches and fails the test on any
// answer but 201 (the error names the field).
func (s *Server) Launch(t testing.TB, req LaunchRequest) Launch {
	t.Helper()
	l, err := s.TryLaunch(req)
	if err != nil {
		t.Fatalf("ehrsimtest: %v", err)
	}
	return l
}

// TryLaunch is Launch returning the error, for tests of invalid launches.
func (s *Server) TryLaunch(req LaunchRequest) (Launch, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return Launch{}, err
	}
	res, err := http.Post(s.Base+"/api/launches", "application/json", bytes.NewReader(b))
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

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
