package app

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/ehrsim/ehrsim/fixtures"
	"github.com/ehrsim/ehrsim/internal/pgtest"
)

// rrFlow drives SMART flows through the round-robin proxy as the sample
// app and its user's browser would, without following redirects, so each
// request is one hop and lands on the other instance than the last.
type rrFlow struct {
	t    *testing.T
	base string
	http *http.Client
}

func newRRFlow(t *testing.T, base string) *rrFlow {
	jar, _ := cookiejar.New(nil)
	return &rrFlow{t: t, base: base, http: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (f *rrFlow) do(method, u, ctype, body, bearer string) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := f.http.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func (f *rrFlow) form(u string, v url.Values) (int, map[string]any) {
	f.t.Helper()
	resp, b := f.do("POST", u, "application/x-www-form-urlencoded", v.Encode(), "")
	var out map[string]any
	json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

var (
	rrHidden = regexp.MustCompile(`<input type="hidden" name="(id|csrf)" value="([^"]*)"`)
	rrUser   = regexp.MustCompile(`name="user" value="(Practitioner/[^"]+)"`)
	rrScope  = regexp.MustCompile(`name="scope" value="([^"]+)"`)
	rrPick   = regexp.MustCompile(`name="(patient|encounter)" value="([^"]+)"`)
)

const rrRedirect = "/sample-app/index.html"

// code runs the authorization of an EHR launch through every page it
// needs (login, pickers, consent: each a GET and a POST) and returns the
// code and the PKCE verifier.
func (f *rrFlow) code(scope string) (code, verifier, iss string) {
	t := f.t
	t.Helper()
	resp, b := f.do("POST", f.base+"/api/launches", "application/json", `{"launch_type":"provider-ehr","skip_login":false,"skip_consent":false}`, "")
	var minted struct{ Launch, ISS string }
	if json.Unmarshal(b, &minted); resp.StatusCode != http.StatusCreated || minted.Launch == "" {
		t.Fatalf("mint: %d %s", resp.StatusCode, b)
	}
	verifier = strings.Repeat("v", 20) + base64.RawURLEncoding.EncodeToString([]byte(minted.Launch))[:30]
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{
		"response_type": {"code"}, "client_id": {"sample-app"}, "redirect_uri": {f.base + rrRedirect},
		"scope": {scope}, "state": {"st"}, "aud": {minted.ISS}, "launch": {minted.Launch},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
	}
	resp, b = f.do("GET", f.base+"/auth/authorize?"+q.Encode(), "", "", "")
	pages := 0
	for {
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("authorize flow: %d %s", resp.StatusCode, b)
		}
		if strings.HasPrefix(loc, f.base+rrRedirect) {
			u, _ := url.Parse(loc)
			if u.Query().Get("code") == "" {
				t.Fatalf("redirect without a code: %s", loc)
			}
			if pages == 0 {
				t.Fatal("the flow needed no page; the test wants the pages to land on both instances")
			}
			return u.Query().Get("code"), verifier, minted.ISS
		}
		u, err := url.Parse(loc)
		if err != nil || !strings.HasPrefix(loc, f.base+"/auth/") {
			t.Fatalf("unexpected redirect %q", loc)
		}
		step := strings.TrimPrefix(u.Path, "/auth/")
		_, page := f.do("GET", loc, "", "", "")
		form := url.Values{}
		for _, m := range rrHidden.FindAllStringSubmatch(string(page), -1) {
			form.Set(m[1], m[2])
		}
		switch step {
		case "login":
			m := rrUser.FindStringSubmatch(string(page))
			if m == nil {
				t.Fatalf("no practitioner on the login page:\n%s", page)
			}
			form.Set("user", m[1])
		case "patient", "encounter":
			for _, m := range rrPick.FindAllStringSubmatch(string(page), -1) {
				if m[1] == step {
					form.Set(step, m[2])
					break
				}
			}
		case "consent":
			for _, m := range rrScope.FindAllStringSubmatch(string(page), -1) {
				form.Add("scope", m[1])
			}
			form.Set("decision", "allow")
		default:
			t.Fatalf("unknown page %s", loc)
		}
		if form.Get("id") == "" || form.Get("csrf") == "" {
			t.Fatalf("%s page without id/csrf:\n%s", step, page)
		}
		resp, b = f.do("POST", f.base+"/auth/"+step, "application/x-www-form-urlencoded", form.Encode(), "")
		pages++
	}
}

func (f *rrFlow) exchange(code, verifier string) (int, map[string]any) {
	return f.form(f.base+"/auth/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {f.base + rrRedirect}, "client_id": {"sample-app"}, "code_verifier": {verifier}})
}

func (f *rrFlow) active(token string) bool {
	_, out := f.form(f.base+"/auth/introspect", url.Values{"token": {token}, "client_id": {"sample-app"}})
	return out["active"] == true
}

// TestRoundRobinFullFlow: two instances on one PostgreSQL behind a
// round-robin proxy, each request of a flow on the other instance than the
// one before: mint, authorize, the login and consent pages, the token
// exchange, FHIR reads, refresh, revocation (the revoked token refused on
// both instances within a second, although both had it cached), a code
// replayed on the other instance (invalid_grant, and the tokens it gave
// revoked everywhere), and a key rotation by `ehrsim keys rotate` whose
// new key signs id_tokens that both instances' JWKS verify.
func TestRoundRobinFullFlow(t *testing.T) {
	u := pgtest.URL(t)
	rr := newRoundRobin(t)
	var addrs []string
	for range 2 {
		s := startOnDB(t, u, "--base-url", rr.URL)
		target, _ := url.Parse("http://" + s.Addr)
		rr.backends = append(rr.backends, target)
		addrs = append(addrs, "http://"+s.Addr)
	}
	f := newRRFlow(t, rr.URL)
	const scope = "launch openid fhirUser offline_access patient/*.rs"

	code, verifier, iss := f.code(scope)
	status, tok := f.exchange(code, verifier)
	if status != http.StatusOK || tok["access_token"] == nil || tok["patient"] == nil {
		t.Fatalf("token: %d %v", status, tok)
	}
	at, rt, patient := tok["access_token"].(string), tok["refresh_token"].(string), tok["patient"].(string)
	// iss names the proxy; read through each instance directly so both cache the token.
	path := strings.TrimPrefix(iss, rr.URL) + "/Patient/" + patient
	for _, a := range addrs {
		if code, out := fhirDo(t, "GET", a+path, at, ""); code != http.StatusOK {
			t.Fatalf("FHIR read on %s: %d %v", a, code, out)
		}
	}
	// Refresh on one instance; the rotated refresh token is refused on the other.
	status, ref := f.form(rr.URL+"/auth/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"sample-app"}})
	if status != http.StatusOK || ref["access_token"] == nil {
		t.Fatalf("refresh: %d %v", status, ref)
	}
	status, again := f.form(rr.URL+"/auth/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"sample-app"}})
	if status != http.StatusBadRequest || again["error"] != "invalid_grant" {
		t.Fatalf("the rotated refresh token on the other instance: %d %v", status, again)
	}
	at2 := ref["access_token"].(string)
	for _, a := range addrs {
		if code, _ := fhirDo(t, "GET", a+path, at2, ""); code != http.StatusOK {
			t.Fatalf("refreshed token on %s: %d", a, code)
		}
	}
	// Revoke it on one instance: after a second, both refuse it.
	if status, out := f.form(rr.URL+"/auth/revoke", url.Values{"token": {at2}, "client_id": {"sample-app"}}); status != http.StatusOK {
		t.Fatalf("revoke: %d %v", status, out)
	}
	time.Sleep(time.Second)
	for _, a := range addrs {
		if code, _ := fhirDo(t, "GET", a+path, at2, ""); code != http.StatusUnauthorized {
			t.Errorf("a token revoked on one instance, a second later on %s: %d, want 401", a, code)
		}
	}

	// A code replayed on the other instance: invalid_grant, and the tokens
	// the code produced stop working everywhere.
	code, verifier, _ = f.code(scope)
	status, tok = f.exchange(code, verifier)
	if status != http.StatusOK {
		t.Fatalf("token: %d %v", status, tok)
	}
	at3, rt3 := tok["access_token"].(string), tok["refresh_token"].(string)
	for _, a := range addrs {
		fhirDo(t, "GET", a+path, at3, "") // cached on both
	}
	if status, out := f.exchange(code, verifier); status != http.StatusBadRequest || out["error"] != "invalid_grant" {
		t.Fatalf("code replay on the other instance: %d %v", status, out)
	}
	time.Sleep(time.Second)
	for _, a := range addrs {
		if code, _ := fhirDo(t, "GET", a+path, at3, ""); code != http.StatusUnauthorized {
			t.Errorf("access token of a replayed code on %s: %d, want 401", a, code)
		}
	}
	if f.active(rt3) || f.active(rt3) {
		t.Error("refresh token of a replayed code still active")
	}

	// Key rotation from the command line against the shared database: the
	// instances sign with the new key within 10 s and both publish it.
	oldKid := kidOf(t, tok["id_token"].(string))
	if err := Run(context.Background(), []string{"keys", "rotate", "--data-dir", t.TempDir(), "--database-url", u}, env(nil), io.Discard); err != nil {
		t.Fatal(err)
	}
	var idToken string
	for deadline := time.Now().Add(20 * time.Second); ; {
		code, verifier, _ := f.code("launch openid fhirUser patient/*.rs")
		status, tok := f.exchange(code, verifier)
		if status != http.StatusOK {
			t.Fatalf("token after rotation: %d %v", status, tok)
		}
		if idToken = tok["id_token"].(string); kidOf(t, idToken) != oldKid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still signing with the old key 20 s after the rotation")
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, a := range addrs {
		resp, err := http.Get(a + "/auth/keys")
		if err != nil {
			t.Fatal(err)
		}
		var set jose.JSONWebKeySet
		json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		if len(set.Key(oldKid)) == 0 {
			t.Errorf("%s no longer publishes the old key", a)
		}
		jws, err := jose.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.RS256})
		if err != nil {
			t.Fatal(err)
		}
		keys := set.Key(jws.Signatures[0].Header.KeyID)
		if len(keys) == 0 {
			t.Errorf("%s does not publish the new key %s", a, jws.Signatures[0].Header.KeyID)
			continue
		}
		if _, err := jws.Verify(keys[0]); err != nil {
			t.Errorf("id_token signed with the new key does not verify with %s's JWKS: %v", a, err)
		}
	}
}

func kidOf(t *testing.T, idToken string) string {
	jws, err := jose.ParseSigned(idToken, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) == 0 {
		t.Fatalf("id_token: %v", err)
	}
	return jws.Signatures[0].Header.KeyID
}

// A sign-in page whose request cannot be read because the database does
// not answer is a 503 page saying so, not "request expired"; once the
// database is back the same page works.
func TestSignInPageWhileTheDatabaseIsDown(t *testing.T) {
	u := pgtest.URL(t)
	s := startOnDB(t, u)
	f := newRRFlow(t, s.URL)
	resp, b := f.do("POST", s.URL+"/api/launches", "application/json", `{"launch_type":"provider-ehr","patient":"`+fixtures.DefaultPatientID+`"}`, "")
	var minted struct{ Launch, ISS string }
	if json.Unmarshal(b, &minted); minted.Launch == "" {
		t.Fatalf("mint: %d %s", resp.StatusCode, b)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"sample-app"}, "redirect_uri": {s.URL + rrRedirect}, "scope": {"launch openid fhirUser"},
		"state": {"st"}, "aud": {minted.ISS}, "launch": {minted.Launch}, "code_challenge": {strings.Repeat("c", 43)}, "code_challenge_method": {"S256"}}
	resp, _ = f.do("GET", s.URL+"/auth/authorize?"+q.Encode(), "", "", "")
	page := resp.Header.Get("Location")
	if !strings.Contains(page, "/auth/consent?") {
		t.Fatalf("authorize: %d %s, want the consent page", resp.StatusCode, page)
	}

	// The database stops taking connections, and those open are ended.
	pu, _ := url.Parse(u)
	name := strings.TrimPrefix(pu.Path, "/")
	pu.Path = "/postgres"
	admin, err := sql.Open("pgx", pu.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() }) // after the cleanup below: cleanups run last first
	allow := func(on bool) {
		t.Helper()
		if _, err := admin.Exec(fmt.Sprintf(`ALTER DATABASE %q ALLOW_CONNECTIONS %t`, name, on)); err != nil {
			t.Fatal(err)
		}
	}
	allow(false)
	t.Cleanup(func() { allow(true) })
	if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, name); err != nil {
		t.Fatal(err)
	}
	resp, b = f.do("GET", page, "", "", "")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(b), "temporarily unavailable") {
		t.Fatalf("consent page with the database down: %d, want 503 saying so\n%s", resp.StatusCode, b)
	}
	allow(true)
	// Pooled connections the database ended fail once each (a 503 again);
	// new ones work. The deadline only bounds a pool that never recovers.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, b = f.do("GET", page, "", "", "")
		if resp.StatusCode == http.StatusOK {
			break
		}
		if resp.StatusCode != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("consent page with the database back: %d\n%s", resp.StatusCode, b)
		}
	}
}
