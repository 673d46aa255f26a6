package main

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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

func (c *killClient) token(t *testing.T, base string) string {
	t.Helper()
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES384, Key: c.key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.key.KeyID))
	if err != nil {
		t.Fatal(err)
	}
	jti := make([]byte, 12)
	rand.Read(jti)
	a, err := jwt.Signed(sig).Claims(jwt.Claims{Issuer: c.id, Subject: c.id, Audience: jwt.Audience{base + "/auth/oauth/token"},
		Expiry: jwt.NewNumericDate(time.Now().Add(4 * time.Minute)), ID: fmt.Sprintf("%x", jti)}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(base+"/auth/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"system/Observation.cruds"},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(resp.Body).Decode(&tok)
	if resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token from %s: %d", base, resp.StatusCode)
	}
	return tok.AccessToken
}

// TestKilledInstanceLosesNoAcknowledgedWrite: two ehrsim processes on one
// PostgreSQL database; while writers create Observations on A, A is killed
// with SIGKILL. Every create A acknowledged (201) is readable on B, only
// requests in flight at the kill may fail, and B keeps serving writes.
func TestKilledInstanceLosesNoAcknowledgedWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two ehrsim processes")
	}
	u := pgtest.URL(t)
	a, procA := startChild(t, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--database-url", u, "--log-level", "error")
	b, _ := startChild(t, "--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--database-url", u, "--log-level", "error")

	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &killClient{id: "kill-test-backend", key: jose.JSONWebKey{Key: k, KeyID: "kill-key", Algorithm: string(jose.ES384), Use: "sig"}}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{c.key.Public()}})
	reg, _ := json.Marshal(map[string]any{"client_id": c.id, "client_type": "backend-service", "jwks": json.RawMessage(jwks), "scope": "system/*.cruds"})
	resp, err := http.Post(a+"/api/clients", "application/json", strings.NewReader(string(reg)))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("register: %v %v", err, resp)
	}
	resp.Body.Close()
	tokA, tokB := c.token(t, a), c.token(t, b)

	create := func(base, token string, n int) (string, error) {
		body := fmt.Sprintf(`{"resourceType":"Observation","status":"final","code":{"text":"kill test %d"},"subject":{"reference":"Patient/pat-amy-shaw"}}`, n)
		req, _ := http.NewRequest("POST", base+"/fhir/Observation", strings.NewReader(body))
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
			return "", fmt.Errorf("create: %d", resp.StatusCode)
		}
		return r.ID, nil
	}

	var (
		mu     sync.Mutex
		acked  []string
		killed = make(chan struct{})
		wg     sync.WaitGroup
	)
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				id, err := create(a, tokA, w*1_000_000+n)
				if err != nil {
					select {
					case <-killed: // in flight at the kill, or after it
					default:
						t.Errorf("create on A before the kill: %v", err)
					}
					return
				}
				mu.Lock()
				acked = append(acked, id)
				mu.Unlock()
			}
		}()
	}
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 40 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(killed)
	procA.Process.Kill() // SIGKILL
	wg.Wait()
	procA.Wait()

	mu.Lock()
	ids := append([]string(nil), acked...)
	mu.Unlock()
	read := func(id string) int {
		req, _ := http.NewRequest("GET", b+"/fhir/Observation/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tokB)
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
	for _, id := range ids {
		for {
			code := read(id)
			if code == http.StatusOK {
				break
			}
			if code != http.StatusNotFound || time.Now().After(deadline) {
				t.Fatalf("Observation/%s, acknowledged by A before it was killed, on B: %d (of %d acknowledged)", id, code, len(ids))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	// B serves on.
	if _, err := create(b, tokB, -1); err != nil {
		t.Fatalf("create on B after A was killed: %v", err)
	}
}
