package ehrsimtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// New starts ehrsim on 127.0.0.1:0 with a fresh temporary data directory and
// returns once it is ready. Close stops it and removes the data directory.
// Use it where there is no test to tie the server to, e.g. one server shared
// by a package's tests from TestMain:
//
//	var srv *ehrsimtest.Server
//
//	func TestMain(m *testing.M) {
//		var err error
//		srv, err = ehrsimtest.New(context.Background())
//		if err != nil {
//			log.Fatal(err)
//		}
//		code := m.Run()
//		if code != 0 {
//			fmt.Fprint(os.Stderr, srv.Log())
//		}
//		srv.Close()
//		os.Exit(code)
//	}
//
// ctx bounds the start-up only; the server runs until Close.
func New(ctx context.Context, opts ...Option) (*Server, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	installLogRouter()
	dir, err := os.MkdirTemp("", "ehrsimtest-*")
	if err != nil {
		return nil, fmt.Errorf("ehrsimtest: data directory: %w", err)
	}
	log := &syncBuffer{}
	args := append([]string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--log-level", "info"}, o.args...)
	// The developer's EHRSIM_* variables never leak into a test server.
	getenv := func(k string) string {
		if strings.HasPrefix(k, "EHRSIM_") {
			return ""
		}
		return os.Getenv(k)
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a, err := app.Start(runCtx, args, getenv, log)
	if err != nil {
		cancel()
		os.RemoveAll(dir)
		return nil, fmt.Errorf("ehrsimtest: start ehrsim: %w\n%s", err, log.String())
	}
	s := &Server{
		Base: a.URL, FHIR: a.URL + "/fhir", Issuer: a.URL + "/auth", DataDir: a.Config.DataDir, Addr: a.Addr,
		Clients: DemoClients{
			SampleApp: clients.DemoSampleApp, Public: clients.DemoPublic, Confidential: clients.DemoConfidential,
			Asymmetric: clients.DemoAsymmetric, Backend: clients.DemoBackend, Secret: clients.DemoSecret,
			BackendScope: clients.DemoBackendScope, PrivateJWKS: clients.DemoPrivateJWKS(),
		},
		app: a, log: log, cancel: cancel,
		http: &http.Client{Timeout: time.Minute, Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}
	if s.DataDir == dir {
		s.ownDir = dir
	} else {
		os.RemoveAll(dir) // WithArgs("--data-dir", …): the caller's directory, kept
	}
	routeLogs(s.Addr, a.Logger.Handler())
	s.AuthorizeURL, s.TokenURL, err = s.discover(ctx, s.FHIR)
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the server (see Stop) and removes the temporary data
// directory New made. Calling it again does nothing.
func (s *Server) Close() error {
	s.Stop()
	s.rmDir.Do(func() {
		if s.ownDir != "" {
			if err := os.RemoveAll(s.ownDir); err != nil {
				s.closeErr = errors.Join(s.closeErr, err)
			}
		}
	})
	return s.closeErr
}

// Log is everything the server logged so far: its ready line, one line per
// request (at info), warnings and errors, including those of the libraries
// it uses. Start prints it when the test fails; a TestMain using New prints
// it when a test failed.
func (s *Server) Log() string { return s.log.String() }

// HTTPClient is the server's own HTTP client (the one TryLaunch and the flow
// helpers use): it follows redirects, times out after a minute, and its idle
// connections close with the server.
func (s *Server) HTTPClient() *http.Client { return s.http }

// discover reads the authorize and token endpoints of a FHIR base.
func (s *Server) discover(ctx context.Context, fhirBase string) (authorize, token string, err error) {
	u := fhirBase + "/.well-known/smart-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", "", err
	}
	res, err := s.http.Do(req)
	if err != nil {
		return "", "", fmt.Errorf("ehrsimtest: discovery: %w", err)
	}
	defer res.Body.Close()
	var c struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
	}
	if res.StatusCode != http.StatusOK || json.NewDecoder(res.Body).Decode(&c) != nil || c.Token == "" {
		return "", "", fmt.Errorf("ehrsimtest: GET %s: %d", u, res.StatusCode)
	}
	return c.Authorize, c.Token, nil
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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
