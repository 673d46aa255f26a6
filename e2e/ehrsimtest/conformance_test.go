package ehrsimtest_test

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
)

// recordingTB records what a helper reports instead of failing the test.
type recordingTB struct {
	testing.TB
	fatal, logs []string
}

func (r *recordingTB) Helper() {}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.fatal = append(r.fatal, fmt.Sprintf(format, args...))
}
func (r *recordingTB) Logf(format string, args ...any) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

// RequireConformant passes a clean client and fails a sloppy one with each
// failed error-severity rule, its evidence and the fix; Events returns a
// launch's steps in order.
func TestRequireConformantAndEvents(t *testing.T) {
	t.Parallel()
	s := ehrsimtest.Start(t)

	clean := newInspectFlow(t, s, map[string]any{"client_id": "kit-clean", "redirect_uris": []string{"http://127.0.0.1:9/cb"}})
	verifier := strings.Repeat("k", 43)
	q := clean.authorize(map[string]string{"state": "st-1", "code_challenge": s256(verifier), "code_challenge_method": "S256"})
	clean.token(q.Get("code"), verifier)
	rep := s.RequireConformant(t, "kit-clean")
	if rep.ClientID != "kit-clean" || rep.Launches != 1 {
		t.Fatalf("report %+v", rep)
	}
	evs := s.Events(t, clean.launchID)
	if got, want := kinds(evs), []string{"launch.minted", "authorize", "code.issued", "token"}; !slices.Equal(got, want) {
		t.Fatalf("Events: %v, want %v", got, want)
	}

	sloppy := newInspectFlow(t, s, map[string]any{"client_id": "kit-sloppy", "redirect_uris": []string{"http://127.0.0.1:9/cb"}})
	q = sloppy.authorize(map[string]string{"code_challenge": s256(verifier), "code_challenge_method": "S256"})
	at := sloppy.token(q.Get("code"), verifier)
	sloppy.get(sloppy.iss+"/Patient/pat-amy-shaw?access_token="+url.QueryEscape(at), nil)
	rt := &recordingTB{TB: t}
	s.RequireConformant(rt, "kit-sloppy")
	if len(rt.fatal) != 1 {
		t.Fatalf("RequireConformant on a sloppy client: %q, want one failure", rt.fatal)
	}
	msg := rt.fatal[0]
	for _, want := range []string{"kit-sloppy is not conformant (error-severity rules failed: 2; recent launches judged: 1)",
		inspect.RuleStateMissing, inspect.RuleTokenInQuery, "launch " + sloppy.launchID + ", step",
		s.Base + "/inspect/" + sloppy.launchID + "#step-", "fix: Send an unguessable state", "spec: RFC 6750 §2.3",
		"sent: ", "response_type=code"} {
		if !strings.Contains(msg, want) {
			t.Errorf("failure message lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, at) {
		t.Error("the failure message shows the access token")
	}
}
