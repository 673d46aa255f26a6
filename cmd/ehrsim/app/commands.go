package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app/loadgen"
	"github.com/ehrsim/ehrsim/fixtures"
	"github.com/ehrsim/ehrsim/mockehr/authz"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

var flagErrHelp = flag.ErrHelp

// healthcheck probes a running server's /readyz (for images without curl).
func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stdout)
	def := getenv("EHRSIM_BASE_URL")
	if def == "" {
		listen := getenv("EHRSIM_LISTEN")
		if listen == "" {
			listen = "localhost:8080"
		}
		def = "http://" + listen
	}
	u := fs.String("url", def, "base URL of the running ehrsim")
	timeout := fs.Duration("timeout", 3*time.Second, "how long to wait for an answer")
	if err := fs.Parse(args); err != nil {
		return &ConfigError{Problems: []string{err.Error()}}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(*u, "/")+"/readyz", nil)
	if err != nil {
		return &ConfigError{Problems: []string{"--url: " + err.Error()}}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s/readyz answered %s", *u, resp.Status)
	}
	fmt.Fprintln(stdout, "ready")
	return nil
}

func fixturesCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "generate" {
		return &ConfigError{Problems: []string{"fixtures: usage: ehrsim fixtures generate --patients N --seed S --out DIR [--format ndjson|bundle]"}}
	}
	return fixtures.GenerateCommand(ctx, args[1:], stdout, os.Stderr)
}

// keysCommand rotates the token signing key in the configured data
// directory; the old public key stays published for a grace period.
func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 || args[0] != "rotate" {
		return &ConfigError{Problems: []string{"keys: usage: ehrsim keys rotate [--data-dir DIR] [--database-url postgres://…]"}}
	}
	cfg, err := LoadConfig(args[1:], getenv, stdout)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := authz.RotateKeys(ctx, db); err != nil {
		return err
	}
	where := cfg.DataDir
	if cfg.DatabaseURL != "" {
		where = store.Redact(cfg.DatabaseURL)
	}
	fmt.Fprintf(stdout, "rotated the signing key in %s; running servers on it sign with the new key within 10 seconds\n", where)
	return nil
}

// loadCommand drives full EHR launches against a running ehrsim and prints
// the rate (docs/architecture.md, performance targets).
func loadCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stdout)
	def := getenv("EHRSIM_BASE_URL")
	if def == "" {
		def = "http://localhost:8080"
	}
	u := fs.String("url", def, "base URL of the running ehrsim")
	conc := fs.Int("concurrency", 16, "concurrent clients")
	dur := fs.Duration("duration", 10*time.Second, "how long to run")
	n := fs.Int("launches", 0, "stop after this many launches (0: run for --duration)")
	scope := fs.String("scope", "", "requested scope (default: launch openid fhirUser patient/*.rs)")
	patient := fs.String("patient", "", "patient in context (default: the demo patient)")
	mixed := fs.Bool("mixed", false, "soak workload: each iteration is a launch, FHIR read, search and write, introspection and refresh")
	suite := fs.Bool("suite", false, "performance suite: the RS256 and hello-world baselines, then every scenario for --duration each, "+
		"with ratios and targets; without --url it starts its own ehrsim and adds cold start and memory")
	only := fs.String("scenarios", "", "with --suite, only these scenarios (comma-separated: "+scenarioNames()+")")
	hello := fs.Bool("hello-server", false, "serve the suite's hello-world baseline on a loopback port, print its URL, run until stopped (the suite starts this itself)")
	if err := fs.Parse(args); err != nil {
		return &ConfigError{Problems: []string{err.Error()}}
	}
	if *conc < 1 || *dur <= 0 || *n < 0 {
		return &ConfigError{Problems: []string{"load: --concurrency must be ≥ 1, --duration > 0, --launches ≥ 0"}}
	}
	if *hello {
		return serveHello(ctx, stdout)
	}
	if *suite {
		urlSet := getenv("EHRSIM_BASE_URL") != ""
		fs.Visit(func(f *flag.Flag) { urlSet = urlSet || f.Name == "url" })
		var names []string
		for _, name := range strings.Split(*only, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			if _, ok := loadgen.ScenarioNamed(name); !ok {
				return &ConfigError{Problems: []string{fmt.Sprintf("load: --scenarios: %q is not one of %s", name, scenarioNames())}}
			}
			names = append(names, name)
		}
		if urlSet {
			return runSuite(ctx, stdout, *u, names, *conc, *dur)
		}
		return runSuiteSpawned(ctx, stdout, names, *conc, *dur)
	}
	r, err := loadgen.Run(ctx, loadgen.Options{BaseURL: *u, Concurrency: *conc, Duration: *dur, Launches: *n, Scope: *scope, Patient: *patient, Mixed: *mixed})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, r)
	if r.Errors > 0 {
		return fmt.Errorf("load: %d launches failed", r.Errors)
	}
	return nil
}
