package fhir

import (
	"context"
	"errors"
	"hash/maphash"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/httpx"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// StyleURLPath is where the SMART style JSON is served (EHR-07); the
// authorization server puts BaseURL+StyleURLPath in smart_style_url.
const StyleURLPath = "/smart-style/v1.json"

// Options configure New.
type Options struct {
	Store  *fhirstore.Store
	Grants smart.GrantResolver
	// BaseURL is the public origin, e.g. http://localhost:8080 (no path).
	BaseURL string
	// Endpoints feeds the CapabilityStatement's oauth-uris extension: the
	// endpoint set advertised on a base (a scenario's token endpoint
	// differs), so metadata and smart-configuration agree (CS-05).
	Endpoints func(smart.FHIRBase) smart.Endpoints
	// Scenario validates the {scenario} of /sim/{scenario}/fhir; nil
	// accepts any.
	Scenario func(ctx context.Context, scenario string) error
	// SlowDelay is the latency request_slow adds to every FHIR request
	// (docs/simulated-errors.md); zero means DefaultSlowDelay.
	SlowDelay time.Duration
	Now       func() time.Time
	Logger    *slog.Logger
	// Inspector records each FHIR request for the launch inspector; nil
	// records nothing. ScenarioLaunch names the launch of a scenario id.
	Inspector      *inspect.Recorder
	ScenarioLaunch func(ctx context.Context, scenario string) string
	// Upstream, when set, answers every interaction and metadata from
	// another FHIR server (--fhir-upstream) after the same checks; Store
	// then only parses resources for those checks.
	Upstream Upstream
}

// DefaultSlowDelay is request_slow's added latency unless
// Options.SlowDelay says otherwise.
const DefaultSlowDelay = time.Second

// Server is the FHIR REST handler set.
type Server struct {
	store     *fhirstore.Store
	grants    smart.GrantResolver
	baseURL   string
	endpoints func(smart.FHIRBase) smart.Endpoints
	scenario  func(context.Context, string) error
	slowDelay time.Duration
	now       func() time.Time
	logger    *slog.Logger
	started   time.Time
	plainBase string // baseURL + "/fhir"

	sets      scopeCache
	revByType map[string][]string // target type → "Source:param" usable in _revinclude
	routes    []route

	inspector      *inspect.Recorder
	scenarioLaunch func(context.Context, string) string
	upstream       Upstream
}

// New checks the options and builds a Server.
func New(o Options) (*Server, error) {
	var errs []error
	if o.Store == nil {
		errs = append(errs, errors.New("fhir: Options.Store is required"))
	}
	if o.Grants == nil {
		errs = append(errs, errors.New("fhir: Options.Grants is required"))
	}
	if o.BaseURL == "" || strings.HasSuffix(o.BaseURL, "/") || !(strings.HasPrefix(o.BaseURL, "http://") || strings.HasPrefix(o.BaseURL, "https://")) {
		errs = append(errs, errors.New("fhir: Options.BaseURL must be an http(s) origin without a trailing slash, e.g. http://localhost:8080"))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s := &Server{store: o.Store, grants: o.Grants, baseURL: o.BaseURL, endpoints: o.Endpoints,
		scenario: o.Scenario, slowDelay: o.SlowDelay, now: o.Now, logger: o.Logger,
		inspector: o.Inspector, scenarioLaunch: o.ScenarioLaunch, upstream: o.Upstream}
	if s.slowDelay <= 0 {
		s.slowDelay = DefaultSlowDelay
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.endpoints == nil {
		s.endpoints = func(smart.FHIRBase) smart.Endpoints { return smart.Endpoints{} }
	}
	s.sets.seed, s.sets.m = maphash.MakeSeed(), map[uint64]scopeEntry{}
	s.plainBase = smart.FHIRBase{Origin: s.baseURL}.URL()
	s.started = s.now().UTC()
	s.revByType = revIncludes()
	s.routes = s.buildRoutes()
	return s, nil
}

// route is one REST interaction, its path relative to a FHIR base. A nil
// h is served on the same bases by another package (authz's SMART
// configuration): it is not registered here but counts for 405's Allow.
type route struct {
	method, path string
	h            http.HandlerFunc
}

func (s *Server) buildRoutes() []route {
	return []route{
		{"GET", "/metadata", s.handleMetadata},
		{"GET", "/{type}", s.authed(s.handleSearch)},
		{"POST", "/{type}/_search", s.authed(s.handleSearch)},
		{"POST", "/{type}", s.authed(s.handleCreate)},
		{"GET", "/{type}/{id}", s.authed(s.handleRead)},
		{"PUT", "/{type}/{id}", s.authed(s.handleUpdate)},
		{"PATCH", "/{type}/{id}", s.authed(s.handlePatch)},
		{"DELETE", "/{type}/{id}", s.authed(s.handleDelete)},
		{"GET", "/{type}/{id}/_history", s.authed(s.handleHistory)},
		{"GET", "/{type}/{id}/_history/{vid}", s.authed(s.handleVRead)},
		{"GET", "/{type}/{id}/{op}", s.authed(s.handleOperation)},
		{"GET", "/.well-known/smart-configuration", nil},
	}
}

// corsPolicy is the one CORS policy (mockehr/httpx; RS-17, CS-06) with the
// methods of the FHIR routes.
var corsPolicy = httpx.NewCORS(http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete)

// Mount registers the routes on mux, under /fhir/ and /sim/{scenario}/fhir/,
// every one behind the CORS policy. The method-less base and base/
// patterns catch every request no route serves (any other path or
// method), so that it too is answered with an OperationOutcome (unrouted),
// never with ServeMux's plain-text 404/405 or the site's HTML 404. Any
// OPTIONS is answered as a preflight.
func (s *Server) Mount(mux *http.ServeMux) {
	cors := func(h http.HandlerFunc) http.Handler { return corsPolicy.Handler(h) }
	for _, p := range []string{"/fhir", "/sim/{scenario}/fhir"} {
		for _, rt := range s.routes {
			if rt.h != nil {
				mux.Handle(rt.method+" "+p+rt.path, cors(rt.h))
			}
		}
		mux.HandleFunc("OPTIONS "+p+"/{rest...}", corsPolicy.Preflight)
		mux.Handle(p, cors(s.handleUnrouted))
		mux.Handle(p+"/", cors(s.handleUnrouted))
	}
	mux.Handle("GET "+StyleURLPath, cors(s.handleStyle))
	mux.HandleFunc("OPTIONS "+StyleURLPath, corsPolicy.Preflight)
}

// handleUnrouted answers what no route serves, without asking for a token:
// 404 for an unknown scenario, resource type or path; on the base itself
// 501 for batch/transaction (POST) and whole-system search (GET); 501 for
// conditional update, patch and delete ({type}?criteria); else 405 with
// the path's methods in Allow.
func (s *Server) handleUnrouted(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions { // only the bare base: base/… has its own
		corsPolicy.Preflight(w, r)
		return
	}
	writeError(w, s.unrouted(r))
}

func (s *Server) unrouted(r *http.Request) *apiError {
	base, aerr := s.base(r)
	if aerr != nil {
		return aerr
	}
	segs := restSegments(r)
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if len(segs) == 0 {
		switch method {
		case http.MethodPost:
			return errf(http.StatusNotImplemented, "not-supported", "batch/transaction is not supported by this server: send each interaction on its own (see "+base+"/metadata)")
		case http.MethodGet:
			return errf(http.StatusNotImplemented, "not-supported", "whole-system search is not supported by this server: search one resource type, e.g. "+base+"/Patient?name=… (see "+base+"/metadata)")
		}
		return &apiError{status: http.StatusMethodNotAllowed, code: "not-supported", msg: method + " is not allowed on the FHIR base " + base, allow: "OPTIONS"}
	}
	var allow []string
	typeKnown := false
	for _, rt := range s.routes {
		if ok, typed := rt.match(segs); ok {
			typeKnown = typeKnown || typed
			if !slices.Contains(allow, rt.method) {
				allow = append(allow, rt.method)
			}
		}
	}
	switch {
	case len(allow) == 0 && fhirstore.Type(segs[0]) == nil && !s.literalFirst(segs[0]):
		return notFound("resource type " + segs[0] + " is not supported by this server (see " + base + "/metadata)")
	case len(allow) == 0 || slices.Contains(allow, method): // a path no route has, or a route served elsewhere but not mounted
		return notFound("there is no FHIR interaction at " + r.URL.Path + " (see " + base + "/metadata)")
	case len(segs) == 1 && typeKnown && r.URL.RawQuery != "":
		if verb := map[string]string{http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete"}[method]; verb != "" {
			return errf(http.StatusNotImplemented, "not-supported", "conditional "+verb+" is not supported by this server: "+method+" one resource by id, "+base+"/"+segs[0]+"/{id}")
		}
	}
	if i := slices.Index(allow, http.MethodGet); i >= 0 {
		allow = slices.Insert(allow, i+1, http.MethodHead)
	}
	allow = append(allow, http.MethodOptions)
	list := strings.Join(allow, ", ")
	return &apiError{status: http.StatusMethodNotAllowed, code: "not-supported", msg: method + " is not allowed on " + r.URL.Path + " (allowed: " + list + ")", allow: list}
}

// restSegments returns the request path's segments below its FHIR base,
// unescaped one by one (an escaped "/" stays inside its segment); none for
// the base itself, with or without a trailing slash.
func restSegments(r *http.Request) []string {
	parts := strings.Split(r.URL.EscapedPath(), "/") // "", "fhir", … or "", "sim", scenario, "fhir", …
	n := 2
	if r.PathValue("scenario") != "" {
		n = 4
	}
	if len(parts) <= n || (len(parts) == n+1 && parts[n] == "") {
		return nil
	}
	segs := parts[n:]
	for i, p := range segs {
		if u, err := url.PathUnescape(p); err == nil {
			segs[i] = u
		}
	}
	return segs
}

// match reports whether segs has the route's shape: a literal segment
// equal, {type} a supported resource type (typed), other wildcards any
// non-empty segment.
func (rt route) match(segs []string) (ok, typed bool) {
	want := strings.Split(rt.path[1:], "/")
	if len(want) != len(segs) {
		return false, false
	}
	for i, w := range want {
		switch {
		case w == "{type}":
			if fhirstore.Type(segs[i]) == nil {
				return false, false
			}
			typed = true
		case strings.HasPrefix(w, "{"):
			if segs[i] == "" {
				return false, false
			}
		case w != segs[i]:
			return false, false
		}
	}
	return true, typed
}

// literalFirst reports whether some route's path starts with the literal
// segment seg (metadata, .well-known): such a path is not a resource type.
func (s *Server) literalFirst(seg string) bool {
	for _, rt := range s.routes {
		if first, _, _ := strings.Cut(rt.path[1:], "/"); first == seg {
			return true
		}
	}
	return false
}

// base returns the FHIR base of the request (the value a token's aud must
// equal), or an error for an unknown scenario.
func (s *Server) base(r *http.Request) (string, *apiError) {
	b, aerr := s.fhirBase(r)
	if aerr != nil {
		return "", aerr
	}
	return s.baseString(b), nil
}

// fhirBase is the request's FHIR base, or an error for an unknown scenario.
func (s *Server) fhirBase(r *http.Request) (smart.FHIRBase, *apiError) {
	b := smart.FHIRBase{Origin: s.baseURL, Scenario: r.PathValue("scenario")}
	if b.Scenario != "" && s.scenario != nil {
		if err := s.scenario(r.Context(), b.Scenario); err != nil {
			return b, notFound("unknown or expired scenario in this FHIR base: " + err.Error())
		}
	}
	return b, nil
}

// baseString is b.URL(), without building the plain base's again.
func (s *Server) baseString(b smart.FHIRBase) string {
	if b.Scenario == "" {
		return s.plainBase
	}
	return b.URL()
}

// isBase reports whether u, less one trailing slash, is b's URL (as
// smart.TrimSlash(u) == b.URL(), without building the URL).
func isBase(b smart.FHIRBase, u string) bool {
	u = smart.TrimSlash(u)
	rest, ok := strings.CutPrefix(u, b.Origin)
	if !ok {
		return false
	}
	if b.Scenario != "" {
		if rest, ok = strings.CutPrefix(rest, "/sim/"); !ok {
			return false
		}
		if rest, ok = strings.CutPrefix(rest, b.Scenario); !ok {
			return false
		}
	}
	return rest == "/fhir"
}

// req is one authorised request.
type req struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	base  string
	grant *smart.Grant
	set   *scopes.Set
	// For the launch inspector: the grant of an expired token (grant is
	// nil then), the search's total, and the status answered.
	expired *smart.Grant
	count   int
	status  int
	sw      statusWriter // w's wrapper, allocated with the request
}

func (s *Server) authed(h func(*req) *apiError) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		rq := &req{s: s, r: r, count: -1}
		rq.sw = statusWriter{ResponseWriter: w, status: &rq.status}
		rq.w = &rq.sw // one allocation for both
		err := s.authenticate(rq)
		if err == nil {
			err = negotiate(r)
		}
		if err == nil {
			if s.upstream != nil {
				err = s.serveUpstream(rq)
			} else {
				err = h(rq)
			}
		}
		if err != nil {
			if err.status >= 500 {
				s.logger.ErrorContext(r.Context(), "fhir: request failed", "method", r.Method, "path", r.URL.Path, "err", err.msg)
			}
			writeError(rq.w, err)
		}
		s.record(rq, err)
	}
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status *int
}

func (w *statusWriter) WriteHeader(code int) {
	if *w.status == 0 {
		*w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if *w.status == 0 {
		*w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// negotiate accepts JSON only (FHIR R4 http §content-types); XML → 406.
func negotiate(r *http.Request) *apiError {
	if f := queryGet(r, "_format"); f != "" {
		switch f {
		case "json", "application/json", "application/fhir+json", "application/json+fhir":
		default:
			return errf(http.StatusNotAcceptable, "not-supported", "_format="+f+" is not supported: this server speaks JSON only (application/fhir+json)")
		}
		return nil
	}
	a := strings.ToLower(r.Header.Get("Accept"))
	if a != "" && !strings.Contains(a, "json") && !strings.Contains(a, "*/*") && !strings.Contains(a, "application/*") {
		return errf(http.StatusNotAcceptable, "not-supported", "Accept: "+a+" is not supported: this server speaks JSON only (application/fhir+json)")
	}
	return nil
}

// queryGet is r.URL.Query().Get(key), without parsing (and allocating) an
// empty query string, as most FHIR reads have.
func queryGet(r *http.Request, key string) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get(key)
}
