package clients

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ehrsim/ehrsim/mockehr/smarttest"
)

const testBase = "http://127.0.0.1:4000"
const testTokenURL = testBase + "/auth/oauth/token"

// demoKey returns a private demo key by kid.
func demoKey(t testing.TB, kid string) jose.JSONWebKey {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(DemoPrivateJWKS(), &set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(kid)
	if len(keys) != 1 || keys[0].IsPublic() {
		t.Fatalf("demo key %s missing or not private", kid)
	}
	return keys[0]
}

func newRSAKey(t testing.TB, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid}
}

func newECKey(t testing.TB, kid string, c elliptic.Curve) jose.JSONWebKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(c, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid}
}

// publicSet is the JSON JWK Set of the public halves of keys.
func publicSet(t testing.TB, keys ...jose.JSONWebKey) json.RawMessage {
	t.Helper()
	var s jose.JSONWebKeySet
	for _, k := range keys {
		s.Keys = append(s.Keys, k.Public())
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign makes a compact JWS over claims. kid "" omits the kid header; extra
// adds protected headers such as jku.
func sign(t testing.TB, key jose.JSONWebKey, alg jose.SignatureAlgorithm, kid string, extra map[string]any, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	for k, v := range extra {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key.Key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

var jtiCounter int

// claimsFor are valid SMART assertion claims for client id at clk's time:
// iss = sub = id, aud = token URL, exp = now + 4 min, a fresh jti, no iat.
func claimsFor(id string, clk *smarttest.Clock) map[string]any {
	jtiCounter++
	return map[string]any{
		"iss": id, "sub": id, "aud": testTokenURL,
		"exp": clk.Now().Add(4 * time.Minute).Unix(),
		"jti": fmt.Sprintf("jti-%d", jtiCounter),
	}
}

type verifierEnv struct {
	t   testing.TB
	clk *smarttest.Clock
	reg *Registry
	v   *AssertionVerifier
	dir string
}

func newVerifierEnv(t testing.TB) *verifierEnv {
	t.Helper()
	e := &verifierEnv{t: t, clk: newClock(), dir: t.TempDir()}
	e.reopen()
	return e
}

// reopen opens a new database handle, registry and verifier on the same
// directory, as a restart would.
func (e *verifierEnv) reopen() {
	e.reg = newRegistry(e.t, e.dir, testBase, e.clk)
	e.v = &AssertionVerifier{Registry: e.reg, TokenURL: func() string { return testTokenURL }, Now: e.clk.Now}
}

func (e *verifierEnv) register(c Client) {
	e.t.Helper()
	if _, err := e.reg.Create(context.Background(), c, ""); err != nil {
		e.t.Fatal(err)
	}
}

func (e *verifierEnv) verify(assertion, clientID string) (*Client, error) {
	return e.v.Verify(context.Background(), JWTBearerAssertionType, assertion, clientID, nil)
}

// wantOK asserts success for client id.
func (e *verifierEnv) wantOK(assertion, clientID, id string) {
	e.t.Helper()
	c, err := e.verify(assertion, clientID)
	if err != nil {
		e.t.Fatalf("verify: %v", err)
	}
	if c.ID != id {
		e.t.Fatalf("authenticated %q, want %q", c.ID, id)
	}
}

// wantErr asserts an *AuthError with code and a description containing frag.
func wantErr(t testing.TB, err error, code, frag string) *AuthError {
	t.Helper()
	var ae *AuthError
	if !errors.As(err, &ae) {
		t.Fatalf("error = %v, want *AuthError %s", err, code)
	}
	if ae.Code != code || !strings.Contains(ae.Description, frag) {
		t.Fatalf("error = %s %q, want %s containing %q", ae.Code, ae.Description, code, frag)
	}
	return ae
}
