package fhir

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// env is one in-process FHIR server on httptest with a fake GrantResolver
// whose tokens the test mints.
var quiet = slog.New(slog.DiscardHandler)

type env struct {
	t     testing.TB
	ts    *httptest.Server
	srv   *Server
	store *fhirstore.Store
	mux   *http.ServeMux

	mu     sync.Mutex
	grants map[string]*smart.Grant
	n      int
	now    time.Time
}

func newEnv(t testing.TB, db *store.DB, opts ...func(*Options)) *env {
	t.Helper()
	e := &env{t: t, grants: map[string]*smart.Grant{}, now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	st, err := fhirstore.Open(context.Background(), fhirstore.Options{DB: db, Fixtures: fhirtest.World(), Now: e.clock, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	e.store = st
	e.mux = http.NewServeMux()
	e.ts = httptest.NewServer(e.mux)
	t.Cleanup(e.ts.Close)
	o := Options{Store: st, BaseURL: e.ts.URL, Now: e.clock, Logger: quiet,
		Grants: smart.GrantResolverFunc(e.resolve),
		Endpoints: func(b smart.FHIRBase) smart.Endpoints {
			ep := smart.Endpoints{Authorization: e.ts.URL + "/auth/authorize", Token: e.ts.URL + "/auth/oauth/token",
				Introspection: e.ts.URL + "/auth/oauth/introspect", Revocation: e.ts.URL + "/auth/revoke", Management: e.ts.URL + "/apps"}
			if b.Scenario != "" {
				ep.Token = b.ScenarioTokenURL()
			}
			return ep
		},
		Scenario: func(_ context.Context, sc string) error {
			if strings.HasPrefix(sc, "bad") {
				return fmt.Errorf("scenario %q is not sealed by this server", sc)
			}
			return nil
		}}
	for _, f := range opts {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	srv.Mount(e.mux)
	return e
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *env) resolve(_ context.Context, tok string) (*smart.Grant, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if tok == "resolver-says-expired" {
		return &smart.Grant{}, smart.ErrExpiredToken
	}
	g := e.grants[tok]
	if g == nil {
		return nil, smart.ErrInvalidToken
	}
	return g, nil
}

// token mints a bearer token for g; Audience defaults to the plain /fhir base.
func (e *env) token(g smart.Grant) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	tok := fmt.Sprintf("tok-%d", e.n)
	if g.Audience == "" {
		g.Audience = e.ts.URL + "/fhir"
	}
	if g.ExpiresAt.IsZero() {
		g.ExpiresAt = e.now.Add(time.Hour)
	}
	e.grants[tok] = &g
	return tok
}

// scoped mints a token for scopes with patient p1 in context.
func (e *env) scoped(scopes string) string {
	return e.token(smart.Grant{Scopes: strings.Fields(scopes), Patient: "p1"})
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

// ids lists "Type/id" of a Bundle's entries with the given search mode
// ("" = all).
func (r resp) ids(t testing.TB, mode string) []string {
	t.Helper()
	var b struct {
		ResourceType string
		Entry        []struct {
			Resource struct{ ResourceType, ID string }
			Search   struct{ Mode string }
		}
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.ResourceType != "Bundle" {
		t.Fatalf("not a Bundle (%v): %s", err, r.body)
	}
	out := []string{}
	for _, en := range b.Entry {
		if mode == "" || en.Search.Mode == mode {
			out = append(out, en.Resource.ResourceType+"/"+en.Resource.ID)
		}
	}
	return out
}

// do sends a request; path is relative to the server root. hdr is
// name, value pairs.
func (e *env) do(method, path, token, body string, hdr ...string) resp {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.ts.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) get(path, token string, hdr ...string) resp {
	return e.do("GET", path, token, "", hdr...)
}

// expectOutcome asserts status and an OperationOutcome body.
func expectOutcome(t testing.TB, r resp, status int, what string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	if m := r.json(t); m["resourceType"] != "OperationOutcome" {
		t.Errorf("%s: body is not an OperationOutcome: %s", what, r.body)
	}
}

func contextWithCancel() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}
