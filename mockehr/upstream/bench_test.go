package upstream_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/upstream"
	"github.com/ehrsim/ehrsim/mockehr/upstream/upstreamtest"
)

// BenchmarkUpstreamRead compares a FHIR read through ehrsim in upstream
// mode (token check, scope decision, upstream exchange, compartment check
// of the answer, URL rewriting) with a direct read of the same resource
// from the same upstream, over loopback. The target: proxied
// within 2× of direct. "ratio" is proxied ns/op over direct ns/op,
// measured in the same run, alternating batches so both see the same
// machine load.
func BenchmarkUpstreamRead(b *testing.B) {
	up := upstreamtest.Start(b, fhirtest.World())
	e := newEnv(b, upstream.Options{URL: up.URL, Header: upstreamtest.Header()})
	tok := e.token("patient/*.rs", "p1")
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	get := func(u, tok string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != 200 {
			b.Fatalf("GET %s: %d", u, res.StatusCode)
		}
	}
	// floor is the cheapest possible proxy: a handler that forwards the
	// read with the upstream credential and copies the answer, checking
	// nothing. Two HTTP exchanges instead of one make it the lower bound
	// of any proxy in front of so fast an upstream.
	upClient := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	floorSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodGet, up.URL+"/Patient/p1", nil)
		req.Header.Set("Authorization", "Bearer "+upstreamtest.Token)
		res, err := upClient.Do(req)
		if err != nil {
			w.WriteHeader(502)
			return
		}
		defer res.Body.Close()
		w.Header().Set("Content-Type", res.Header.Get("Content-Type"))
		w.WriteHeader(res.StatusCode)
		io.Copy(w, res.Body)
	}))
	b.Cleanup(floorSrv.Close)
	direct := func() { get(up.URL+"/Patient/p1", upstreamtest.Token) }
	floor := func() { get(floorSrv.URL+"/Patient/p1", "x") }
	proxied := func() { get(e.base+"/Patient/p1", tok) }
	b.Run("direct", func(b *testing.B) {
		for b.Loop() {
			direct()
		}
	})
	b.Run("proxied", func(b *testing.B) {
		for b.Loop() {
			proxied()
		}
	})
	// A compartment type: its patient reference is parsed and indexed by
	// the store's code before the compartment check.
	b.Run("direct-observation", func(b *testing.B) {
		for b.Loop() {
			get(up.URL+"/Observation/o1", upstreamtest.Token)
		}
	})
	b.Run("proxied-observation", func(b *testing.B) {
		for b.Loop() {
			get(e.base+"/Observation/o1", tok)
		}
	})
	b.Run("floor", func(b *testing.B) {
		for b.Loop() {
			floor()
		}
	})
	b.Run("ratio", func(b *testing.B) {
		// Alternating batches; wall time and the process's CPU time (every
		// party is in this process: the client, ehrsim and the upstream),
		// which a loaded machine disturbs less than wall time.
		const batch = 100
		var wall, cpu [3]time.Duration
		fns := [3]func(){direct, proxied, floor}
		for b.Loop() {
			for i, fn := range fns {
				w0, c0 := time.Now(), cpuTime()
				for range batch {
					fn()
				}
				wall[i] += time.Since(w0)
				cpu[i] += cpuTime() - c0
			}
		}
		b.ReportMetric(float64(wall[1])/float64(wall[0]), "proxied/direct")
		b.ReportMetric(float64(cpu[1])/float64(cpu[0]), "cpu-proxied/direct")
		b.ReportMetric(float64(wall[2])/float64(wall[0]), "floor/direct")
		b.ReportMetric(float64(wall[1])/float64(wall[2]), "proxied/floor")
	})
}
