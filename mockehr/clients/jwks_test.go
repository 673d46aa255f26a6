package clients

import (
	"crypto/elliptic"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// jwksServer serves a key set with a configurable Cache-Control and counts
// fetches.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	body         []byte
	cacheControl string
	fetches      int
	accept       string
}

func newJWKSServer(t *testing.T, body []byte, cacheControl string) *jwksServer {
	s := &jwksServer{body: body, cacheControl: cacheControl}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.fetches++
		s.accept = r.Header.Get("Accept")
		if r.Method != http.MethodGet {
			http.Error(w, "GET only", http.StatusMethodNotAllowed)
			return
		}
		if s.cacheControl != "" {
			w.Header().Set("Cache-Control", s.cacheControl)
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(body []byte, cc string) {
	s.mu.Lock()
	s.body, s.cacheControl = body, cc
	s.mu.Unlock()
}

func (s *jwksServer) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fetches
}

func TestBES14_JWKSURLHonoursMaxAge(t *testing.T) {
	e := newVerifierEnv(t)
	k := newECKey(t, "url-key", elliptic.P384())
	srv := newJWKSServer(t, publicSet(t, k), "public, max-age=60")
	e.register(Client{ID: "by-url", Type: TypeBackend, JWKSURL: srv.URL + "/jwks.json"})

	e.wantOK(sign(t, k, jose.ES384, "url-key", nil, claimsFor("by-url", e.clk)), "", "by-url")
	if srv.accept != "application/json" {
		t.Fatalf("Accept = %q, want application/json", srv.accept)
	}
	e.clk.Add(59 * time.Second)
	e.wantOK(sign(t, k, jose.ES384, "url-key", nil, claimsFor("by-url", e.clk)), "", "by-url")
	if n := srv.count(); n != 1 {
		t.Fatalf("fetches within max-age = %d, want 1", n)
	}
	e.clk.Add(2 * time.Second)
	e.wantOK(sign(t, k, jose.ES384, "url-key", nil, claimsFor("by-url", e.clk)), "", "by-url")
	if n := srv.count(); n != 2 {
		t.Fatalf("fetches after max-age = %d, want 2", n)
	}
}

func TestBES14_JWKSURLNoStoreAndNoHeaderNotCached(t *testing.T) {
	for _, cc := range []string{"no-store", "max-age=600, no-cache", ""} {
		t.Run("cache-control="+cc, func(t *testing.T) {
			e := newVerifierEnv(t)
			k := newRSAKey(t, "r1")
			srv := newJWKSServer(t, publicSet(t, k), cc)
			e.register(Client{ID: "by-url", Type: TypeAsymmetric, RedirectURIs: []string{"https://app.example/cb"}, JWKSURL: srv.URL})
			for i := 1; i <= 3; i++ {
				e.wantOK(sign(t, k, jose.RS384, "r1", nil, claimsFor("by-url", e.clk)), "", "by-url")
				if n := srv.count(); n != i {
					t.Fatalf("after %d verifications: %d fetches, want %d", i, n, i)
				}
			}
		})
	}
}

func TestBES14_UnknownKidRefetchesOnce(t *testing.T) {
	e := newVerifierEnv(t)
	old, rotated := newRSAKey(t, "old"), newRSAKey(t, "new")
	srv := newJWKSServer(t, publicSet(t, old), "max-age=3600")
	e.register(Client{ID: "rotating", Type: TypeBackend, JWKSURL: srv.URL})
	e.wantOK(sign(t, old, jose.RS384, "old", nil, claimsFor("rotating", e.clk)), "", "rotating")

	srv.set(publicSet(t, rotated), "max-age=3600")
	e.wantOK(sign(t, rotated, jose.RS384, "new", nil, claimsFor("rotating", e.clk)), "", "rotating")
	if n := srv.count(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (one refetch on the unknown kid)", n)
	}
	// A kid unknown to the fresh set too: exactly one more fetch, then refused.
	_, err := e.verify(sign(t, rotated, jose.RS384, "ghost", nil, claimsFor("rotating", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, `kid "ghost" matches no registered key`)
	if n := srv.count(); n != 3 {
		t.Fatalf("fetches = %d, want 3", n)
	}
}

func TestBES14_JWKSURLFailures(t *testing.T) {
	e := newVerifierEnv(t)
	k := newRSAKey(t, "r1")
	srv := newJWKSServer(t, []byte(`{"keys":[]}`), "")
	e.register(Client{ID: "by-url", Type: TypeBackend, JWKSURL: srv.URL})
	cases := []struct {
		body []byte
		frag string
	}{
		{[]byte(`{"keys":[]}`), "no usable signing key"},
		{[]byte(`<html>`), "not a JSON JWK Set"},
		{[]byte(`{"keys":[` + strings.Repeat(" ", 70<<10) + `]}`), "more than 65536 bytes"},
	}
	for _, tc := range cases {
		srv.set(tc.body, "")
		_, err := e.verify(sign(t, k, jose.RS384, "r1", nil, claimsFor("by-url", e.clk)), "")
		wantErr(t, err, CodeInvalidClient, tc.frag)
	}
	srv.Close()
	_, err := e.verify(sign(t, k, jose.RS384, "r1", nil, claimsFor("by-url", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "fetching JWKS URL")
}

func TestBES13_JKUMustEqualRegisteredJWKSURL(t *testing.T) {
	e := newVerifierEnv(t)
	k := newECKey(t, "k", elliptic.P384())
	srv := newJWKSServer(t, publicSet(t, k), "max-age=60")
	e.register(Client{ID: "by-url", Type: TypeBackend, JWKSURL: srv.URL + "/.well-known/jwks.json"})

	// jku equal to the registered URL (client-js sends it) → accepted.
	e.wantOK(sign(t, k, jose.ES384, "k", map[string]any{"jku": srv.URL + "/.well-known/jwks.json"}, claimsFor("by-url", e.clk)), "", "by-url")
	// Any other jku → refused before anything is fetched from it.
	before := srv.count()
	_, err := e.verify(sign(t, k, jose.ES384, "k", map[string]any{"jku": srv.URL + "/evil.json"}, claimsFor("by-url", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "does not match the registered JWKS URL")
	if srv.count() != before {
		t.Fatal("a mismatched jku was fetched")
	}
	// A jku on a client registered with an inline JWKS only → refused.
	_, err = e.verify(sign(t, demoKey(t, DemoKeyES384), jose.ES384, DemoKeyES384, map[string]any{"jku": srv.URL}, claimsFor(DemoBackend, e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "inline JWKS")
	// A non-string jku → refused.
	_, err = e.verify(sign(t, k, jose.ES384, "k", map[string]any{"jku": 42}, claimsFor("by-url", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "jku header must be a URL string")
}

func TestCacheAgeParsing(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want time.Duration
	}{
		{nil, 0},
		{[]string{"max-age=120"}, 2 * time.Minute},
		{[]string{"public", "MAX-AGE=30"}, 30 * time.Second},
		{[]string{"max-age=30, no-store"}, 0},
		{[]string{"no-cache", "max-age=30"}, 0},
		{[]string{"max-age=abc"}, 0},
		{[]string{"max-age=999999"}, time.Hour},
	} {
		if got := cacheAge(tc.in); got != tc.want {
			t.Errorf("cacheAge(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func BenchmarkVerifyRS384(b *testing.B) {
	e := newVerifierEnv(b)
	key := demoKey(b, DemoKeyRS384)
	assertions := make([]string, b.N)
	for i := range assertions {
		assertions[i] = sign(b, key, jose.RS384, DemoKeyRS384, nil, claimsFor(DemoBackend, e.clk))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.verify(assertions[i], ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawRS384Verify is the floor for BenchmarkVerifyRS384: parsing
// and checking the signature only, no claims, registry or jti store.
func BenchmarkRawRS384Verify(b *testing.B) {
	e := newVerifierEnv(b)
	key := demoKey(b, DemoKeyRS384)
	a := sign(b, key, jose.RS384, DemoKeyRS384, nil, claimsFor(DemoBackend, e.clk))
	pub := key.Public()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		jws, err := jose.ParseSigned(a, AssertionAlgorithms)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.Verify(&pub); err != nil {
			b.Fatal(err)
		}
	}
}
