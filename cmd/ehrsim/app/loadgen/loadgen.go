package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehrsim/ehrsim/fixtures"
)

// MixedScope is the default scope of the mixed workload: reads, writes and
// a refresh token.
const MixedScope = "launch openid fhirUser offline_access patient/*.cruds"

// Options configure a load run.
type Options struct {
	BaseURL     string        // ehrsim's public base URL
	Concurrency int           // concurrent clients; default 16
	Duration    time.Duration // how long to run; default 10 s
	Launches    int           // stop after this many launches (0 = until Duration)
	Scope       string        // requested scope; default "launch openid fhirUser patient/*.rs"
	Patient     string        // patient in context; default the demo patient (fixtures.DefaultPatientID)
	// Mixed runs the soak workload instead of bare launches: each iteration
	// is a launch, then FHIR reads (read and search), a FHIR write (update of
	// one Observation per client), an introspection and a refresh, and a read
	// with the refreshed token. Launches counts iterations.
	Mixed bool
}

// Result summarises a run.
type Result struct {
	Launches int64
	Errors   int64
	Elapsed  time.Duration
	P50, P99 time.Duration
	// FirstError is the first failure seen, for diagnosis.
	FirstError error
	Mixed      bool // Launches counts mixed-workload iterations
}

// PerSecond is the rate of successful full launches.
func (r Result) PerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Launches) / r.Elapsed.Seconds()
}

func (r Result) String() string {
	what := "full EHR launches"
	if r.Mixed {
		what = "mixed iterations (launch, FHIR read, search and write, introspection, refresh, read)"
	}
	s := fmt.Sprintf("%d %s in %s: %.0f/s, p50 %s, p99 %s, %d errors",
		r.Launches, what, r.Elapsed.Round(time.Millisecond), r.PerSecond(), r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors)
	if r.FirstError != nil {
		s += fmt.Sprintf(" (first: %v)", r.FirstError)
	}
	return s
}

// Client performs full launches against one server; safe for concurrent use.
type Client struct {
	base    string
	scope   string
	patient string
	mint    string // the POST /api/launches body
	http    *http.Client
}

// NewClient returns a client with a connection pool sized for concurrency.
func NewClient(baseURL string, concurrency int, scope, patient string) *Client {
	if scope == "" {
		scope = "launch openid fhirUser patient/*.rs"
	}
	if patient == "" {
		patient = fixtures.DefaultPatientID
	}
	mint, _ := json.Marshal(map[string]any{"launch_type": "provider-ehr", "patient": patient, "skip_login": true, "skip_consent": true})
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        concurrency * 2,
		MaxIdleConnsPerHost: concurrency * 2,
		IdleConnTimeout:     30 * time.Second,
	}
	return &Client{
		base:    strings.TrimSuffix(baseURL, "/"),
		scope:   scope,
		patient: patient,
		mint:    string(mint),
		http: &http.Client{
			Transport: tr,
			Timeout:   30 * time.Second,
			// The authorize answer is a redirect to the app; we read its Location.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Launch runs one full EHR launch: mint → authorize → token → FHIR read.
func (c *Client) Launch(ctx context.Context) error {
	_, err := c.launch(ctx)
	return err
}

// session is what a launch leaves: the FHIR base and the tokens.
type session struct {
	iss, patient, access, refresh string
}

func (c *Client) launch(ctx context.Context) (session, error) {
	return c.launchWith(ctx, c.mint, c.scope)
}

// launchWith mints the launch mintBody describes and completes it with
// scope: an EHR launch when the answer has a launch code, else a standalone
// launch on the FHIR base the answer names.
func (c *Client) launchWith(ctx context.Context, mintBody, scope string) (session, error) {
	var minted struct {
		Launch string `json:"launch"`
		ISS    string `json:"iss"`
	}
	status, body, err := c.do(ctx, http.MethodPost, c.base+"/api/launches", "application/json",
		strings.NewReader(mintBody), "")
	if err != nil {
		return session{}, fmt.Errorf("mint: %w", err)
	}
	if status != http.StatusCreated || json.Unmarshal(body, &minted) != nil || minted.ISS == "" {
		return session{}, fmt.Errorf("mint: %d %s", status, trim(body))
	}

	verifier := randomString(32)
	sum := sha256.Sum256([]byte(verifier))
	redirect := c.base + "/sample-app/index.html"
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {"sample-app"},
		"redirect_uri":          {redirect},
		"scope":                 {scope},
		"state":                 {randomString(8)},
		"aud":                   {minted.ISS},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
	}
	if minted.Launch != "" {
		q.Set("launch", minted.Launch)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/auth/authorize?"+q.Encode(), nil)
	resp, err := c.http.Do(req)
	if err != nil {
		return session{}, fmt.Errorf("authorize: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil || loc.Query().Get("code") == "" {
		return session{}, fmt.Errorf("authorize: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	form := url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {loc.Query().Get("code")},
		"redirect_uri":  {redirect},
		"client_id":     {"sample-app"},
		"code_verifier": {verifier},
	}
	status, body, err = c.do(ctx, http.MethodPost, c.base+"/auth/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "")
	if err != nil {
		return session{}, fmt.Errorf("token: %w", err)
	}
	var tok struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		Patient      string `json:"patient"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" || tok.Patient == "" {
		return session{}, fmt.Errorf("token: %d %s", status, trim(body))
	}

	status, body, err = c.do(ctx, http.MethodGet, minted.ISS+"/Patient/"+url.PathEscape(tok.Patient), "", nil, tok.AccessToken)
	if err != nil {
		return session{}, fmt.Errorf("FHIR read: %w", err)
	}
	if status != http.StatusOK || !bytes.Contains(body, []byte(`"resourceType":"Patient"`)) {
		return session{}, fmt.Errorf("FHIR read: %d %s", status, trim(body))
	}
	return session{iss: minted.ISS, patient: tok.Patient, access: tok.AccessToken, refresh: tok.RefreshToken}, nil
}

// Mixed runs one soak iteration (Options.Mixed); worker names the
// Observation this client updates.
func (c *Client) Mixed(ctx context.Context, worker int) error {
	ss, err := c.launch(ctx)
	if err != nil {
		return err
	}
	status, body, err := c.do(ctx, http.MethodGet, ss.iss+"/Observation?patient="+url.QueryEscape(ss.patient)+"&category=vital-signs&_count=10", "", nil, ss.access)
	if err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(`"resourceType":"Bundle"`)) {
		return fmt.Errorf("FHIR search: %d %v %s", status, err, trim(body))
	}
	obs := fmt.Sprintf(`{"resourceType":"Observation","id":"soak-%d","status":"final","code":{"text":"soak"},"subject":{"reference":"Patient/%s"},"valueQuantity":{"value":%d,"unit":"1"}}`,
		worker, ss.patient, time.Now().UnixNano()%1000)
	status, body, err = c.do(ctx, http.MethodPut, fmt.Sprintf("%s/Observation/soak-%d", ss.iss, worker), "application/fhir+json", strings.NewReader(obs), ss.access)
	if err != nil || status != http.StatusOK && status != http.StatusCreated {
		return fmt.Errorf("FHIR write: %d %v %s", status, err, trim(body))
	}
	status, body, err = c.do(ctx, http.MethodPost, c.base+"/auth/oauth/introspect", "application/x-www-form-urlencoded",
		strings.NewReader(url.Values{"token": {ss.access}}.Encode()), ss.access)
	if err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(`"active":true`)) {
		return fmt.Errorf("introspect: %d %v %s", status, err, trim(body))
	}
	if ss.refresh == "" {
		return fmt.Errorf("refresh: the token response had no refresh_token (scope %q needs offline_access or online_access)", c.scope)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {ss.refresh}, "client_id": {"sample-app"}}
	status, body, err = c.do(ctx, http.MethodPost, c.base+"/auth/oauth/token", "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), "")
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err != nil || status != http.StatusOK || json.Unmarshal(body, &tok) != nil || tok.AccessToken == "" {
		return fmt.Errorf("refresh: %d %v %s", status, err, trim(body))
	}
	status, body, err = c.do(ctx, http.MethodGet, ss.iss+"/Patient/"+url.PathEscape(ss.patient), "", nil, tok.AccessToken)
	if err != nil || status != http.StatusOK {
		return fmt.Errorf("FHIR read after refresh: %d %v %s", status, err, trim(body))
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, u, ctype string, body io.Reader, bearer string) (int, []byte, error) {
	var b bytes.Buffer
	status, err := c.doInto(ctx, method, u, ctype, body, bearer, &b)
	return status, b.Bytes(), err
}

// doInto does one request and appends its answer's body (at most 1 MiB) to dst.
func (c *Client) doInto(ctx context.Context, method, u, ctype string, body io.Reader, bearer string, dst *bytes.Buffer) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = dst.ReadFrom(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, err
}

// Run drives concurrent full launches until the duration or count is reached.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.BaseURL == "" {
		return Result{}, errors.New("loadgen: no base URL")
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Duration <= 0 {
		o.Duration = 10 * time.Second
	}
	if o.Mixed && o.Scope == "" {
		o.Scope = MixedScope
	}
	c := NewClient(o.BaseURL, o.Concurrency, o.Scope, o.Patient)
	iteration := c.Launch
	if o.Mixed {
		iteration = func(ctx context.Context) error { return c.Mixed(ctx, 0) }
	}
	if err := iteration(ctx); err != nil { // fail fast on a misconfigured target
		return Result{}, fmt.Errorf("loadgen: first launch failed: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var (
		done, failed atomic.Int64
		firstErr     error
		mu           sync.Mutex
		lat          []time.Duration
		wg           sync.WaitGroup
	)
	start := time.Now()
	for i := 0; i < o.Concurrency; i++ {
		wg.Add(1)
		iteration := c.Launch
		if o.Mixed {
			iteration = func(ctx context.Context) error { return c.Mixed(ctx, i) }
		}
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for ctx.Err() == nil {
				if o.Launches > 0 && done.Load()+failed.Load() >= int64(o.Launches) {
					break
				}
				t0 := time.Now()
				err := iteration(ctx)
				if ctx.Err() != nil {
					break
				}
				if err != nil {
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
	r := Result{Launches: done.Load(), Errors: failed.Load(), Elapsed: time.Since(start), FirstError: firstErr, Mixed: o.Mixed}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if n := len(lat); n > 0 {
		r.P50, r.P99 = lat[n/2], lat[n*99/100]
	}
	return r, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func trim(b []byte) string {
	if len(b) > 300 {
		b = b[:300]
	}
	return string(b)
}
