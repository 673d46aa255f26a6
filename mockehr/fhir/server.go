package fhir

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
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
	// Endpoints feeds the CapabilityStatement's oauth-uris extension.
	Endpoints func() smart.Endpoints
	// Scenario validates the {scenario} of /sim/{scenario}/fhir; nil
	// accepts any.
	Scenario func(ctx context.Context, scenario string) error
	Now      func() time.Time
	Logger   *slog.Logger
}

// Server is the FHIR REST handler set.
type Server struct {
	store     *fhirstore.Store
	grants    smart.GrantResolver
	baseURL   string
	endpoints func() smart.Endpoints
	scenario  func(context.Context, string) error
	now       func() time.Time
	logger    *slog.Logger
	started   time.Time

	setCache  sync.Map // scope string → *scopes.Set
	setCount  atomic.Int64
	revByType map[string][]string // target type → "Source:param" usable in _revinclude
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
		scenario: o.Scenario, now: o.Now, logger: o.Logger}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	if s.endpoints == nil {
		s.endpoints = func() smart.Endpoints { return smart.Endpoints{} }
	}
	s.started = s.now().UTC()
	s.revByType = revIncludes()
	return s, nil
}

// Mount registers the routes on mux, under /fhir/ and /sim/{scenario}/fhir/.
func (s *Server) Mount(mux *http.ServeMux) {
	for _, p := range []string{"/fhir", "/sim/{scenario}/fhir"} {
		mux.HandleFunc("GET "+p+"/metadata", s.handleMetadata)
		mux.HandleFunc("GET "+p+"/{type}", s.authed(s.handleSearch))
		mux.HandleFunc("POST "+p+"/{type}/_search", s.authed(s.handleSearch))
		mux.HandleFunc("POST "+p+"/{type}", s.authed(s.handleCreate))
		mux.HandleFunc("GET "+p+"/{type}/{id}", s.authed(s.handleRead))
		mux.HandleFunc("PUT "+p+"/{type}/{id}", s.authed(s.handleUpdate))
		mux.HandleFunc("PATCH "+p+"/{type}/{id}", s.authed(s.handlePatch))
		mux.HandleFunc("DELETE "+p+"/{type}/{id}", s.authed(s.handleDelete))
		mux.HandleFunc("GET "+p+"/{type}/{id}/_history", s.authed(s.handleHistory))
		mux.HandleFunc("GET "+p+"/{type}/{id}/_history/{vid}", s.authed(s.handleVRead))
		mux.HandleFunc("GET "+p+"/{type}/{id}/{op}", s.authed(s.handleOperation))
		mux.HandleFunc("OPTIONS "+p+"/{rest...}", s.handlePreflight)
	}
	mux.HandleFunc("GET "+StyleURLPath, s.handleStyle)
	mux.HandleFunc("OPTIONS "+StyleURLPath, s.handlePreflight)
}

// base returns the FHIR base of the request (the value a token's aud must
// equal), or an error for an unknown scenario.
func (s *Server) base(r *http.Request) (string, *apiError) {
	sc := r.PathValue("scenario")
	if sc == "" {
		return s.baseURL + "/fhir", nil
	}
	if s.scenario != nil {
		if err := s.scenario(r.Context(), sc); err != nil {
			return "", notFound("unknown or expired scenario in this FHIR base: " + err.Error())
		}
	}
	return s.baseURL + "/sim/" + sc + "/fhir", nil
}

// req is one authorised request.
type req struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	base  string
	grant *smart.Grant
	set   *scopes.Set
}

func (s *Server) authed(h func(*req) *apiError) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		setCORS(w, r)
		rq := &req{s: s, w: w, r: r}
		err := s.authenticate(rq)
		if err == nil {
			err = negotiate(r)
		}
		if err == nil {
			err = h(rq)
		}
		if err != nil {
			if err.status >= 500 {
				s.logger.Error("fhir: request failed", "method", r.Method, "path", r.URL.Path, "err", err.msg)
			}
			writeError(w, err)
		}
	}
}

// negotiate accepts JSON only (FHIR R4 http §content-types); XML → 406.
func negotiate(r *http.Request) *apiError {
	if f := r.URL.Query().Get("_format"); f != "" {
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

func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	setCORS(w, r)
	h := w.Header()
	h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, Accept, Prefer, If-Match, If-None-Match, If-None-Exist")
	h.Set("Access-Control-Max-Age", "600")
	w.WriteHeader(http.StatusNoContent)
}

// setCORS answers browser apps from any origin (RS-17, CS-06): tokens,
// not cookies, carry authority, so echoing the origin is safe.
func setCORS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	if o := r.Header.Get("Origin"); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h.Add("Vary", "Origin")
	} else {
		h.Set("Access-Control-Allow-Origin", "*")
	}
	h.Set("Access-Control-Expose-Headers", "Location, ETag, Content-Location, WWW-Authenticate, Last-Modified, Retry-After")
}
