package clients

import (
	"context"
	"crypto/elliptic"
	"errors"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestTOK20_DemoAsymmetricAssertionWithoutIatAccepted(t *testing.T) {
	e := newVerifierEnv(t)
	for _, tc := range []struct {
		kid string
		alg jose.SignatureAlgorithm
	}{{DemoKeyRS384, jose.RS384}, {DemoKeyES384, jose.ES384}} {
		a := sign(t, demoKey(t, tc.kid), tc.alg, tc.kid, nil, claimsFor(DemoAsymmetric, e.clk))
		e.wantOK(a, "", DemoAsymmetric)
		// The client_id parameter may be present if it names the same client.
		e.wantOK(sign(t, demoKey(t, tc.kid), tc.alg, tc.kid, nil, claimsFor(DemoAsymmetric, e.clk)), DemoAsymmetric, DemoAsymmetric)
	}
}

func TestBES15_AlgorithmsRS256RS384ES256ES384(t *testing.T) {
	e := newVerifierEnv(t)
	rsa := newRSAKey(t, "rsa-1")
	p256 := newECKey(t, "ec-256", elliptic.P256())
	p384 := newECKey(t, "ec-384", elliptic.P384())
	e.register(Client{ID: "multi", Type: TypeBackend, JWKS: publicSet(t, rsa, p256, p384)})
	for _, tc := range []struct {
		key jose.JSONWebKey
		alg jose.SignatureAlgorithm
	}{{rsa, jose.RS256}, {rsa, jose.RS384}, {p256, jose.ES256}, {p384, jose.ES384}} {
		e.wantOK(sign(t, tc.key, tc.alg, tc.key.KeyID, nil, claimsFor("multi", e.clk)), "", "multi")
	}
	// PS256 and RS512 are valid JOSE algorithms, but not accepted here.
	for _, alg := range []jose.SignatureAlgorithm{jose.PS256, jose.RS512} {
		_, err := e.verify(sign(t, rsa, alg, rsa.KeyID, nil, claimsFor("multi", e.clk)), "")
		wantErr(t, err, CodeInvalidClient, "unexpected signature algorithm")
	}
	// HS256 with a shared secret.
	hs := sign(t, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef")}, jose.HS256, "rsa-1", nil, claimsFor("multi", e.clk))
	_, err := e.verify(hs, "")
	wantErr(t, err, CodeInvalidClient, "unexpected signature algorithm")
	// alg none (unsigned).
	_, err = e.verify("eyJhbGciOiJub25lIn0.eyJpc3MiOiJtdWx0aSJ9.", "")
	wantErr(t, err, CodeInvalidClient, "client_assertion")
}

func TestBES06_WrongAssertionTypeIsInvalidRequest(t *testing.T) {
	e := newVerifierEnv(t)
	a := sign(t, demoKey(t, DemoKeyES384), jose.ES384, DemoKeyES384, nil, claimsFor(DemoBackend, e.clk))
	_, err := e.v.Verify(context.Background(), "not_an_assertion_type", a, "", nil)
	wantErr(t, err, CodeInvalidRequest, "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	_, err = e.v.Verify(context.Background(), JWTBearerAssertionType, "", "", nil)
	wantErr(t, err, CodeInvalidRequest, "client_assertion is missing")
	_, err = e.verify("not-a-jwt", "")
	wantErr(t, err, CodeInvalidClient, "not a compact JWS")
}

func TestBES07_UnknownIssuerRefused(t *testing.T) {
	e := newVerifierEnv(t)
	cl := claimsFor(DemoBackend, e.clk)
	cl["iss"], cl["sub"] = "not_a_valid_iss", "not_a_valid_iss"
	_, err := e.verify(sign(t, demoKey(t, DemoKeyES384), jose.ES384, DemoKeyES384, nil, cl), "")
	wantErr(t, err, CodeInvalidClient, `iss "not_a_valid_iss" is not a registered client`)

	// A symmetric or public client cannot use private_key_jwt.
	_, err = e.verify(sign(t, demoKey(t, DemoKeyES384), jose.ES384, DemoKeyES384, nil, claimsFor(DemoConfidential, e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "cannot authenticate with private_key_jwt")
}

func TestBES08_KeySelectionAndSignature(t *testing.T) {
	e := newVerifierEnv(t)
	es := demoKey(t, DemoKeyES384)

	// Bad signature: a different key claiming the registered kid.
	impostor := newECKey(t, DemoKeyES384, elliptic.P384())
	_, err := e.verify(sign(t, impostor, jose.ES384, DemoKeyES384, nil, claimsFor(DemoBackend, e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "signature does not verify")

	// Tampered payload on a genuine assertion.
	good := sign(t, es, jose.ES384, DemoKeyES384, nil, claimsFor(DemoBackend, e.clk))
	other := sign(t, es, jose.ES384, DemoKeyES384, nil, claimsFor(DemoBackend, e.clk))
	mixed := good[:indexDot(good)] + other[indexDot(other):indexLastDot(other)] + good[indexLastDot(good):]
	_, err = e.verify(mixed, "")
	wantErr(t, err, CodeInvalidClient, "signature does not verify")

	// Unknown kid.
	_, err = e.verify(sign(t, es, jose.ES384, "no-such-kid", nil, claimsFor(DemoBackend, e.clk)), "")
	wantErr(t, err, CodeInvalidClient, `kid "no-such-kid" matches no registered key`)

	// kty inconsistent with alg: the RSA key's kid on an ES384 assertion.
	_, err = e.verify(sign(t, es, jose.ES384, DemoKeyRS384, nil, claimsFor(DemoBackend, e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "cannot verify ES384")

	// Two registered keys: the kid picks the one that verifies.
	k1, k2 := newRSAKey(t, "one"), newRSAKey(t, "two")
	e.register(Client{ID: "two-keys", Type: TypeBackend, JWKS: publicSet(t, k1, k2)})
	e.wantOK(sign(t, k1, jose.RS384, "one", nil, claimsFor("two-keys", e.clk)), "", "two-keys")
	e.wantOK(sign(t, k2, jose.RS384, "two", nil, claimsFor("two-keys", e.clk)), "", "two-keys")

	// EC curve must fit the alg: a P-256 key under ES384.
	p256 := newECKey(t, "p256", elliptic.P256())
	e.register(Client{ID: "p256", Type: TypeBackend, JWKS: publicSet(t, p256)})
	_, err = e.verify(sign(t, es, jose.ES384, "p256", nil, claimsFor("p256", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, "curve P-256 does not fit alg ES384")
}

// SMART Backend Services (authentication, JWS header): kid is required, so an
// assertion without one is refused even when a single registered key would
// verify it, and before anything is fetched from a JWKS URL.
func TestBES08_AssertionWithoutKidRefused(t *testing.T) {
	e := newVerifierEnv(t)
	const hint = "client assertion header has no kid: SMART requires the kid of the signing key"
	for _, tc := range []struct {
		kid string
		alg jose.SignatureAlgorithm
	}{{DemoKeyRS384, jose.RS384}, {DemoKeyES384, jose.ES384}} {
		for _, id := range []string{DemoBackend, DemoAsymmetric} {
			_, err := e.verify(sign(t, demoKey(t, tc.kid), tc.alg, "", nil, claimsFor(id, e.clk)), "")
			wantErr(t, err, CodeInvalidClient, hint)
		}
	}
	// An empty kid is no kid either.
	_, err := e.verify(sign(t, demoKey(t, DemoKeyES384), jose.ES384, "", map[string]any{"kid": ""}, claimsFor(DemoBackend, e.clk)), "")
	wantErr(t, err, CodeInvalidClient, hint)

	k := newECKey(t, "url-key", elliptic.P384())
	srv := newJWKSServer(t, publicSet(t, k), "")
	e.register(Client{ID: "by-url", Type: TypeBackend, JWKSURL: srv.URL})
	_, err = e.verify(sign(t, k, jose.ES384, "", nil, claimsFor("by-url", e.clk)), "")
	wantErr(t, err, CodeInvalidClient, hint)
	if n := srv.count(); n != 0 {
		t.Fatalf("the JWKS URL was fetched %d times for an assertion without kid", n)
	}
	// The same assertions with their kid are accepted.
	e.wantOK(sign(t, k, jose.ES384, "url-key", nil, claimsFor("by-url", e.clk)), "", "by-url")
	e.wantOK(sign(t, demoKey(t, DemoKeyES384), jose.ES384, DemoKeyES384, nil, claimsFor(DemoBackend, e.clk)), "", DemoBackend)
}

func indexDot(s string) int {
	for i := range s {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

func indexLastDot(s string) int {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			return i
		}
	}
	return -1
}

func TestBES09_AudienceMustBeTokenURL(t *testing.T) {
	e := newVerifierEnv(t)
	rs := demoKey(t, DemoKeyRS384)
	for _, aud := range []any{testBase + "/auth", testBase + "/fhir", "", []string{testBase + "/auth"}} {
		cl := claimsFor(DemoBackend, e.clk)
		cl["aud"] = aud
		_, err := e.verify(sign(t, rs, jose.RS384, DemoKeyRS384, nil, cl), "")
		wantErr(t, err, CodeInvalidClient, "must be the token endpoint URL "+testTokenURL)
	}
	cl := claimsFor(DemoBackend, e.clk)
	delete(cl, "aud")
	_, err := e.verify(sign(t, rs, jose.RS384, DemoKeyRS384, nil, cl), "")
	wantErr(t, err, CodeInvalidClient, "aud (missing)")
	// An array containing the token URL, and one trailing slash, are accepted.
	for _, aud := range []any{[]string{"https://other.example", testTokenURL}, testTokenURL + "/"} {
		cl := claimsFor(DemoBackend, e.clk)
		cl["aud"] = aud
		e.wantOK(sign(t, rs, jose.RS384, DemoKeyRS384, nil, cl), "", DemoBackend)
	}
}

func TestBES10_ExpRequiredNotPastAtMostFiveMinutes(t *testing.T) {
	e := newVerifierEnv(t)
	rs := demoKey(t, DemoKeyRS384)
	now := e.clk.Now()
	cases := []struct {
		name string
		exp  any // nil = omitted
		frag string
	}{
		{"missing", nil, "no exp claim"},
		{"past", now.Add(-time.Minute).Unix(), "expired at"},
		{"six minutes ahead", now.Add(6 * time.Minute).Unix(), "more than 5m0s ahead"},
		{"string", "1700000000", "not a valid JSON object"},
		{"absurd", 1e300, "more than 5m0s ahead"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cl := claimsFor(DemoBackend, e.clk)
			if tc.exp == nil {
				delete(cl, "exp")
			} else {
				cl["exp"] = tc.exp
			}
			_, err := e.verify(sign(t, rs, jose.RS384, DemoKeyRS384, nil, cl), "")
			wantErr(t, err, CodeInvalidClient, tc.frag)
		})
	}
	// Exactly five minutes ahead, and ten seconds past (within the 30 s leeway), pass.
	for _, exp := range []time.Time{now.Add(5 * time.Minute), now.Add(-10 * time.Second)} {
		cl := claimsFor(DemoBackend, e.clk)
		cl["exp"] = exp.Unix()
		e.wantOK(sign(t, rs, jose.RS384, DemoKeyRS384, nil, cl), "", DemoBackend)
	}
	// nbf in the future is refused.
	cl := claimsFor(DemoBackend, e.clk)
	cl["nbf"] = now.Add(2 * time.Minute).Unix()
	_, err := e.verify(sign(t, rs, jose.RS384, DemoKeyRS384, nil, cl), "")
	wantErr(t, err, CodeInvalidClient, "not valid yet")
}

func TestBES11_ReplayedJTIRefusedAlsoAfterRestart(t *testing.T) {
	e := newVerifierEnv(t)
	es := demoKey(t, DemoKeyES384)
	cl := claimsFor(DemoBackend, e.clk)
	a := sign(t, es, jose.ES384, DemoKeyES384, nil, cl)
	e.wantOK(a, "", DemoBackend)
	_, err := e.verify(a, "")
	if ae := wantErr(t, err, CodeInvalidClient, "was already used"); !errors.Is(ae, ErrReplayedJTI) {
		t.Fatal("replay error does not wrap ErrReplayedJTI")
	}
	// Same jti in a freshly signed assertion is still a replay.
	_, err = e.verify(sign(t, es, jose.ES384, DemoKeyES384, nil, cl), "")
	wantErr(t, err, CodeInvalidClient, "was already used")

	// Restart: the jti store is persisted.
	e.reopen()
	_, err = e.verify(a, "")
	wantErr(t, err, CodeInvalidClient, "was already used")

	// The same jti for another client is a different pair.
	cl2 := claimsFor(DemoAsymmetric, e.clk)
	cl2["jti"] = cl["jti"]
	e.wantOK(sign(t, es, jose.ES384, DemoKeyES384, nil, cl2), "", DemoAsymmetric)

	// Once the first assertion's exp (+ leeway) has passed, the jti may be reused.
	e.clk.Add(10 * time.Minute)
	cl3 := claimsFor(DemoBackend, e.clk)
	cl3["jti"] = cl["jti"]
	e.wantOK(sign(t, es, jose.ES384, DemoKeyES384, nil, cl3), "", DemoBackend)

	// jti is required.
	cl4 := claimsFor(DemoBackend, e.clk)
	delete(cl4, "jti")
	_, err = e.verify(sign(t, es, jose.ES384, DemoKeyES384, nil, cl4), "")
	wantErr(t, err, CodeInvalidClient, "no jti claim")
}

func TestBES11_ConcurrentReplayAcceptsExactlyOne(t *testing.T) {
	e := newVerifierEnv(t)
	a := sign(t, demoKey(t, DemoKeyES384), jose.ES384, DemoKeyES384, nil, claimsFor(DemoBackend, e.clk))
	const n = 8
	results := make(chan error, n)
	for range n {
		go func() { _, err := e.verify(a, ""); results <- err }()
	}
	ok := 0
	for range n {
		if err := <-results; err == nil {
			ok++
		} else if !errors.Is(err, ErrReplayedJTI) {
			t.Errorf("unexpected error %v", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d concurrent uses accepted, want 1", ok, n)
	}
}

func TestBES12_IssSubAndClientIDMustAgree(t *testing.T) {
	e := newVerifierEnv(t)
	rs := demoKey(t, DemoKeyRS384)
	cl := claimsFor(DemoBackend, e.clk)
	cl["sub"] = DemoAsymmetric
	_, err := e.verify(sign(t, rs, jose.RS384, DemoKeyRS384, nil, cl), "")
	wantErr(t, err, CodeInvalidClient, "differs from iss")

	_, err = e.verify(sign(t, rs, jose.RS384, DemoKeyRS384, nil, claimsFor(DemoBackend, e.clk)), DemoAsymmetric)
	wantErr(t, err, CodeInvalidClient, `client_id parameter "demo-asymmetric" differs`)

	cl = claimsFor(DemoBackend, e.clk)
	delete(cl, "iss")
	delete(cl, "sub")
	_, err = e.verify(sign(t, rs, jose.RS384, DemoKeyRS384, nil, cl), "")
	wantErr(t, err, CodeInvalidClient, "no iss claim")
}

func TestBES12_AdHocLaunchClient(t *testing.T) {
	e := newVerifierEnv(t)
	k := newECKey(t, "adhoc-key", elliptic.P384())
	adhoc := &Client{ID: "launch-app", Type: TypeAsymmetric, RedirectURIs: []string{"https://app.example/cb"}, JWKS: publicSet(t, k)}
	c, err := e.v.Verify(context.Background(), JWTBearerAssertionType, sign(t, k, jose.ES384, "adhoc-key", nil, claimsFor("launch-app", e.clk)), "", adhoc)
	if err != nil || c != adhoc {
		t.Fatalf("ad-hoc verify: %v %v", c, err)
	}
	// A registered client's assertion is refused when the launch defines another client.
	_, err = e.v.Verify(context.Background(), JWTBearerAssertionType, sign(t, demoKey(t, DemoKeyES384), jose.ES384, DemoKeyES384, nil, claimsFor(DemoBackend, e.clk)), "", adhoc)
	wantErr(t, err, CodeInvalidClient, `is not this launch's client "launch-app"`)
}
