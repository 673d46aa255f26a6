// Package pgtest gives tests a real PostgreSQL server and a fresh database
// for each test.
//
// A package with PostgreSQL tests calls Main from its TestMain. When
// EHRSIM_TEST_DATABASE_URL is set (go tool task unit starts one server with
// .ci/postgres and exports it for the whole run), that server is used.
// Otherwise the first URL call runs `.ci/postgres start`, which installs
// Debian's postgresql with apt-get when it is missing and the tests run as
// root, and starts a private cluster on a free loopback port as an
// unprivileged user (about 3 s); Main stops it and deletes its directory
// after the package's tests. A test binary whose selected tests need no
// database starts none.
//
// When no server can be had (no server binaries and not root), URL skips
// the test with the reason, unless CI or EHRSIM_REQUIRE_POSTGRES is set,
// where it fails instead: PostgreSQL tests are never skipped in the test
// command, only on a developer's machine without PostgreSQL.
//
// URL creates a database of its own for the calling test (CREATE DATABASE,
// a few milliseconds) and drops it when the test ends, so tests may run in
// parallel and never see each other's rows.
package pgtest

import (
	"bufio"
	"bytes"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
)

// EnvURL names the variable holding a server's superuser URL.
const EnvURL = "EHRSIM_TEST_DATABASE_URL"

var (
	startOnce  sync.Once
	serverURL  string
	serverDir  string // the cluster this binary started; "" when none
	skipReason string
	startErr   error
	seq        atomic.Int64

	adminOnce sync.Once
	admin     *sql.DB
	adminErr  error
)

// Main runs the package's tests with a PostgreSQL server (see the package
// doc) and exits with their status.
func Main(m *testing.M) {
	os.Exit(run(m))
}

// Run is Main for a TestMain that does more around the tests: it runs
// them with a PostgreSQL server and returns their status.
func Run(m *testing.M) int { return run(m) }

func run(m *testing.M) int {
	mainCalled = true
	code := m.Run()
	if admin != nil {
		admin.Close()
	}
	if serverDir != "" {
		if err := stop(serverDir); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	return code
}

var mainCalled bool

// server finds or starts the server, once per test binary.
func server() {
	startOnce.Do(func() {
		if u := os.Getenv(EnvURL); u != "" {
			serverURL = u
			return
		}
		if !mainCalled {
			skipReason = "pgtest.Main was not called from TestMain"
			return
		}
		dir, u, err := start()
		if err != nil {
			var nf notInstallable
			if errors.As(err, &nf) {
				skipReason = err.Error()
				return
			}
			startErr = err
			return
		}
		serverURL, serverDir = u, dir
	})
}

func required() bool { return os.Getenv("CI") != "" || os.Getenv("EHRSIM_REQUIRE_POSTGRES") != "" }

type notInstallable struct{ msg string }

func (e notInstallable) Error() string { return e.msg }

// script finds .ci/postgres from the working directory (a package directory
// under go test) up to the module root.
func script() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, ".ci", "postgres"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

func start() (dir, u string, err error) {
	s, err := script()
	if err != nil {
		return "", "", err
	}
	var stderr bytes.Buffer
	cmd := exec.Command("bash", s, "start")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 3 {
			return "", "", notInstallable{"no PostgreSQL server: " + msg}
		}
		return "", "", fmt.Errorf(".ci/postgres start: %v: %s", err, msg)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), "=")
		switch k {
		case EnvURL:
			u = v
		case "EHRSIM_TEST_PG_DIR":
			dir = v
		}
	}
	if u == "" || dir == "" {
		return "", "", fmt.Errorf(".ci/postgres start printed no URL: %q", out)
	}
	return dir, u, nil
}

func stop(dir string) error {
	s, err := script()
	if err != nil {
		return err
	}
	if out, err := exec.Command("bash", s, "stop", dir).CombinedOutput(); err != nil {
		return fmt.Errorf(".ci/postgres stop: %v: %s", err, out)
	}
	return nil
}

// URL returns the URL of a new, empty database for t, dropped when t ends
// (after the test's own cleanups, so close connections in a t.Cleanup). It
// skips or fails t as the package doc says when there is no server.
func URL(t testing.TB) string {
	t.Helper()
	server()
	if startErr != nil {
		t.Fatalf("pgtest: %v", startErr)
	}
	if serverURL == "" {
		if required() {
			t.Fatalf("pgtest: %s", skipReason)
		}
		t.Skipf("pgtest: %s (PostgreSQL tests run in go tool task test)", skipReason)
	}
	adminOnce.Do(func() {
		admin, adminErr = sql.Open("pgx", serverURL)
		if adminErr == nil {
			adminErr = admin.Ping()
		}
	})
	if adminErr != nil {
		t.Fatalf("pgtest: connect %s: %v", serverURL, adminErr)
	}
	name := fmt.Sprintf("ehrsim_test_%d_%d", os.Getpid(), seq.Add(1))
	if _, err := admin.Exec(`CREATE DATABASE ` + name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(`DROP DATABASE IF EXISTS ` + name + ` WITH (FORCE)`); err != nil {
			t.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	pu, err := url.Parse(serverURL)
	if err != nil {
		t.Fatalf("pgtest: %s: %v", EnvURL, err)
	}
	pu.Path = "/" + name
	return pu.String()
}
