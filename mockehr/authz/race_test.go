package authz

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ehrsim/ehrsim/launcher"
)

// Concurrent answers to one authorization request (a double-clicked Allow,
// two tabs): every change is one check-and-set under the storage lock, so
// one request yields at most one code, and the race detector (the unit
// task runs with -race) sees no unsynchronised access.
func TestConsentPostedConcurrentlyIssuesOneCode(t *testing.T) {
	h := newTestServer(t)
	res := h.mint(launcher.Request{LaunchType: "provider-ehr", Patient: "p-1", Practitioner: "pr-1", Client: launcher.Client{ClientID: "pub"}})
	f := h.newFlow("pub", "", res.ISS, "launch", "patient/*.rs").with("launch", res.Launch)
	loc := h.get(f.authURL()).Header.Get("Location")
	if !strings.HasPrefix(loc, h.base+"/auth/consent?") {
		t.Fatalf("want the consent page, got %s", loc)
	}
	form := hiddenFields(t, h.get(loc))
	form.Add("scope", "launch")
	form.Add("scope", "patient/*.rs")
	form.Set("decision", "allow")

	const n = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		codes []string
		other []int
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := h.browser.PostForm(h.base+"/auth/consent", form)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
			mu.Lock()
			defer mu.Unlock()
			if u, err := url.Parse(resp.Header.Get("Location")); err == nil && u.Query().Get("code") != "" {
				codes = append(codes, u.Query().Get("code"))
			} else {
				other = append(other, resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	if len(codes) != 1 {
		t.Fatalf("%d codes issued for one authorization request, want exactly 1 (others: %v)", len(codes), other)
	}
	for _, st := range other {
		if st != http.StatusConflict && st != http.StatusBadRequest {
			t.Errorf("a losing answer got %d, want 409 (already answered) or 400 (finished)", st)
		}
	}
	h.exchange(f, codes[0])
}

// Refresh token rotation is single use under concurrency (REF-06): of eight
// refreshes racing with one refresh token, exactly one gets new tokens and
// the others get invalid_grant, because retiring the old token is one
// conditional UPDATE (a check-and-set that also holds across instances).
func TestREF06_ConcurrentRefreshesRotateOnce(t *testing.T) {
	h := newTestServer(t)
	// openid: each refresh signs an id_token between its check and its
	// save, which widens the window the check-and-set must close.
	rt := refreshable(t, h, "openid", "fhirUser", "offline_access", "launch/patient", "patient/*.rs")["refresh_token"].(string)
	const n = 8
	start := make(chan struct{})
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		ok     int
		errors []string
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			resp, body := refresh(h, rt, "")
			mu.Lock()
			defer mu.Unlock()
			switch {
			case resp.StatusCode == 200:
				ok++
			case resp.StatusCode == 400 && body["error"] == "invalid_grant":
			default:
				errors = append(errors, fmt.Sprint(resp.StatusCode, body))
			}
		}()
	}
	close(start)
	wg.Wait()
	if ok != 1 || len(errors) > 0 {
		t.Fatalf("%d of %d concurrent refreshes succeeded, want exactly 1; unexpected answers: %v", ok, n, errors)
	}
}
