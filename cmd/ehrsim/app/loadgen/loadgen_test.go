package loadgen_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/ehrsim/ehrsim/cmd/ehrsim/app/loadgen"
)

// The OIDC library logs its routes through the default logger at start;
// benchmark output must stay readable.
func init() { slog.SetDefault(slog.New(slog.DiscardHandler)) }

// start runs an in-process ehrsim on a loopback port with a fresh data
// directory, plus args.
func start(tb testing.TB, args ...string) *app.Server {
	tb.Helper()
	s, err := app.Start(context.Background(), append([]string{"--listen", "127.0.0.1:0", "--data-dir", tb.TempDir(), "--log-level", "error"}, args...),
		func(string) string { return "" }, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Shutdown(context.Background()) })
	return s
}

// benchLaunches drives full EHR launches with scope ("" for the default)
// from 16 concurrent clients against s. Report: launches/s.
func benchLaunches(b *testing.B, s *app.Server, scope string) {
	c := loadgen.NewClient(s.URL, 16, scope, "")
	b.SetParallelism(8) // × GOMAXPROCS(2) = 16 concurrent clients
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := c.Launch(context.Background()); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "launches/s")
}

// The load path is the real contract: a launch that fails any step counts
// as an error, and a run against a healthy server has none.
func TestFullLaunchesSucceed(t *testing.T) {
	s := start(t)
	r, err := loadgen.Run(context.Background(), loadgen.Options{BaseURL: s.URL, Concurrency: 4, Launches: 40, Duration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Launches < 40 {
		t.Fatalf("%v", r)
	}
}

func TestRunReportsABrokenTarget(t *testing.T) {
	s := start(t)
	_, err := loadgen.Run(context.Background(), loadgen.Options{BaseURL: s.URL + "/nowhere", Concurrency: 1, Launches: 1})
	if err == nil || !strings.Contains(err.Error(), "mint") {
		t.Fatalf("err = %v, want a mint failure", err)
	}
}

// BenchmarkFullEHRLaunch measures mint → authorize → token → first FHIR
// read over loopback HTTP with 16 concurrent clients (docs/architecture.md
// target: ≥ 1,000/s on 2 cores). Report: launches/s.
func BenchmarkFullEHRLaunch(b *testing.B) {
	benchLaunches(b, start(b), "")
}

// BenchmarkFullEHRLaunchNoOpenID is the same without openid: no id_token,
// so no RS256 signature per launch.
func BenchmarkFullEHRLaunchNoOpenID(b *testing.B) {
	benchLaunches(b, start(b), "launch patient/*.rs")
}

// BenchmarkDiscovery: GET /fhir/.well-known/smart-configuration over loopback
// HTTP with 16 concurrent clients (docs/architecture.md, performance targets).
func BenchmarkDiscovery(b *testing.B) {
	s := start(b)
	benchGET(b, s.URL+"/fhir/.well-known/smart-configuration", "")
}

func benchGET(b *testing.B, u, bearer string) {
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	client := &http.Client{Transport: tr}
	b.SetParallelism(8)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, u, nil)
			if bearer != "" {
				req.Header.Set("Authorization", "Bearer "+bearer)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("%s: %d", u, resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// The performance suite (ehrsim load --suite) drives every scenario
// through the real HTTP path with every answer checked, beside its
// baselines: against a healthy server no iteration fails and every
// scenario has a rate and a ratio.
func TestSuiteRunsEveryScenario(t *testing.T) {
	s := start(t)
	su, err := loadgen.RunSuite(context.Background(), s.URL, "", nil, 2, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if su.RS256 <= 0 || su.Hello <= 0 {
		t.Fatalf("baselines not measured: %+v", su)
	}
	if len(su.Results) != len(loadgen.Scenarios) {
		t.Fatalf("%d scenarios ran, want %d", len(su.Results), len(loadgen.Scenarios))
	}
	var out strings.Builder
	su.Write(&out)
	for _, r := range su.Results {
		if r.Rate.Errors != 0 || r.Rate.Done == 0 || r.Ratio() <= 0 {
			t.Errorf("%s: %+v\n%s", r.Scenario.Name, r.Rate, out.String())
		}
		if !strings.Contains(out.String(), r.Scenario.Name) {
			t.Errorf("table lacks %s:\n%s", r.Scenario.Name, out.String())
		}
	}
}

// A scenario whose target misbehaves fails at its first iteration with
// the step named, not with a rate.
func TestSuiteReportsABrokenTarget(t *testing.T) {
	s := start(t)
	sc, _ := loadgen.ScenarioNamed("fhir-read")
	if _, err := loadgen.RunScenario(context.Background(), s.URL+"/nowhere", sc, 1, time.Second); err == nil || !strings.Contains(err.Error(), "mint") {
		t.Fatalf("err = %v, want a mint failure", err)
	}
}

// BenchmarkScenarios runs each scenario of the performance suite (ehrsim
// load --suite) against an in-process ehrsim over loopback HTTP, 16
// concurrent clients; allocations include the client's. Report: the
// scenario's iterations/s, and cpu-ns/op, the CPU time of client and server
// together per iteration (on a shared machine steadier than the rate). For
// ratios to the baselines, run `ehrsim load --suite`, which measures them
// in the same run.
//
// BenchmarkScenarios/hello is the hello-world baseline's server
// (loadgen.HelloHandler) in this process, driven alike: the in-process
// counterpart of the suite's ratios.
func BenchmarkScenarios(b *testing.B) {
	for _, sc := range append([]loadgen.Scenario{loadgen.Hello}, loadgen.Scenarios...) {
		b.Run(sc.Name, func(b *testing.B) {
			var url string
			if sc.Name == loadgen.Hello.Name {
				srv := httptest.NewServer(loadgen.HelloHandler)
				b.Cleanup(srv.Close)
				url = srv.URL
			} else {
				url = start(b).URL
			}
			its, err := loadgen.Workers(context.Background(), url, sc, 16)
			if err != nil {
				b.Fatal(err)
			}
			var next atomic.Int64
			b.SetParallelism(8) // × GOMAXPROCS(2) = 16 concurrent clients
			b.ReportAllocs()
			b.ResetTimer()
			cpu := cpuTime()
			b.RunParallel(func(pb *testing.PB) {
				it := its[int(next.Add(1)-1)%len(its)]
				for pb.Next() {
					if err := it(context.Background()); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "iterations/s")
			reportCPU(b, cpu)
		})
	}
}
