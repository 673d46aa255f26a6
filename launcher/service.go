package launcher

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// Errors of Open, OpenScenario and Consume. The authorization server turns
// each into its own error_description (checklist EHR-09).
var (
	ErrUnknownLaunch = errors.New("launch is unknown or malformed")
	ErrExpiredLaunch = errors.New("launch has expired")
	ErrLaunchUsed    = errors.New("launch was single use and has already been used")
)

// SealSecretName is the store secret holding the sealing key. Instances
// that share it (one data dir, or later one database) open each other's
// launches.
const SealSecretName = "launch-seal-v1"

// ClientLookup tells registered clients from ad-hoc (sandbox) ones, and
// keeps the clients launches define: a launch whose client section names an
// unregistered client_id defines that client (type, redirect URIs, scopes,
// secret or keys) for as long as the launch lives, so the authorization
// server knows it at every endpoint, not only where a grant names it.
// *clients.Registry implements it.
type ClientLookup interface {
	ClientExists(ctx context.Context, id string) (bool, error)
	DefineLaunchClient(ctx context.Context, c clients.Client, secret string, until time.Time) error
}

// Options configure a Service.
type Options struct {
	BaseURL   string          // public origin, e.g. http://localhost:8080
	DB        *store.DB       // sealing key, minted-launch records, consumed launch_once ids
	Directory smart.Directory // validates ids, resolves encounter AUTO
	Clients   ClientLookup    // nil: every client id is ad-hoc (sandbox only)
	Now       func() time.Time
	Rand      io.Reader    // launch ids; nil = crypto/rand
	Logger    *slog.Logger // the API's internal errors; nil = discarded
	// Inspector records each minted launch (the launch inspector's first
	// event); nil records nothing.
	Inspector *inspect.Recorder

	DefaultLaunchLifetime time.Duration // 0 = 24h
}

// Result is the 201 body of POST /api/launches.
type Result struct {
	ID          string `json:"id"`
	Launch      string `json:"launch"` // launch code; "" for standalone and backend launches
	ISS         string `json:"iss"`
	LaunchURL   string `json:"launch_url"`
	FHIRBaseURL string `json:"fhir_base_url"`
	SimEHRURL   string `json:"sim_ehr_url"`
}

// Service mints, seals and opens launches. It is safe for concurrent use.
type Service struct {
	base     string
	db       *store.DB
	dir      smart.Directory
	clients  ClientLookup
	now      func() time.Time
	rand     io.Reader
	lifetime time.Duration
	seal     *sealer
	log      *slog.Logger
	insp     *inspect.Recorder

	pruneMu   sync.Mutex
	lastPrune time.Time
	opened    openCache

	// defaultPr caches the default practitioner of provider launches
	// (defaultPractitioner).
	defaultPr struct {
		sync.Mutex
		id string
		at time.Time
	}
}

// New loads (creating on first use) the sealing key and the launcher's tables.
func New(ctx context.Context, o Options) (*Service, error) {
	base := smart.TrimSlash(o.BaseURL)
	if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return nil, fmt.Errorf("launcher: BaseURL %q must be an absolute http(s) origin", o.BaseURL)
	}
	if o.DB == nil || o.Directory == nil {
		return nil, errors.New("launcher: DB and Directory are required")
	}
	key, err := o.DB.Secret(ctx, SealSecretName, nil)
	if err != nil {
		return nil, err
	}
	sl, err := newSealer(key)
	if err != nil {
		return nil, err
	}
	if err := o.DB.Migrate(ctx, "launcher", migrations); err != nil {
		return nil, err
	}
	s := &Service{base: base, db: o.DB, dir: o.Directory, clients: o.Clients, now: o.Now, rand: o.Rand, lifetime: o.DefaultLaunchLifetime, seal: sl, log: o.Logger, insp: o.Inspector}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.lifetime <= 0 {
		s.lifetime = 24 * time.Hour
	}
	return s, nil
}

// BaseURL returns the public origin without a trailing slash.
func (s *Service) BaseURL() string { return s.base }

// Mint validates req, applies defaults and seals the launch. A client
// mistake is a *FieldError; any other error is internal.
func (s *Service) Mint(ctx context.Context, req Request) (*Result, *Launch, error) {
	l, err := s.build(ctx, req)
	if err != nil {
		return nil, nil, err
	}
	adhoc := l.adhoc
	l.adhoc = false // a minted launch equals the one its code opens to
	var idb [16]byte
	if _, err := io.ReadFull(s.rand, idb[:]); err != nil {
		return nil, nil, fmt.Errorf("launcher: launch id: %w", err)
	}
	l.ID = base64.RawURLEncoding.EncodeToString(idb[:])
	now := s.now().UTC().Truncate(time.Second)
	l.CreatedAt, l.ExpiresAt = now, now.Add(s.lifetime)

	var sealed string
	if l.Type.IsEHR() {
		if l.code, err = s.seal.seal(l, purposeLaunch); err != nil {
			return nil, nil, err
		}
		sealed = l.code
	} else {
		if l.scenario, err = s.seal.seal(l, purposeScenario); err != nil {
			return nil, nil, err
		}
		sealed = l.scenario
	}
	if err := s.record(ctx, l, sealed); err != nil {
		return nil, nil, err
	}
	if adhoc && s.clients != nil {
		if err := s.clients.DefineLaunchClient(ctx, l.Client.Definition(l.Type), l.Client.ClientSecret, l.ExpiresAt); err != nil {
			return nil, nil, fmt.Errorf("launcher: define client %s: %w", l.Client.ClientID, err)
		}
	}
	res := s.result(l)
	s.recordMint(l, res, adhoc)
	return res, l, nil
}

// Open returns the launch a launch code stands for (an EHR launch's
// "launch" parameter). It does not consume it: see Consume.
func (s *Service) Open(ctx context.Context, launchCode string) (*Launch, error) {
	return s.open(launchCode, purposeLaunch)
}

// OpenScenario returns the launch a /sim/{scenario} path segment stands for.
func (s *Service) OpenScenario(ctx context.Context, scenario string) (*Launch, error) {
	return s.open(scenario, purposeScenario)
}

func (s *Service) open(v, purpose string) (*Launch, error) {
	// Only scenarios are cached: their FHIR base is opened on every FHIR
	// request, while a launch code is opened about once (at authorize), so
	// caching codes filled the cache with launches never opened again.
	cached := purpose == purposeScenario
	var l *Launch
	ok := false
	if cached {
		l, ok = s.opened.get(v)
	}
	if !ok {
		// v is usually a slice of a request line; a cached launch must not
		// keep that whole line alive.
		v = strings.Clone(v)
		var err error
		if l, err = s.seal.open(v, purpose); err != nil {
			return nil, ErrUnknownLaunch
		}
		if purpose == purposeLaunch {
			l.code = v
		} else {
			l.scenario = v
		}
		if cached {
			s.opened.put(v, l)
		}
	}
	cp := *l // a shallow copy: callers may set fields, never change its slices
	if cp.Expired(s.now()) {
		return &cp, ErrExpiredLaunch
	}
	return &cp, nil
}

// openCache remembers scenarios already opened, by their sealed string: a
// scenario's FHIR base is opened on every FHIR request, and opening
// (AES-GCM, inflate, JSON) costs far more than the request's token lookup.
// A sealed string always opens to the same launch, so entries never go
// stale; the cache is bounded by dropping everything when full (about
// 1.5 KB an entry).
type openCache struct {
	mu sync.Mutex
	m  map[string]*Launch
}

const openCacheMax = 2048

func (c *openCache) get(k string) (*Launch, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.m[k]
	return l, ok
}

func (c *openCache) put(k string, l *Launch) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= openCacheMax {
		c.m = make(map[string]*Launch)
	}
	c.m[k] = l
}

// Framed returns the variant of EHR launch l that the simulated EHR plays
// inside its own screen, where the banner is the EHR's: the same launch
// (same id, expiry and single use; GET /api/launches/{id} still answers for
// it) with need_patient_banner false, as its launch code and the app URL
// for the frame (the app's own query parameters kept; EHR-01). The original
// code keeps working as it was.
func (s *Service) Framed(l *Launch) (code, launchURL string, err error) {
	if !l.Type.IsEHR() {
		return "", "", fmt.Errorf("launcher: a %s launch is not played in the EHR", l.Type)
	}
	f := *l
	no := false
	f.NeedPatientBanner = &no
	f.code, f.scenario = "", ""
	if f.code, err = s.seal.seal(&f, purposeLaunch); err != nil {
		return "", "", err
	}
	return f.code, s.result(&f).LaunchURL, nil
}

// FHIRBase returns the absolute FHIR base URL an app was given for l: the
// plain BaseURL+"/fhir" for EHR launches, BaseURL+"/sim/{scenario}/fhir" for
// standalone and backend launches. The authorization server compares "aud"
// with it (after smart.TrimSlash on both).
func (s *Service) FHIRBase(l *Launch) string {
	if l.Type.IsEHR() {
		return smart.FHIRBase{Origin: s.base}.URL()
	}
	sc, err := s.Scenario(l)
	if err != nil {
		return ""
	}
	return smart.FHIRBase{Origin: s.base, Scenario: sc}.URL()
}

// Scenario returns l sealed as a scenario id. Sealing is deterministic, so
// this is the string the launch was minted or opened with.
func (s *Service) Scenario(l *Launch) (string, error) {
	if l.scenario != "" {
		return l.scenario, nil
	}
	return s.seal.seal(l, purposeScenario)
}

// result builds the API answer for a minted or re-opened launch.
func (s *Service) result(l *Launch) *Result {
	r := &Result{ID: l.ID, FHIRBaseURL: s.FHIRBase(l)}
	r.ISS = r.FHIRBaseURL
	if l.Type.IsEHR() {
		r.Launch = l.code
		r.LaunchURL = addQuery(l.AppLaunchURL, "iss", r.ISS, "launch", l.code)
		r.SimEHRURL = s.base + "/ehr?launch=" + url.QueryEscape(l.code)
	} else if l.AppLaunchURL != "" {
		// Standalone: the app is started at its launch page with only iss
		// (the sim base), as SMART launchers do for standalone launch.
		r.LaunchURL = addQuery(l.AppLaunchURL, "iss", r.ISS)
	}
	return r
}

// addQuery sets params on rawURL's query, keeping every other existing
// parameter in place and its encoding untouched (EHR-01).
func addQuery(rawURL string, kv ...string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	set := map[string]bool{}
	for i := 0; i < len(kv); i += 2 {
		set[kv[i]] = true
	}
	var parts []string
	for _, p := range strings.Split(u.RawQuery, "&") {
		if p == "" {
			continue
		}
		k, _, _ := strings.Cut(p, "=")
		if dk, err := url.QueryUnescape(k); err == nil && set[dk] {
			continue
		}
		parts = append(parts, p)
	}
	for i := 0; i < len(kv); i += 2 {
		parts = append(parts, url.QueryEscape(kv[i])+"="+url.QueryEscape(kv[i+1]))
	}
	u.RawQuery = strings.Join(parts, "&")
	u.ForceQuery = false
	return u.String()
}

// recordMint is the launch inspector's first event of a launch.
func (s *Service) recordMint(l *Launch, res *Result, adhoc bool) {
	if s.insp == nil {
		return
	}
	req := map[string]string{"launch_type": string(l.Type)}
	if len(l.Patients) > 0 {
		req["patient"] = strings.Join(l.Patients, ",")
	}
	for k, v := range map[string]string{"encounter": l.Encounter, "practitioner": l.Practitioner, "client_id": l.Client.ClientID,
		"simulate_error": string(l.SimulateError), "app_launch_url": l.AppLaunchURL, "intent": l.Intent, "tenant": l.Tenant} {
		if v != "" {
			req[k] = v
		}
	}
	if adhoc {
		req["client"] = "launch-defined " + l.Client.ClientType
	}
	sum := fmt.Sprintf("%s launch minted", l.Type)
	if l.Client.ClientID != "" {
		sum += " for client " + l.Client.ClientID
	}
	if p := l.Patient(); p != "" {
		sum += ", patient " + p
	}
	s.insp.Record(inspect.Event{LaunchID: l.ID, ClientID: l.Client.ClientID, Kind: inspect.KindLaunchMinted, Status: 201,
		Summary: sum, Request: req, Response: map[string]string{"iss": res.ISS, "fhir_base_url": res.FHIRBaseURL, "launch_url": res.LaunchURL}})
}
