package app

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/fixtures"
	"github.com/ehrsim/ehrsim/internal/pgtest"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
)

// TestInspectorEventsAcrossInstances: two instances on one PostgreSQL
// database. A launch minted, authorized and exchanged for a token on A
// shows the same timeline in B's inspector API (and B's recent list), and
// an authorize request for that launch made on B shows in A's: the
// inspector's events live in the shared database.
func TestInspectorEventsAcrossInstances(t *testing.T) {
	u := pgtest.URL(t)
	a, b := startOnDB(t, u), startOnDB(t, u)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	// Mint on A.
	resp, err := http.Post(a.URL+"/api/launches", "application/json", strings.NewReader(
		`{"launch_type":"provider-ehr","patient":"`+fixtures.DefaultPatientID+`","skip_login":true,"skip_consent":true}`))
	if err != nil {
		t.Fatal(err)
	}
	var minted struct{ ID, Launch, ISS string }
	json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || minted.ID == "" || minted.Launch == "" || !strings.HasPrefix(minted.ISS, a.URL) {
		t.Fatalf("mint on A: %d %+v", resp.StatusCode, minted)
	}

	// authorize sends an EHR launch's authorize request to base (aud: the
	// launch's FHIR base on that instance) and returns the code and the PKCE
	// verifier.
	authorize := func(base, state string) (code, verifier string) {
		verifier = strings.Repeat("v", 43) + state
		sum := sha256.Sum256([]byte(verifier))
		q := url.Values{"response_type": {"code"}, "client_id": {"sample-app"}, "redirect_uri": {base + "/sample-app/index.html"},
			"scope": {"launch openid fhirUser patient/*.rs"}, "state": {state}, "aud": {base + strings.TrimPrefix(minted.ISS, a.URL)}, "launch": {minted.Launch},
			"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
		resp, err := noRedirect.Get(base + "/auth/authorize?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusFound || loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize on %s: %d, Location %q", base, resp.StatusCode, resp.Header.Get("Location"))
		}
		return loc.Query().Get("code"), verifier
	}
	code, verifier := authorize(a.URL, "state-on-a")
	resp, err = http.PostForm(a.URL+"/auth/oauth/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"redirect_uri": {a.URL + "/sample-app/index.html"}, "client_id": {"sample-app"}, "code_verifier": {verifier}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("token on A: %d", resp.StatusCode)
	}

	events := func(s *Server) inspect.EventsBody {
		t.Helper()
		resp, err := http.Get(s.URL + "/api/launches/" + minted.ID + "/events")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body inspect.EventsBody
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&body) != nil {
			t.Fatalf("inspector events on %s: %d", s.URL, resp.StatusCode)
		}
		return body
	}
	line := func(evs []inspect.Event) string {
		var b strings.Builder
		for _, e := range evs {
			fmt.Fprintf(&b, "%d %s %s %d|", e.Seq, e.At.UTC().Format("15:04:05.000000000"), e.Kind, e.Status)
		}
		return b.String()
	}
	kinds := func(evs []inspect.Event) map[inspect.Kind]int {
		m := map[inspect.Kind]int{}
		for _, e := range evs {
			m[e.Kind]++
		}
		return m
	}

	// Reading on A writes A's pending events first (the recorder flushes
	// before it reads), so from then on they are in the database.
	onA := events(a)
	if k := kinds(onA.Events); k[inspect.KindLaunchMinted] != 1 || k[inspect.KindAuthorize] != 1 || k[inspect.KindCodeIssued] != 1 || k[inspect.KindToken] != 1 {
		t.Fatalf("A's own timeline %s, want the mint, authorize, code and token", line(onA.Events))
	}
	onB := events(b)
	if line(onB.Events) != line(onA.Events) || onB.Errors != onA.Errors || onB.Warnings != onA.Warnings {
		t.Fatalf("B shows\n%s\nfor the launch, A shows\n%s", line(onB.Events), line(onA.Events))
	}
	resp, err = http.Get(b.URL + "/api/inspect/launches")
	if err != nil {
		t.Fatal(err)
	}
	var recent struct{ Launches []inspect.LaunchSummary }
	json.NewDecoder(resp.Body).Decode(&recent)
	resp.Body.Close()
	if len(recent.Launches) == 0 || recent.Launches[0].LaunchID != minted.ID || recent.Launches[0].Events != len(onA.Events) {
		t.Fatalf("B's recent launches %+v, want A's launch with %d events", recent.Launches, len(onA.Events))
	}

	// The other way round: an authorize request for the same launch on B
	// (launches are shared) shows in A's timeline, after B's reader wrote it.
	authorize(b.URL, "state-on-b")
	onB = events(b)
	onA = events(a)
	if k := kinds(onA.Events); k[inspect.KindAuthorize] != 2 || len(onA.Events) != len(onB.Events) || line(onA.Events) != line(onB.Events) {
		t.Fatalf("after an authorize on B, A shows\n%s\nB shows\n%s", line(onA.Events), line(onB.Events))
	}
}
