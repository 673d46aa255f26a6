package upstream_test

import (
	"bytes"
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

	"github.com/ehrsim/ehrsim/mockehr/fhir"
	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/upstream"
	"github.com/ehrsim/ehrsim/mockehr/upstream/upstreamtest"
)

// env is ehrsim's FHIR API in upstream mode on httptest, with a fake
// GrantResolver whose tokens the test mints, logging into a buffer.
type env struct {
	t     testing.TB
	ts    *httptest.Server
	base  string
	proxy *upstream.Proxy

	mu     sync.Mutex
	grants map[string]*smart.Grant
	n      int
	logs   *syncBuffer
	seen   []byte // every answer's headers and body, for the credential check
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

func newEnv(t testing.TB, o upstream.Options) *env {
	t.Helper()
	e := &env{t: t, grants: map[string]*smart.Grant{}, logs: &syncBuffer{}}
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Logger = logger
	p, err := upstream.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.proxy = p
	st, err := fhirstore.Open(context.Background(), fhirstore.Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.ts = httptest.NewServer(mux)
	t.Cleanup(e.ts.Close)
	e.base = e.ts.URL + "/fhir"
	srv, err := fhir.New(fhir.Options{Store: st, BaseURL: e.ts.URL, Logger: logger, Upstream: p,
		Grants: smart.GrantResolverFunc(func(_ context.Context, tok string) (*smart.Grant, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			if g := e.grants[tok]; g != nil {
				return g, nil
			}
			return nil, smart.ErrInvalidToken
		}),
		Endpoints: func(b smart.FHIRBase) smart.Endpoints { return b.Endpoints() },
	})
	if err != nil {
		t.Fatal(err)
	}
	srv.Mount(mux)
	return e
}

// token mints a token for scopes; patient may be "".
func (e *env) token(scopes, patient string, mod ...func(*smart.Grant)) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	tok := fmt.Sprintf("tok-%d", e.n)
	g := &smart.Grant{TokenID: tok, ClientID: "app", Scopes: strings.Fields(scopes), Patient: patient,
		Audience: e.base, ExpiresAt: time.Now().Add(time.Hour)}
	for _, f := range mod {
		f(g)
	}
	e.grants[tok] = g
	return tok
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (e *env) do(method, tok, path string, body []byte, hdr ...string) resp {
	e.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.base + "/" + path
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	e.mu.Lock()
	for k, vs := range res.Header {
		e.seen = append(e.seen, k+": "+strings.Join(vs, ",")+"\n"...)
	}
	e.seen = append(e.seen, b...)
	e.mu.Unlock()
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) get(tok, path string) resp { e.t.Helper(); return e.do(http.MethodGet, tok, path, nil) }

// noCredential fails when the upstream credential appears in any answer
// or log line the env saw.
func (e *env) noCredential() {
	e.t.Helper()
	e.mu.Lock()
	seen := string(e.seen)
	e.mu.Unlock()
	if strings.Contains(seen, upstreamtest.Token) {
		e.t.Errorf("the upstream credential appears in an answer")
	}
	if strings.Contains(e.logs.String(), upstreamtest.Token) {
		e.t.Errorf("the upstream credential appears in the log:\n%s", e.logs.String())
	}
}

func (r resp) json(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body is not JSON (%v): %s", err, r.body)
	}
	return m
}

// ids lists "Type/id" of a Bundle's entries.
func (r resp) ids(t testing.TB) []string {
	t.Helper()
	var b struct {
		ResourceType string
		Entry        []struct {
			FullURL  string
			Resource struct{ ResourceType, ID string }
		}
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.ResourceType != "Bundle" {
		t.Fatalf("not a Bundle (%d): %s", r.status, r.body)
	}
	var out []string
	for _, e := range b.Entry {
		out = append(out, e.Resource.ResourceType+"/"+e.Resource.ID)
	}
	return out
}

// want checks the status and that the body is JSON of resourceType rt.
func (r resp) want(t testing.TB, status int, rt string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if rt != "" {
		if got := r.json(t)["resourceType"]; got != rt {
			t.Fatalf("resourceType %v, want %s: %s", got, rt, r.body)
		}
	}
}

// diag is the first issue's diagnostics of an OperationOutcome.
func (r resp) diag(t testing.TB) string {
	t.Helper()
	var oo struct {
		ResourceType string
		Issue        []struct{ Diagnostics string }
	}
	if json.Unmarshal(r.body, &oo) != nil || oo.ResourceType != "OperationOutcome" || len(oo.Issue) == 0 {
		t.Fatalf("not an OperationOutcome (%d): %s", r.status, r.body)
	}
	return oo.Issue[0].Diagnostics
}
