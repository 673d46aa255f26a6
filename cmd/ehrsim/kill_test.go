package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ehrsim/ehrsim/internal/pgtest"
)

// startChild runs this test binary as ehrsim (runMain's re-exec) on a free
// loopback port and returns its base URL and process.
func startChild(t *testing.T, args ...string) (string, *exec.Cmd) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EHRSIM_TEST_RUN_MAIN=1", "EHRSIM_TEST_ARGS="+strings.Join(args, " "))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ready := regexp.MustCompile(`^ehrsim ready in [^:]+: launcher (http://127\.0\.0\.1:\d+)/`)
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if m := ready.FindStringSubmatch(sc.Text()); m != nil {
			go io.Copy(io.Discard, out)
			return m[1], cmd
		}
	}
	t.Fatalf("ehrsim %v exited before it was ready", args)
	return "", nil
}

// killClient is a backend service with an ES384 key of its own.
type killClient struct {
	id  string
	key jose.JSONWebKey
}

func (c *killClient) tryToken(base string) (string, error) {
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: c.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.key.KeyID))
	if err != nil {
		return "", err
	}
	jti := make([]byte, 12)
	rand.Read(jti)
	a, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{base + "/auth/oauth/token"},
		Expiry: jwt.NewNumericDate(time.Now().Add(4 * time.Minute)), ID: fmt.Sprintf("%x", jti)}).Serialize()
	if err != nil {
		return "", err
	}
	resp, err := http.PostForm(base+"/auth/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Observation.cruds"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		return "", fmt.Errorf("token from %s: %d", base, resp.StatusCode)
	}
	return tok.AccessToken, nil
}

// failoverProxy round-robins requests over backends and drops a backend
// whose port refuses connections, sending the request to the next one
// (safe to resend: it never reached the dead backend). It keeps no
// connections alive, so each request dials: a request in flight on a
// backend when it dies fails, one started after its death does not.
type failoverProxy struct {
	mu       sync.Mutex
	backends []*url.URL
	dead     map[string]bool
	next     int
	tr       *http.Transport
}

func (p *failoverProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	for range len(p.backends) {
		p.mu.Lock()
		var target *url.URL
		for range len(p.backends) {
			b := p.backends[p.next%len(p.backends)]
			p.next++
			if !p.dead[b.Host] {
				target = b
				break
			}
		}
		p.mu.Unlock()
		if target == nil {
			break
		}
		out := r.Clone(r.Context())
		out.URL.Scheme, out.URL.Host, out.Host, out.RequestURI = target.Scheme, target.Host, r.Host, ""
		out.Body = io.NopCloser(strings.NewReader(string(body)))
		resp, err := p.tr.RoundTrip(out)
		var op *net.OpError
		if errors.As(err, &op) && op.Op == "dial" {
			p.mu.Lock()
			p.dead[target.Host] = true
			p.mu.Unlock()
			continue
		}
		if err != nil {
			http.Error(w, "proxy: "+target.Host+": "+err.Error(), http.StatusBadGateway)
			return
		}
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
		resp.Body.Close()
		return
	}
	http.Error(w, "no live backend", http.StatusBadGateway)
}

// TestKilledInstanceLosesNoAcknowledgedWrite: two ehrsim processes on one
// PostgreSQL database behind a proxy that round-robins and drops a dead
// instance. Writers get client_credentials tokens and create Observations
// through the proxy, so both instances issue tokens and acknowledge
// writes; then A is killed with SIGKILL. Only requests in flight at the
// kill may fail; every request started after it succeeds (on B); every
// Observation acknowledged before the kill is readable on B, and every
// token A issued still works on B.
func TestKilledInstanceLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two ehrsim processes")
	}
	u := pgtest.URL(t)
	px := &failoverProxy{dead: map[string]bool{}, tr: &http.Transport{DisableKeepAlives: true}}
	front := httptest.NewServer(px)
	defer front.Close()
	// Each instance's public URL is the proxy's; the proxy reaches them on
	// ports picked here.
	start := func() (string, *exec.Cmd) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		_, proc := startChild(t, "--listen", addr, "--base-url", front.URL, "--data-dir", t.TempDir(), "--database-url", u, "--log-level", "error")
		target, _ := url.Parse("http://" + addr)
		px.backends = append(px.backends, target)
		return target.String(), proc
	}
	_, procA := start()
	b, _ := start()

	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &killClient{id: "kill-test-backend", key: jose.JSONWebKey{Key: k, KeyID: "kill-key", Algorithm: string(jose.ES384), Use: "sig"}}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{c.key.Public()}})
	reg, _ := json.Marshal(map[string]any{"client_id": c.id, "client_type": "backend-service", "jwks": json.RawMessage(jwks), "scope": "system/*.cruds"})
	resp, err := http.Post(front.URL+"/api/clients", "application/json", strings.NewReader(string(reg)))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %v %v", err, resp)
	}
	resp.Body.Close()

	create := func(token string, n int) (string, error) {
		body := fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"kill test %d"},"subject":{"reference":"Patient/pat-amy-shaw"}}`, n)
		req, _ := http.NewRequest("POST", front.URL+"/fhir/Observation", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/fhir+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var r struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&r)
		if resp.StatusCode != http.StatusCreated {
			b, _ := io.ReadAll(resp.Body)
			return "", fmt.Errorf("create: %d %s", resp.StatusCode, b)
		}
		return r.ID, nil
	}

	var (
		mu       sync.Mutex
		acked    []string // Observations acknowledged
		tokens   []string // tokens issued
		killedAt time.Time
		after    int // requests started after the kill that succeeded
		wg       sync.WaitGroup
	)
	var killing bool // set when the kill is sent; killedAt when the process is gone
	killedBefore := func(start time.Time) bool {
		mu.Lock()
		defer mu.Unlock()
		return killing && (killedAt.IsZero() || !start.After(killedAt))
	}
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				start := time.Now()
				tok, err := c.tryToken(front.URL)
				if err == nil {
					mu.Lock()
					tokens = append(tokens, tok)
					mu.Unlock()
					var id string
					if id, err = create(tok, w*1_000_000+n); err == nil {
						mu.Lock()
						acked = append(acked, id)
						mu.Unlock()
					}
				}
				mu.Lock()
				done := !killedAt.IsZero() && after >= 200
				if err == nil && !killedAt.IsZero() && start.After(killedAt) {
					after++
				}
				mu.Unlock()
				if err != nil && !killedBefore(start) {
					t.Errorf("a request started after the kill (or before it) failed after %s: %v", time.Since(start), err)
					return
				}
				if done {
					return
				}
			}
		}()
	}
	for wait := time.Now().Add(30 * time.Second); ; {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 {
			break
		}
		if t.Failed() || time.Now().After(wait) {
			t.Fatalf("%d Observations acknowledged before the kill, want 40", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	killing = true
	mu.Unlock()
	procA.Process.Kill() // SIGKILL
	// The kill is done when the process is gone: until then the kernel may
	// still accept connections for it (its listen backlog), and a request
	// the proxy sent there is in flight at the kill.
	procA.Wait()
	mu.Lock()
	killedAt = time.Now()
	mu.Unlock()
	wg.Wait()

	mu.Lock()
	ids, toks := append([]string(nil), acked...), append([]string(nil), tokens...)
	mu.Unlock()
	read := func(id, token string) int {
		req, _ := http.NewRequest("GET", b+"/fhir/Observation/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	// B's follower has them within a few polls; the deadline only bounds
	// a broken follower.
	deadline := time.Now().Add(20 * time.Second)
	for i, id := range ids {
		for {
			code := read(id, toks[i%len(toks)])
			if code == http.StatusOK {
				break
			}
			if code != http.StatusNotFound || time.Now().After(deadline) {
				t.Fatalf("Observation/%s, acknowledged before A was killed, on B: %d (of %d acknowledged)", id, code, len(ids))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// Every token issued (by A or B) works on B.
	for _, tok := range toks {
		if code := read(ids[0], tok); code != http.StatusOK {
			t.Fatalf("a token issued before the kill, on B: %d", code)
		}
	}
	t.Logf("%d tokens issued, %d Observations acknowledged, %d requests after the kill", len(toks), len(ids), after)
}
