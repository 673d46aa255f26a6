package loadgen

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Baselines a scenario's rate is compared with, measured in the same run on
// the same machine: absolute rates differ from machine to machine, ratios
// much less.
const (
	BaselineRS256 = "rs256" // RSA-2048 PKCS#1 v1.5 SHA-256 signatures/s on all cores (Go's crypto/rsa)
	BaselineHello = "hello" // requests/s of a Go hello-world server driven like the scenario
)

// A Scenario is one workload of the performance suite (ehrsim load
// --suite): what one iteration does, the baseline its rate is read against
// and the target ratio.
type Scenario struct {
	Name     string
	What     string  // what one iteration is
	Baseline string  // BaselineRS256 or BaselineHello
	Target   float64 // minimum rate / baseline
	// worker prepares one client's iteration (a launch for the tokens it
	// uses, say) before the clock starts.
	worker func(ctx context.Context, c *Client, worker int) (func(context.Context) error, error)
	// request, for a scenario whose iteration is one request, prepares that
	// request (worker is then derived from it).
	request func(ctx context.Context, c *Client) (request, error)
}

// A request is one checked request: method, URL, form body (POST), bearer
// token and what the 200 answer's body must contain.
type request struct {
	method, url, form, bearer, want string
}

// oneRequest is the worker of a scenario whose iteration is one request.
func oneRequest(prepare func(ctx context.Context, c *Client) (request, error)) func(context.Context, *Client, int) (func(context.Context) error, error) {
	return func(ctx context.Context, c *Client, _ int) (func(context.Context) error, error) {
		rq, err := prepare(ctx, c)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error { return c.expect(ctx, rq.method, rq.url, rq.form, rq.bearer, rq.want) }, nil
	}
}

// Scenarios are the performance suite, in the order it runs.
var Scenarios = []Scenario{
	{Name: "launch", What: "full EHR launch with openid fhirUser (mint, authorize, token with an RS256 id_token, FHIR read)",
		Baseline: BaselineRS256, Target: 0.60, worker: func(_ context.Context, c *Client, _ int) (func(context.Context) error, error) {
			return c.withScope("launch openid fhirUser patient/*.rs").Launch, nil
		}},
	{Name: "launch-no-openid", What: "full EHR launch without openid (no signature; four requests)",
		Baseline: BaselineHello, Target: 0.10, worker: func(_ context.Context, c *Client, _ int) (func(context.Context) error, error) {
			return c.withScope("launch patient/*.rs").Launch, nil
		}},
	{Name: "refresh", What: "refresh with rotation and an RS256 id_token",
		Baseline: BaselineRS256, Target: 0.80, worker: refreshWorker},
	{Name: "introspect", What: "token introspection of an active access token",
		Baseline: BaselineHello, Target: 0.80, request: introspectRequest},
	{Name: "discovery", What: "GET /fhir/.well-known/smart-configuration",
		Baseline: BaselineHello, Target: 0.90, request: func(_ context.Context, c *Client) (request, error) {
			return request{method: http.MethodGet, url: c.base + "/fhir/.well-known/smart-configuration", want: `"token_endpoint"`}, nil
		}},
	{Name: "fhir-read", What: "FHIR read on /fhir with token and scope check",
		Baseline: BaselineHello, Target: 0.85, request: func(ctx context.Context, c *Client) (request, error) {
			return c.readRequest(ctx, c.mint)
		}},
	{Name: "sim-read", What: "FHIR read on a standalone launch's /sim/{scenario}/fhir base",
		Baseline: BaselineHello, Target: 0.85, request: func(ctx context.Context, c *Client) (request, error) {
			mint, _ := json.Marshal(map[string]any{"launch_type": "patient-standalone", "patient": c.patient, "skip_login": true, "skip_consent": true})
			return c.readRequest(ctx, string(mint))
		}},
}

func init() {
	for i, sc := range Scenarios {
		if sc.request != nil {
			Scenarios[i].worker = oneRequest(sc.request)
		}
	}
}

// ScenarioNamed returns the scenario called name.
func ScenarioNamed(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

func (c *Client) withScope(scope string) *Client {
	cp := *c
	cp.scope = scope
	return &cp
}

// readRequest launches once (mintBody); the request then reads the patient.
func (c *Client) readRequest(ctx context.Context, mintBody string) (request, error) {
	ss, err := c.launchWith(ctx, mintBody, "launch launch/patient patient/*.rs")
	if err != nil {
		return request{}, err
	}
	return request{method: http.MethodGet, url: ss.iss + "/Patient/" + url.PathEscape(ss.patient), bearer: ss.access,
		want: `"resourceType":"Patient"`}, nil
}

// introspectRequest launches once; the request then introspects its access token.
func introspectRequest(ctx context.Context, c *Client) (request, error) {
	ss, err := c.launchWith(ctx, c.mint, "launch patient/*.rs")
	if err != nil {
		return request{}, err
	}
	return request{method: http.MethodPost, url: c.base + "/auth/oauth/introspect", form: url.Values{"token": {ss.access}}.Encode(),
		bearer: ss.access, want: `"active":true`}, nil
}

// refreshWorker launches once with offline_access; every iteration then
// refreshes with the refresh token the previous one returned (rotation).
func refreshWorker(ctx context.Context, c *Client, _ int) (func(context.Context) error, error) {
	ss, err := c.launchWith(ctx, c.mint, "launch openid fhirUser offline_access patient/*.rs")
	if err != nil {
		return nil, err
	}
	rt := ss.refresh
	if rt == "" {
		return nil, errors.New("refresh: the token response had no refresh_token")
	}
	u := c.base + "/auth/oauth/token"
	return func(ctx context.Context) error {
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"sample-app"}}
		status, body, err := c.do(ctx, http.MethodPost, u, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "")
		var tok struct {
			AccessToken  string `json:"access_token"`
			RefreshToken string `json:"refresh_token"`
			IDToken      string `json:"id_token"`
		}
		if err != nil || status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.RefreshToken == "" || tok.IDToken == "" {
			return fmt.Errorf("refresh: %d %v %s", status, err, trim(body))
		}
		rt = tok.RefreshToken
		return nil
	}, nil
}

// expect does one request and checks its status is 200 and its body holds
// want. The body is read into a pooled buffer and searched in place: the
// load generator shares the cores with the server it measures, and copying
// each answer (more for larger answers than for the hello-world baseline's
// five bytes) would charge the client's work to the scenario's ratio.
func (c *Client) expect(ctx context.Context, method, u, form, bearer, want string) error {
	var body io.Reader
	ctype := ""
	if form != "" {
		body, ctype = strings.NewReader(form), "application/x-www-form-urlencoded"
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(buf)
	buf.Reset()
	status, err := c.doInto(ctx, method, u, ctype, body, bearer, buf)
	if err != nil {
		return err
	}
	if status != http.StatusOK || !bytes.Contains(buf.Bytes(), []byte(want)) {
		return fmt.Errorf("%s %s: %d %s", method, u, status, trim(buf.Bytes()))
	}
	return nil
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Rate is one measured rate.
type Rate struct {
	Done, Errors int64
	Elapsed      time.Duration
	P50, P99     time.Duration
	FirstError   error
}

// PerSecond is the rate of successful iterations.
func (r Rate) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Done) / r.Elapsed.Seconds()
}

// drive runs the workers' iterations until d has passed: each worker
// starts iterations while time remains and finishes the one in flight at
// the deadline (counted; the rate is over the time until the last one
// ended), so every worker completes at least one and none is cut short.
func drive(ctx context.Context, d time.Duration, workers []func(context.Context) error) Rate {
	var (
		done, failed atomic.Int64
		mu           sync.Mutex
		firstErr     error
		lat          []time.Duration
		wg           sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for _, it := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil && time.Now().Before(deadline) {
				t0 := time.Now()
				if err := it(ctx); err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				done.Add(1)
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	r := Rate{Done: done.Load(), Errors: failed.Load(), Elapsed: time.Since(start), FirstError: firstErr}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		r.P50, r.P99 = lat[n/2], lat[n*99/100]
	}
	return r
}

// RunScenario measures one scenario against the ehrsim at baseURL.
func RunScenario(ctx context.Context, baseURL string, sc Scenario, concurrency int, d time.Duration) (Rate, error) {
	workers, err := Workers(ctx, baseURL, sc, concurrency)
	if err != nil {
		return Rate{}, err
	}
	return drive(ctx, d, workers), nil
}

// Workers prepares n clients of the scenario, each one's first iteration
// done and checked, and returns their iterations (one per client; an
// iteration is not safe for concurrent use with itself).
func Workers(ctx context.Context, baseURL string, sc Scenario, n int) ([]func(context.Context) error, error) {
	c := NewClient(baseURL, n, "", "")
	workers := make([]func(context.Context) error, n)
	for i := range workers {
		it, err := sc.worker(ctx, c, i)
		if err != nil {
			return nil, fmt.Errorf("loadgen: %s: setting up client %d: %w", sc.Name, i, err)
		}
		if err := it(ctx); err != nil { // fail fast on a misconfigured target
			return nil, fmt.Errorf("loadgen: %s: first iteration failed: %w", sc.Name, err)
		}
		workers[i] = it
	}
	return workers, nil
}

// HelloHandler is the hello-world baseline's server: net/http answering
// "hello". ehrsim load runs it in a process of its own (ServeHello), like
// the ehrsim it measures, so both are driven across processes alike.
var HelloHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "hello")
})

// ServeHello serves HelloHandler on ln until it fails.
func ServeHello(ln net.Listener) error { return (&http.Server{Handler: HelloHandler}).Serve(ln) }

// HelloWorldRate is the hello-world baseline: the hello server at helloURL
// (in this process when ""), driven by the same HTTP client set-up and
// concurrency as the scenarios, for d.
func HelloWorldRate(ctx context.Context, helloURL string, concurrency int, d time.Duration) (Rate, error) {
	if helloURL == "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return Rate{}, err
		}
		srv := &http.Server{Handler: HelloHandler}
		go srv.Serve(ln)
		defer srv.Close()
		helloURL = "http://" + ln.Addr().String()
	}
	c := NewClient(helloURL, concurrency, "", "")
	u := c.base + "/"
	workers := make([]func(context.Context) error, concurrency)
	for i := range workers {
		workers[i] = func(ctx context.Context) error { return c.expect(ctx, http.MethodGet, u, "", "", "hello") }
	}
	return drive(ctx, d, workers), nil
}

// RS256Rate is the signature baseline: RSA-2048 SHA-256 signatures per
// second with crypto/rsa, one signer per core, for d.
func RS256Rate(d time.Duration) (float64, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return 0, err
	}
	digest := sha256.Sum256([]byte("ehrsim baseline"))
	var n atomic.Int64
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if _, err := rsa.SignPKCS1v15(nil, key, crypto.SHA256, digest[:]); err == nil {
					n.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds(), nil
}

// SuiteResult is one scenario's figure beside its baseline.
type SuiteResult struct {
	Scenario Scenario
	Rate     Rate
	Base     float64 // the baseline's rate, measured just before the scenario
}

// Ratio is the scenario's rate over its baseline's.
func (r SuiteResult) Ratio() float64 {
	if r.Base <= 0 {
		return 0
	}
	return r.Rate.PerSecond() / r.Base
}

// Met reports whether the ratio reaches the target.
func (r SuiteResult) Met() bool { return r.Rate.Errors == 0 && r.Ratio() >= r.Scenario.Target }

// Suite is a whole performance run.
type Suite struct {
	RS256, Hello float64 // the baselines, averaged over their measurements
	Results      []SuiteResult
}

// RunSuite measures each scenario (all of Scenarios when names is empty)
// for d, each right after its baseline (for d as well): on a machine whose
// load drifts, a baseline measured minutes earlier would skew the ratio.
// helloURL is the hello-world server to use ("" for one in this process).
func RunSuite(ctx context.Context, baseURL, helloURL string, names []string, concurrency int, d time.Duration) (Suite, error) {
	var su Suite
	var rs, hello []float64
	for _, sc := range Scenarios {
		if len(names) > 0 && !contains(names, sc.Name) {
			continue
		}
		var base float64
		if sc.Baseline == BaselineRS256 {
			r, err := RS256Rate(d)
			if err != nil {
				return su, err
			}
			base, rs = r, append(rs, r)
		} else {
			r, err := HelloWorldRate(ctx, helloURL, concurrency, d)
			if err != nil {
				return su, err
			}
			base, hello = r.PerSecond(), append(hello, r.PerSecond())
		}
		r, err := RunScenario(ctx, baseURL, sc, concurrency, d)
		if err != nil {
			return su, err
		}
		su.Results = append(su.Results, SuiteResult{Scenario: sc, Rate: r, Base: base})
	}
	su.RS256, su.Hello = mean(rs), mean(hello)
	return su, nil
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var t float64
	for _, x := range xs {
		t += x
	}
	return t / float64(len(xs))
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Errors counts failed iterations over every scenario.
func (su Suite) Errors() int64 {
	var n int64
	for _, r := range su.Results {
		n += r.Rate.Errors
	}
	return n
}

// Write prints the suite as a table: rate, baseline, ratio and target.
func (su Suite) Write(w io.Writer) {
	fmt.Fprintf(w, "baselines (each measured just before its scenario; mean): RS256 (RSA-2048, %d cores) %.0f signatures/s; Go hello-world server %.0f requests/s\n",
		runtime.GOMAXPROCS(0), su.RS256, su.Hello)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\trate/s\tp50\tp99\terrors\tbaseline/s\tratio\ttarget\t")
	for _, r := range su.Results {
		mark := "met"
		if !r.Met() {
			mark = "NOT met"
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%d\t%.0f\t%.3f × %s\t≥ %.2f %s\t\n", r.Scenario.Name, r.Rate.PerSecond(),
			r.Rate.P50.Round(time.Microsecond), r.Rate.P99.Round(time.Microsecond), r.Rate.Errors, r.Base, r.Ratio(), r.Scenario.Baseline, r.Scenario.Target, mark)
	}
	tw.Flush()
	for _, r := range su.Results {
		if r.Rate.FirstError != nil {
			fmt.Fprintf(w, "%s: first error: %v\n", r.Scenario.Name, r.Rate.FirstError)
		}
	}
}
