package app

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigPrecedenceFlagsOverEnvOverFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ehrsim.toml")
	os.WriteFile(file, []byte("listen = \"127.0.0.1:7001\"\nlog_level = \"debug\"\nlog_format = \"json\"\n"), 0o644)
	c, err := LoadConfig([]string{"--config", file, "--listen", "127.0.0.1:7003"},
		env(map[string]string{"EHRSIM_LISTEN": "127.0.0.1:7002", "EHRSIM_LOG_LEVEL": "warn", "EHRSIM_DATA_DIR": dir}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Listen != "127.0.0.1:7003" {
		t.Errorf("listen = %q, want the flag's value", c.Listen)
	}
	if c.LogLevel != "warn" {
		t.Errorf("log level = %q, want the env value", c.LogLevel)
	}
	if c.LogFormat != "json" {
		t.Errorf("log format = %q, want the file's value", c.LogFormat)
	}
	if c.DataDir != dir {
		t.Errorf("data dir = %q, want %q", c.DataDir, dir)
	}
}

func TestConfigReportsEveryProblemAtOnce(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "bad.toml")
	os.WriteFile(file, []byte("colour = \"blue\"\n"), 0o644)
	notDir := filepath.Join(dir, "f")
	os.WriteFile(notDir, nil, 0o644)
	_, err := LoadConfig([]string{"--listen", "nonsense", "--base-url", "ftp://x", "--log-level", "loud",
		"--fixtures", filepath.Join(dir, "missing"), "--data-dir", notDir, "--reference-date", "yesterday", "--strict-clients", "maybe"},
		env(map[string]string{"EHRSIM_CONFIG": file, "EHRSIM_LOG_FORMAT": "xml"}), io.Discard)
	if !IsUsage(err) {
		t.Fatalf("err = %v, want a ConfigError", err)
	}
	for _, want := range []string{"--listen", "--base-url", "--log-level", "--log-format", "--fixtures", "--data-dir", "--reference-date", "--strict-clients", `unknown key "colour"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
}

func TestBadConfigExitsBeforeListening(t *testing.T) {
	var out bytes.Buffer
	// Port 1 would need root to bind; the config error must come first anyway.
	_, err := Start(context.Background(), []string{"--listen", "127.0.0.1:1", "--log-level", "nope"}, env(nil), &out)
	if !IsUsage(err) {
		t.Fatalf("err = %v, want a usage error", err)
	}
	if strings.Contains(out.String(), "ready") {
		t.Fatalf("server claims to be ready: %s", out.String())
	}
}

func TestStartServesHealthAndShutsDownGracefully(t *testing.T) {
	var out bytes.Buffer
	s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, env(nil), &out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "ehrsim ready") || !strings.Contains(out.String(), s.URL+"/fhir") {
		t.Fatalf("startup line missing URLs: %q", out.String())
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(s.URL + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v %v", p, err, resp)
		}
		if resp.Header.Get("X-Request-Id") == "" {
			t.Errorf("GET %s: no X-Request-Id", p)
		}
		resp.Body.Close()
	}
	var hc bytes.Buffer
	if err := Run(context.Background(), []string{"healthcheck", "--url", s.URL}, env(nil), &hc); err != nil || !strings.Contains(hc.String(), "ready") {
		t.Fatalf("healthcheck: %v %q", err, hc.String())
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get(s.URL + "/healthz"); err == nil {
		t.Fatal("server still answers after shutdown")
	}
	if err := Run(context.Background(), []string{"healthcheck", "--url", s.URL, "--timeout", "500ms"}, env(nil), io.Discard); err == nil {
		t.Fatal("healthcheck passed against a stopped server")
	}
}

func TestRunStopsOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir()}, env(nil), pw)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() && !strings.Contains(sc.Text(), "ehrsim ready") {
	}
	if sc.Err() != nil || !strings.Contains(sc.Text(), "ehrsim ready") {
		t.Fatalf("no startup line (last %q, err %v)", sc.Text(), sc.Err())
	}
	go io.Copy(io.Discard, pr)
	cancel()
	if err := <-done; err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Run returned %v after cancel", err)
	}
}

// DISC: every SMART discovery field is configurable through the TOML file's
// [smart] table (WSO2 Config.toml shape); the served document follows it.
func TestSMARTDiscoveryFromTOML(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ehrsim.toml")
	os.WriteFile(file, []byte(`
[smart]
capabilities = ["launch-ehr", "client-public", "context-ehr-patient", "permission-v2"]
scopes_supported = ["openid", "launch", "patient/*.rs"]
`), 0o644)
	s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", dir, "--config", file}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	resp, err := http.Get(s.URL + "/fhir/.well-known/smart-configuration")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Capabilities    []string `json:"capabilities"`
		ScopesSupported []string `json:"scopes_supported"`
		TokenEndpoint   string   `json:"token_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if strings.Join(doc.Capabilities, " ") != "launch-ehr client-public context-ehr-patient permission-v2" {
		t.Errorf("capabilities = %v", doc.Capabilities)
	}
	if strings.Join(doc.ScopesSupported, " ") != "openid launch patient/*.rs" {
		t.Errorf("scopes_supported = %v", doc.ScopesSupported)
	}
	if doc.TokenEndpoint != s.URL+"/auth/oauth/token" {
		t.Errorf("token_endpoint = %q (unset fields keep their defaults)", doc.TokenEndpoint)
	}
}

func TestBadSMARTTableIsAConfigError(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ehrsim.toml")
	os.WriteFile(file, []byte("[smart]\ncapabilities = 3\ncapabilites = [\"x\"]\n"), 0o644)
	_, err := LoadConfig([]string{"--data-dir", dir, "--config", file}, env(nil), io.Discard)
	if !IsUsage(err) || !strings.Contains(err.Error(), "[smart]") || !strings.Contains(err.Error(), `unknown key "capabilites"`) {
		t.Fatalf("err = %v, want config errors naming [smart] and the misspelt key", err)
	}
}

// --fixtures: user data loads beside the demo set (a launch for a user
// patient is accepted); a broken bundle stops start-up with a message naming
// the file and the entry, before anything listens.
func TestUserFixtures(t *testing.T) {
	good := t.TempDir()
	os.WriteFile(filepath.Join(good, "bundle.json"), []byte(`{"resourceType":"Bundle","type":"transaction","entry":[
		{"fullUrl":"urn:uuid:11111111-1111-1111-1111-111111111111","resource":{"resourceType":"Patient","id":"user-pat","name":[{"family":"Loaded","given":["User"]}],"gender":"female","birthDate":"1990-01-01"}},
		{"fullUrl":"urn:uuid:22222222-2222-2222-2222-222222222222","resource":{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"urn:uuid:11111111-1111-1111-1111-111111111111"}}}]}`), 0o644)
	s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--fixtures", good}, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	resp, err := http.Post(s.URL+"/api/launches", "application/json", strings.NewReader(`{"launch_type":"provider-ehr","patient":"user-pat"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("launch for a user-loaded patient: %d", resp.StatusCode)
	}

	bad := t.TempDir()
	os.WriteFile(filepath.Join(bad, "broken.json"), []byte(`{"resourceType":"Bundle","type":"collection","entry":[
		{"resource":{"resourceType":"Patient","id":"ok"}},
		{"resource":{"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/missing"}}}]}`), 0o644)
	var out bytes.Buffer
	_, err = Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--fixtures", bad}, env(nil), &out)
	if err == nil || !strings.Contains(err.Error(), "broken.json") || !strings.Contains(err.Error(), "entry[1]") || !strings.Contains(err.Error(), "Patient/missing") {
		t.Fatalf("err = %v, want the file, entry[1] and the dangling reference named", err)
	}
	if strings.Contains(out.String(), "ready") {
		t.Fatal("server reported ready with broken fixtures")
	}
}
