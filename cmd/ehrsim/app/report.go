package app

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/inspect"
)

// ReportFailedError is what `ehrsim report` returns when the client failed
// an error-severity rule (exit code 1; the report was printed).
type ReportFailedError struct {
	ClientID string
	Errors   int
}

func (e *ReportFailedError) Error() string {
	rules := "rules"
	if e.Errors == 1 {
		rules = "rule"
	}
	return fmt.Sprintf("report: client %s failed %d error-severity %s", e.ClientID, e.Errors, rules)
}

// reportCommand prints a client's conformance report from a running
// ehrsim (GET {url}/api/clients/{id}/report) and fails when an
// error-severity rule failed. Usage mistakes and a server that cannot be
// reached or does not answer the report are usage errors (exit 2): the
// report could not be judged.
func reportCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stdout)
	def := getenv("EHRSIM_BASE_URL")
	if def == "" {
		def = "http://localhost:8080"
	}
	u := fs.String("url", def, "base URL of the running ehrsim")
	client := fs.String("client", "", "client_id to report on (required)")
	format := fs.String("format", "text", "output: text, json or junit")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the report")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return &ConfigError{Problems: []string{err.Error()}}
	}
	var problems []string
	if *client == "" {
		problems = append(problems, "--client is required (the client_id to report on)")
	}
	switch *format {
	case "text", "json", "junit":
	default:
		problems = append(problems, fmt.Sprintf("--format %q: text, json or junit", *format))
	}
	if fs.NArg() > 0 {
		problems = append(problems, "unexpected arguments: "+strings.Join(fs.Args(), " "))
	}
	base, err := url.Parse(strings.TrimSuffix(*u, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		problems = append(problems, fmt.Sprintf("--url %q: an http(s) URL of a running ehrsim", *u))
	}
	if len(problems) > 0 {
		return &ConfigError{Problems: problems}
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	endpoint := base.String() + "/api/clients/" + url.PathEscape(*client) + "/report"

	// One fetch of the JSON report decides the exit code and is printed in
	// the asked format, so what is printed is what was judged.
	body, err := fetchReport(ctx, endpoint)
	if err != nil {
		return err
	}
	var rep inspect.Report
	if err := json.Unmarshal(body, &rep); err != nil || rep.ClientID == "" {
		return &ConfigError{Problems: []string{fmt.Sprintf("--url %s: the answer is not an ehrsim report (%v)", *u, err)}}
	}
	switch *format {
	case "json":
		stdout.Write(body)
		if len(body) > 0 && body[len(body)-1] != '\n' {
			fmt.Fprintln(stdout)
		}
	case "junit":
		x, err := rep.JUnit()
		if err != nil {
			return err
		}
		stdout.Write(x)
	default:
		fmt.Fprint(stdout, rep.Text())
	}
	if rep.Failed() {
		return &ReportFailedError{ClientID: *client, Errors: rep.Errors}
	}
	return nil
}

func fetchReport(ctx context.Context, endpoint string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, &ConfigError{Problems: []string{"--url: " + err.Error()}}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, &ConfigError{Problems: []string{"--url: cannot reach ehrsim: " + err.Error()}}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, &ConfigError{Problems: []string{"--url: reading the report: " + err.Error()}}
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &ConfigError{Problems: []string{fmt.Sprintf("GET %s answered %s: %s", endpoint, resp.Status, strings.TrimSpace(string(b)))}}
	}
	return b, nil
}
