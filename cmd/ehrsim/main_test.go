package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/internal/pgtest"
)

// TestMain runs the real main when re-executed by runMain, so the tests
// see the binary's exit codes.
func TestMain(m *testing.M) {
	if os.Getenv("EHRSIM_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"ehrsim"}, strings.Fields(os.Getenv("EHRSIM_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	pgtest.Main(m) // a PostgreSQL server for the kill test, started on first use
}

// runMain runs `ehrsim args…` in a child process and returns its exit code
// and output.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "EHRSIM_TEST_RUN_MAIN=1", "EHRSIM_TEST_ARGS="+strings.Join(args, " "))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), out.String(), errb.String()
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, out.String(), errb.String()
}

// authorizeFlow mints an EHR launch for client (an ad-hoc client when it
// is not registered) and authorizes over plain HTTP, with a state when
// withState, S256 PKCE always, then redeems the code.
func authorizeFlow(t *testing.T, base, client string, withState bool) {
	t.Helper()
	redirect := "http://127.0.0.1:9/cb"
	body, _ := json.Marshal(map[string]any{"launch_type": "provider-ehr", "patient": "pat-amy-shaw", "skip_login": true, "skip_consent": true,
		"client": map[string]any{"client_id": client, "redirect_uris": []string{redirect}}})
	res, err := http.Post(base+"/api/launches", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var l struct{ Launch, ISS string }
	json.NewDecoder(res.Body).Decode(&l)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("mint: %d", res.StatusCode)
	}
	var disc struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
	}
	res, err = http.Get(l.ISS + "/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	json.NewDecoder(res.Body).Decode(&disc)
	res.Body.Close()
	verifier := strings.Repeat("v", 43)
	sum := sha256.Sum256([]byte(verifier))
	q := url.Values{"response_type": {"code"}, "client_id": {client}, "redirect_uri": {redirect}, "scope": {"launch patient/Patient.rs"},
		"aud": {l.ISS}, "launch": {l.Launch}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	if withState {
		q.Set("state", "st-"+client)
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err = c.Get(disc.Authorize + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc, _ := url.Parse(res.Header.Get("Location"))
	if loc == nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, err = http.PostForm(disc.Token, url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")},
		"redirect_uri": {redirect}, "client_id": {client}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("token: %d", res.StatusCode)
	}
}

// `ehrsim report` exits 1 for a client that broke an error-severity rule
// (here: no state), 0 for a clean one, 2 for usage and network errors.
func TestReportCommandExitCodes(t *testing.T) {
	s, err := app.Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "error"},
		func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	authorizeFlow(t, s.URL, "cli-sloppy", false)
	authorizeFlow(t, s.URL, "cli-clean", true)

	code, out, errOut := runMain(t, "report", "--url", s.URL, "--client", "cli-sloppy")
	if code != 1 || !strings.Contains(out, "FAIL  state-missing") || !strings.Contains(errOut, "client cli-sloppy failed 1 error-severity rule") {
		t.Errorf("sloppy client: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = runMain(t, "report", "--url", s.URL, "--client", "cli-sloppy", "--format", "junit")
	if code != 1 || !strings.Contains(out, `<testsuites>`) || !strings.Contains(out, `type="state-missing"`) {
		t.Errorf("sloppy client, junit: exit %d\n%s", code, out)
	}
	code, out, errOut = runMain(t, "report", "--url", s.URL, "--client", "cli-clean", "--format", "json")
	var rep struct {
		ClientID string `json:"client_id"`
		Errors   int    `json:"errors"`
		Launches int    `json:"launches"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil || rep.ClientID != "cli-clean" || rep.Errors != 0 || rep.Launches != 1 {
		t.Errorf("clean client: exit %d (%v) %+v\n%s\n%s", code, err, rep, out, errOut)
	}
	for _, args := range [][]string{
		{"report", "--url", s.URL},                                             // no --client
		{"report", "--url", s.URL, "--client", "x", "--format", "xml"},         // bad format
		{"report", "--url", "http://127.0.0.1:1", "--client", "cli-sloppy"},    // nothing listens
		{"report", "--url", s.URL + "/nothing-here", "--client", "cli-sloppy"}, // not an ehrsim
	} {
		if code, out, errOut := runMain(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s\n%s", args, code, out, errOut)
		}
	}
}

// `ehrsim load --suite` without --url starts its own ehrsim (this binary)
// on a loopback port, runs the scenarios against it beside the baselines,
// and adds the cold start and resident memory it measured; a scenario name
// it does not know is a usage error (exit 2).
func TestLoadSuiteStartsItsOwnServer(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := t.TempDir() + "/ehrsim"
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "load", "--suite", "--scenarios", "discovery,fhir-read", "--duration", "300ms", "--concurrency", "2")
	cmd.Env = append(os.Environ(), "EHRSIM_BASE_URL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"baselines (each measured just before its scenario", "RS256", "discovery", "fhir-read", "× hello", "cold start", "resident memory"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bad := exec.Command(bin, "load", "--suite", "--scenarios", "nope")
	out, err = bad.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), `"nope" is not one of`) {
		t.Fatalf("unknown scenario: %v\n%s", err, out)
	}
}
