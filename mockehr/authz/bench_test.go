package authz

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/launcher"
)

// BenchmarkRS256Sign is the reference: one raw RS256 signature.
func BenchmarkRS256Sign(b *testing.B) {
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	key.Precompute()
	h := sha256.Sum256([]byte("header.payload"))
	for b.Loop() {
		if _, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, h[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// benchExchange measures POST /auth/oauth/token (authorization_code, in
// process, no network) for a pre-issued code; the authorize step is outside
// the timer.
func benchExchange(b *testing.B, scopes ...string) {
	h := newTestServerSerial(b)
	handler := h.ts.Config.Handler
	aud := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true}).FHIRBaseURL
	verifier := oauth2.GenerateVerifier()
	auth := url.Values{"response_type": {"code"}, "client_id": {"pub"}, "redirect_uri": {cbURL}, "scope": {strings.Join(scopes, " ")},
		"state": {"s"}, "aud": {aud}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)}, "code_challenge_method": {"S256"}}
	authURL := "/auth/authorize?" + auth.Encode()
	for b.Loop() {
		b.StopTimer()
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, authURL, nil))
		loc, _ := url.Parse(rec.Header().Get("Location"))
		form := url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {cbURL}, "client_id": {"pub"}, "code_verifier": {verifier}}
		req := httptest.NewRequest(http.MethodPost, "/auth/oauth/token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec = httptest.NewRecorder()
		b.StartTimer()
		handler.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}

func BenchmarkCodeExchangeWithOpenID(b *testing.B) {
	benchExchange(b, "openid", "fhirUser", "launch/patient", "patient/*.rs")
}

func BenchmarkCodeExchangeNoOpenID(b *testing.B) {
	benchExchange(b, "launch/patient", "patient/*.rs")
}

// BenchmarkResolveGrant is the FHIR server's hot path.
func BenchmarkResolveGrant(b *testing.B) {
	h := newTestServerSerial(b)
	f, code := h.codeFor("pub", "", "patient/*.rs")
	tok := h.exchange(f, code)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.srv.ResolveGrant(b.Context(), tok.AccessToken); err != nil {
			b.Fatal(err)
		}
	}
}
