package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/internal/pgtest"
)

// The newcomer's EHR launch, in a browser, against two ehrsim instances
// on one PostgreSQL behind a round-robin proxy with no affinity: the
// launcher page, the mint, the simulated EHR, the consent page, the token
// exchange and the sample app's FHIR reads each land on whichever
// instance is next, and the launch works as it does against one.
func TestEHRLaunchAcrossTwoInstancesBehindAProxy(t *testing.T) {
	t.Parallel()
	u := pgtest.URL(t)
	var (
		mu       sync.Mutex
		backends []*url.URL
		next     int
		served   = map[string]map[string]int{} // backend → area (auth, fhir) → requests
	)
	rr := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		target := backends[next%len(backends)]
		next++
		area := strings.SplitN(strings.TrimPrefix(r.URL.Path, "/"), "/", 2)[0]
		if strings.Contains(r.URL.Path, "/fhir") {
			area = "fhir"
		}
		if served[target.Host] == nil {
			served[target.Host] = map[string]int{}
		}
		served[target.Host][area]++
		mu.Unlock()
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	defer rr.Close()
	for range 2 {
		// app.Start, not the test kit: the kit checks discovery through
		// the base URL, the proxy, before the proxy knows the instance.
		s, err := app.Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--base-url", rr.URL, "--data-dir", t.TempDir(),
			"--database-url", u, "--log-level", "error"}, func(string) string { return "" }, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Shutdown(context.Background()) })
		target, _ := url.Parse("http://" + s.Addr)
		mu.Lock()
		backends = append(backends, target)
		mu.Unlock()
	}

	page := newPage(t)
	goto_(t, page, rr.URL+"/")
	runDefaultLaunch(t, page)

	mu.Lock()
	defer mu.Unlock()
	for _, b := range backends {
		if served[b.Host]["auth"] == 0 || served[b.Host]["fhir"] == 0 {
			t.Errorf("instance %s served %v; want authorization and FHIR requests on both", b.Host, served[b.Host])
		}
	}
}
