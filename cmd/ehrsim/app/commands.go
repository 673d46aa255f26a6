package app

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
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
	return &ConfigError{Problems: []string{"fixtures: this build has no fixtures generator yet"}}
}

func keysCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return &ConfigError{Problems: []string{"keys: this build has no signing keys yet"}}
}
