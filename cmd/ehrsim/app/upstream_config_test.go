package app

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUpstreamConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := LoadConfig([]string{"--data-dir", t.TempDir(), "--fhir-upstream", "http://127.0.0.1:8090/fhir",
		"--fhir-upstream-header", "Authorization: Bearer s3cret-value", "--fhir-upstream-header", "X-Tenant: a",
		"--fhir-upstream-timeout", "5s", "--fhir-upstream-max-body", "2MiB"}, env(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := c.UpstreamHeader()
	if c.FHIRUpstream != "http://127.0.0.1:8090/fhir" || h.Get("Authorization") != "Bearer s3cret-value" || h.Get("X-Tenant") != "a" ||
		c.FHIRUpstreamTimeout != 5*time.Second || c.FHIRUpstreamMaxBody != 2<<20 {
		t.Errorf("config = %+v", c)
	}
	c, err = LoadConfig([]string{"--data-dir", t.TempDir()}, env(map[string]string{
		"EHRSIM_FHIR_UPSTREAM": "https://hapi.example/fhir", "EHRSIM_FHIR_UPSTREAM_HEADER": "A: 1\nB: 2"}), nil)
	if err != nil || c.FHIRUpstream != "https://hapi.example/fhir" || len(c.FHIRUpstreamHeaders) != 2 ||
		c.FHIRUpstreamTimeout != 30*time.Second || c.FHIRUpstreamMaxBody != 16<<20 {
		t.Errorf("env config = %+v, %v", c, err)
	}
	// Problems name the flag, never a header's value.
	_, err = LoadConfig([]string{"--data-dir", t.TempDir(), "--fhir-upstream", "ftp://x", "--fhir-upstream-header", "Bearer s3cret-value",
		"--fhir-upstream-timeout", "soon", "--fhir-upstream-max-body", "-1"}, env(nil), nil)
	if err == nil {
		t.Fatal("bad upstream settings accepted")
	}
	for _, want := range []string{"--fhir-upstream:", "--fhir-upstream-header: header 1", "--fhir-upstream-timeout", "--fhir-upstream-max-body"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the header value: %v", err)
	}
	if _, err := LoadConfig([]string{"--data-dir", t.TempDir(), "--fhir-upstream-header", "A: b"}, env(nil), nil); err == nil || !strings.Contains(err.Error(), "needs --fhir-upstream") {
		t.Errorf("header without upstream: %v", err)
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "16MiB": 16 << 20, "512KiB": 512 << 10, "1GiB": 1 << 30, "2MB": 2e6, "10 B": 10} {
		if got, ok := parseSize(in); !ok || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "x", "0", "-5", "1TiB", "99999999999GiB"} {
		if _, ok := parseSize(in); ok {
			t.Errorf("parseSize(%q) accepted", in)
		}
	}
}

func TestUpstreamConfigTOML(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		toml string
		want []string
	}{
		{"fhir_upstream = \"http://127.0.0.1:8090/fhir\"\nfhir_upstream_header = [\"Authorization: Bearer x1234\", \"X-A: b\"]\nfhir_upstream_timeout = \"5s\"\nfhir_upstream_max_body = \"1MiB\"\n",
			[]string{"Authorization: Bearer x1234", "X-A: b"}},
		{"fhir_upstream = \"http://127.0.0.1:8090/fhir\"\nfhir_upstream_header = \"X-A: b\"\n", []string{"X-A: b"}},
	} {
		f := dir + "/c.toml"
		if err := os.WriteFile(f, []byte(c.toml), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := LoadConfig([]string{"--data-dir", dir, "--config", f}, func(string) string { return "" }, nil)
		if err != nil || !slices.Equal(cfg.FHIRUpstreamHeaders, c.want) || cfg.FHIRUpstream == "" {
			t.Errorf("%s: %+v, %v", c.toml, cfg.FHIRUpstreamHeaders, err)
		}
	}
	f := dir + "/bad.toml"
	os.WriteFile(f, []byte("fhir_upstream_header = 3\n"), 0o600)
	if _, err := LoadConfig([]string{"--data-dir", dir, "--config", f}, func(string) string { return "" }, nil); err == nil || !strings.Contains(err.Error(), "fhir_upstream_header") {
		t.Errorf("a numeric header: %v", err)
	}
}
