package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ehrsim/ehrsim/internal/pgtest"
)

// backendClient is a registered backend service signing its assertions
// with an ES384 key of its own.
type backendClient struct {
	id  string
	key jose.JSONWebKey
}

func newBackendClient(t *testing.T, id string) *backendClient {
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &backendClient{id: id, key: jose.JSONWebKey{Key: k, KeyID: id + "-key", Algorithm: string(jose.ES384), Use: "sig"}}
}

func (c *backendClient) register(t *testing.T, base string) {
	pub := c.key.Public()
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{pub}})
	body, _ := json.Marshal(map[string]any{"client_id": c.id, "client_type": "backend-service", "jwks": json.RawMessage(jwks), "scope": "system/*.cruds"})
	resp, err := http.Post(base+"/api/clients", "application/json", strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register %s: %d %s", c.id, resp.StatusCode, b)
	}
}

// assertion signs a client assertion for the token URL of base.
func (c *backendClient) assertion(t *testing.T, base, jti string) string {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: c.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.key.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{base + "/auth/oauth/token"},
		Expiry: jwt.NewNumericDate(time.Now().Add(4 * time.Minute)), ID: jti}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// token asks base's token endpoint for a client_credentials token.
func (c *backendClient) token(base, assertion string) (int, map[string]any) {
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Observation.cruds system/Patient.rs"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
	resp, err := http.PostForm(base+"/auth/oauth/token", form)
	if err != nil {
		return 0, map[string]any{"error": err.Error()}
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func fhirDo(t *testing.T, method, u, token, body string) (int, map[string]any) {
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/fhir+json")
	if body != "" {
		req.Header.Set("Content-Type", "application/fhir+json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// startOnDB starts an in-process instance on the PostgreSQL database u,
// with a data directory of its own and extra flags (e.g. --base-url),
// stopped when the test ends.
func startOnDB(t *testing.T, u string, extra ...string) *Server {
	t.Helper()
	args := append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--database-url", u, "--log-level", "error"}, extra...)
	s, err := Start(context.Background(), args, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// TestBackendServicesAcrossInstances: two instances on one PostgreSQL
// database. A backend client registered on A gets tokens on B; its
// assertion's jti, used on A, is refused on B; an Observation it creates
// on A is readable on B (B follows A's writes without a restart).
func TestBackendServicesAcrossInstances(t *testing.T) {
	u := pgtest.URL(t)
	a, b := startOnDB(t, u), startOnDB(t, u)
	c := newBackendClient(t, "multi-backend")
	c.register(t, a.URL)

	first := c.assertion(t, a.URL, "jti-1")
	code, tokA := c.token(a.URL, first)
	if code != http.StatusOK {
		t.Fatalf("token on A: %d %v", code, tokA)
	}
	// The same jti on B, in an assertion for B's token URL: a replay.
	code, out := c.token(b.URL, c.assertion(t, b.URL, "jti-1"))
	if code != http.StatusUnauthorized || out["error"] != "invalid_client" || !strings.Contains(fmt.Sprint(out["error_description"]), "already used") {
		t.Fatalf("jti used on A, replayed on B: %d %v; want 401 invalid_client, already used", code, out)
	}
	code, tokB := c.token(b.URL, c.assertion(t, b.URL, "jti-2"))
	if code != http.StatusOK {
		t.Fatalf("token on B for a client registered on A: %d %v", code, tokB)
	}

	obs := `{"resourceType":"Observation","status":"final","code":{"text":"written on A"},"subject":{"reference":"Patient/` + demoPatient(t, a.URL, tokA["access_token"].(string)) + `"}}`
	code, created := fhirDo(t, "POST", a.URL+"/fhir/Observation", tokA["access_token"].(string), obs)
	if code != http.StatusCreated {
		t.Fatalf("create on A: %d %v", code, created)
	}
	id := created["id"].(string)
	// B learns of it through its follower (a few polls a second); the
	// deadline only bounds a broken follower.
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, got := fhirDo(t, "GET", b.URL+"/fhir/Observation/"+id, tokB["access_token"].(string), "")
		if code == http.StatusOK {
			if got["id"] != id {
				t.Fatalf("B answered another resource: %v", got)
			}
			break
		}
		if code != http.StatusNotFound || time.Now().After(deadline) {
			t.Fatalf("read on B of A's Observation: %d %v", code, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// demoPatient returns the id of one patient of the demo data.
func demoPatient(t *testing.T, base, token string) string {
	code, bundle := fhirDo(t, "GET", base+"/fhir/Patient?_count=1", token, "")
	entries, _ := bundle["entry"].([]any)
	if code != http.StatusOK || len(entries) == 0 {
		t.Fatalf("Patient search: %d %v", code, bundle)
	}
	return entries[0].(map[string]any)["resource"].(map[string]any)["id"].(string)
}

// roundRobin starts a reverse proxy that sends each request to the next of
// the backends set later (both instances need the proxy's URL as their
// --base-url before they start).
type roundRobin struct {
	*httptest.Server
	mu       sync.Mutex
	backends []*url.URL
	next     int
}

func newRoundRobin(t *testing.T) *roundRobin {
	rr := &roundRobin{}
	rr.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rr.mu.Lock()
		target := rr.backends[rr.next%len(rr.backends)]
		rr.next++
		rr.mu.Unlock()
		p := httputil.NewSingleHostReverseProxy(target)
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(rr.Close)
	return rr
}

// TestRoundRobinSharedState: two instances on one PostgreSQL behind a
// round-robin proxy, so each request of a sequence lands on the other
// instance: readiness, a launch minted on one and read on the other, a
// client registered on one and read on the other, a backend token on one
// and its assertion replayed on the other, and one issuer and key set on
// both. TestRoundRobinFullFlow runs whole SMART flows the same way.
func TestRoundRobinSharedState(t *testing.T) {
	u := pgtest.URL(t)
	rr := newRoundRobin(t)
	for range 2 {
		s := startOnDB(t, u, "--base-url", rr.URL)
		target, _ := url.Parse("http://" + s.Addr)
		rr.backends = append(rr.backends, target)
	}
	get := func(path string) (int, []byte) {
		resp, err := http.Get(rr.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for range 2 {
		if code, _ := get("/readyz"); code != http.StatusOK {
			t.Fatalf("/readyz through the proxy: %d", code)
		}
	}
	resp, err := http.Post(rr.URL+"/api/launches", "application/json", strings.NewReader(`{"launch_type":"provider-ehr"}`))
	if err != nil {
		t.Fatal(err)
	}
	var minted struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()
	if code, b := get("/api/launches/" + minted.ID); code != http.StatusOK {
		t.Fatalf("launch minted on one instance, read on the other: %d %s", code, b)
	}
	c := newBackendClient(t, "rr-backend")
	c.register(t, rr.URL)
	if code, b := get("/api/clients/rr-backend"); code != http.StatusOK {
		t.Fatalf("client registered on one instance, read on the other: %d %s", code, b)
	}
	a := c.assertion(t, rr.URL, "rr-jti")
	if code, out := c.token(rr.URL, a); code != http.StatusOK {
		t.Fatalf("token: %d %v", code, out)
	}
	if code, out := c.token(rr.URL, a); code != http.StatusUnauthorized || out["error"] != "invalid_client" {
		t.Fatalf("the same assertion on the other instance: %d %v; want 401 invalid_client", code, out)
	}
	_, k1 := get("/auth/keys")
	_, k2 := get("/auth/keys")
	if string(k1) != string(k2) {
		t.Fatalf("the instances publish different keys:\n%s\n%s", k1, k2)
	}
	for range 2 {
		_, d := get("/auth/.well-known/openid-configuration")
		var disc struct{ Issuer string }
		json.Unmarshal(d, &disc)
		if disc.Issuer != rr.URL+"/auth" {
			t.Fatalf("issuer %q, want the proxy's %s/auth", disc.Issuer, rr.URL)
		}
	}
}
