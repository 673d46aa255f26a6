// Package upstreamtest starts an upstream FHIR server for tests of the
// upstream mode: ehrsim's own store and FHIR handler on a loopback port
// of its own, loaded with a known data set, asking for one static bearer
// token (the credential ehrsim must send, and must never show). Test
// support only.
package upstreamtest

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhir"
	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Token is the upstream's credential: the one bearer token it accepts.
const Token = "upstream-secret-7f3a9c2e5b"

// Server is a running upstream.
type Server struct {
	// URL is its FHIR base, e.g. http://127.0.0.1:41234/fhir.
	URL   string
	Store *fhirstore.Store

	mu       sync.Mutex
	requests []string
}

// Header is the header ehrsim must send ("Authorization: Bearer …").
func Header() http.Header { return http.Header{"Authorization": {"Bearer " + Token}} }

// Start serves resources until the test ends.
func Start(t testing.TB, resources []json.RawMessage) *Server {
	t.Helper()
	st, err := fhirstore.Open(context.Background(), fhirstore.Options{Fixtures: resources, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	mux := http.NewServeMux()
	s := &Server{Store: st}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	s.URL = ts.URL + "/fhir"
	srv, err := fhir.New(fhir.Options{Store: st, BaseURL: ts.URL, Logger: slog.New(slog.DiscardHandler),
		Grants: smart.GrantResolverFunc(func(_ context.Context, tok string) (*smart.Grant, error) {
			if tok != Token {
				return nil, smart.ErrInvalidToken
			}
			return &smart.Grant{TokenID: "upstream", ClientID: "ehrsim", Scopes: []string{"system/*.cruds"},
				Audience: s.URL, ExpiresAt: time.Now().Add(time.Hour)}, nil
		})})
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount(mux)
	return s
}

// Requests lists the requests the upstream received ("GET /fhir/…?…"),
// oldest first.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// Reset forgets the requests received so far.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Received reports whether a request whose line contains part arrived.
func (s *Server) Received(part string) bool {
	for _, r := range s.Requests() {
		if strings.Contains(r, part) {
			return true
		}
	}
	return false
}
