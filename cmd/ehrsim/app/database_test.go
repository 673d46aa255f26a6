package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestDatabaseURLFromFlagEnvAndFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "ehrsim.toml")
	os.WriteFile(file, []byte(`database_url = "postgres://file@db.test/ehrsim"`+"\n"), 0o644)
	for _, c := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--config", file}, nil, "postgres://file@db.test/ehrsim"},
		{[]string{"--config", file}, map[string]string{"EHRSIM_DATABASE_URL": "postgres://env@db.test/ehrsim"}, "postgres://env@db.test/ehrsim"},
		{[]string{"--config", file, "--database-url", "postgresql://flag@db.test/ehrsim"}, map[string]string{"EHRSIM_DATABASE_URL": "postgres://env@db.test/x"}, "postgresql://flag@db.test/ehrsim"},
		{nil, nil, ""},
	} {
		e := map[string]string{"EHRSIM_DATA_DIR": dir}
		for k, v := range c.env {
			e[k] = v
		}
		cfg, err := LoadConfig(c.args, env(e), io.Discard)
		if err != nil || cfg.DatabaseURL != c.want {
			t.Errorf("LoadConfig(%v, %v): database URL %q, %v; want %q", c.args, c.env, cfg.DatabaseURL, err, c.want)
		}
	}
}

// A wrong --database-url, or a database that cannot be reached, stops
// start-up with a usage error (exit 2) naming the setting, never its
// password, before anything listens.
func TestBadDatabaseURLExits2(t *testing.T) {
	for _, c := range []struct{ url, want string }{
		{"mysql://root:hunter2@localhost/db", `scheme "mysql"`},
		{"postgres://root:hunter2@localhost:port/db", "--database-url"},
		{"postgres://root:hunter2@127.0.0.1:1/db?connect_timeout=5", "cannot connect to the database"},
	} {
		var out bytes.Buffer
		_, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--database-url", c.url}, env(nil), &out)
		if !IsUsage(err) {
			t.Errorf("%s: err = %v, want a usage error", c.url, err)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "--database-url") || !strings.Contains(msg, c.want) {
			t.Errorf("%s: error %q does not say %q", c.url, msg, c.want)
		}
		if strings.Contains(msg+out.String(), "hunter2") {
			t.Errorf("%s: the password shows: %s %s", c.url, msg, out.String())
		}
		if strings.Contains(out.String(), "ready") {
			t.Errorf("%s: server claims to be ready", c.url)
		}
	}
}

// TestTwoInstancesOnOnePostgres: two whole ehrsims with their own data
// directories on one PostgreSQL database answer for each other's launches
// and clients, and /readyz checks the database.
func TestTwoInstancesOnOnePostgres(t *testing.T) {
	u := pgtest.URL(t)
	start := func() *Server {
		s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--database-url", u}, env(nil), io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		return s
	}
	a, b := start(), start()
	for _, s := range []*Server{a, b} {
		resp, err := http.Get(s.URL + "/readyz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("/readyz: %v %v", err, resp)
		}
		resp.Body.Close()
	}
	resp, err := http.Post(a.URL+"/api/launches", "application/json", strings.NewReader(`{"launch_type":"provider-ehr"}`))
	if err != nil {
		t.Fatal(err)
	}
	var minted struct{ ID, Launch string }
	json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || minted.ID == "" {
		t.Fatalf("mint on A: %d %+v", resp.StatusCode, minted)
	}
	resp, err = http.Get(b.URL + "/api/launches/" + minted.ID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET A's launch on B: %d, want 200", resp.StatusCode)
	}
	resp, err = http.Post(b.URL+"/api/clients", "application/json", strings.NewReader(`{"client_id":"shared-app","client_type":"public","redirect_uris":["https://app.test/cb"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("register on B: %d", resp.StatusCode)
	}
	resp, err = http.Get(a.URL + "/api/clients/shared-app")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET B's client on A: %d, want 200", resp.StatusCode)
	}
}
