package ehrsimtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/inspect"
)

// Report is a client's conformance report (GET /api/clients/{id}/report):
// every inspector rule with pass, fail or not exercised over the client's
// recent launches, with evidence and what to change. See
// docs/diagnostics.md.
type Report = inspect.Report

// Event is one recorded protocol step of a launch (the launch inspector).
type Event = inspect.Event

// Report fetches the conformance report of clientID and fails the test
// when it cannot be read.
func (s *Server) Report(t testing.TB, clientID string) *Report {
	t.Helper()
	var rep Report
	s.getJSON(t, "/api/clients/"+url.PathEscape(clientID)+"/report", &rep)
	return &rep
}

// RequireConformant fails the test (t.Fatal) when clientID failed any
// error-severity rule of the launch inspector in its recent launches,
// listing each failed rule with its evidence (launch, step, message, the
// inspector page of the step) and what to change. Warnings are logged. It
// returns the report for further checks.
//
//	app.RunLaunch(t, srv.Launch(t, req))
//	srv.RequireConformant(t, "my-app")
func (s *Server) RequireConformant(t testing.TB, clientID string) *Report {
	t.Helper()
	rep := s.Report(t, clientID)
	if msg := describeFailures(s.Base, rep, inspect.SevWarning); msg != "" {
		t.Logf("ehrsimtest: client %s has warnings:\n%s", clientID, msg)
	}
	if rep.Failed() {
		t.Fatalf("ehrsimtest: client %s is not conformant (error-severity rules failed: %d; recent launches judged: %d):\n%s",
			clientID, rep.Errors, rep.Launches, describeFailures(s.Base, rep, inspect.SevError))
	}
	return rep
}

// describeFailures lists the failed rules of severity sev.
func describeFailures(base string, rep *Report, sev inspect.Severity) string {
	var b strings.Builder
	for _, r := range rep.Rules {
		if r.Outcome != inspect.Fail || r.Severity != sev {
			continue
		}
		fmt.Fprintf(&b, "  %s (%s): %s\n", r.Rule, r.Severity, r.Title)
		for _, e := range r.Evidence {
			fmt.Fprintf(&b, "    - launch %s, step %d (%s): %s\n      %s/inspect/%s#step-%d\n", e.LaunchID, e.Seq, e.Kind, e.Message, base, url.PathEscape(e.LaunchID), e.Seq)
			if len(e.Request) > 0 {
				keys := make([]string, 0, len(e.Request))
				for k := range e.Request {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				var sent []string
				for _, k := range keys {
					sent = append(sent, k+"="+e.Request[k])
				}
				fmt.Fprintf(&b, "      sent: %s\n", strings.Join(sent, " "))
			}
		}
		fmt.Fprintf(&b, "    fix: %s\n    spec: %s %s\n", r.Fix, r.Spec, r.SpecURL)
	}
	return b.String()
}

// Events returns a launch's recorded steps, oldest first (GET
// /api/launches/{id}/events), and fails the test when they cannot be read.
func (s *Server) Events(t testing.TB, launchID string) []Event {
	t.Helper()
	var body inspect.EventsBody
	s.getJSON(t, "/api/launches/"+url.PathEscape(launchID)+"/events", &body)
	return body.Events
}

func (s *Server) getJSON(t testing.TB, path string, v any) {
	t.Helper()
	res, err := http.Get(s.Base + path)
	if err != nil {
		t.Fatalf("ehrsimtest: GET %s: %v", path, err)
		return
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("ehrsimtest: GET %s: %d %s (%v)", path, res.StatusCode, b, err)
		return
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("ehrsimtest: GET %s: %v", path, err)
	}
}
