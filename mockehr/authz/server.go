package authz

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/sessions"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/mockehr/inspect"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// Options configure the authorization server. Zero durations take defaults.
type Options struct {
	BaseURL    string // public origin (and optional path) of ehrsim, e.g. http://localhost:8080
	DB         *store.DB
	Clients    ClientRegistry    // registered clients; nil = none registered
	Assertions AssertionVerifier // private_key_jwt verifier; nil = assertions refused
	Launches   LaunchService     // nil = no launches or scenarios
	Directory  smart.Directory   // people and encounters for pages and fhirUser
	Pages      ErrorPages        // HTML error pages (ui/authui); nil = plain pages
	Inspector  *inspect.Recorder // the launch inspector; nil = nothing recorded
	Discovery  DiscoveryConfig   // overrides for discovery documents
	// Strict refuses unregistered client ids (--strict-clients); the default
	// sandbox mode treats them as ad-hoc public clients. Strict mode also
	// requires authentication at the introspection endpoint.
	Strict bool

	CodeLifetime         time.Duration // default 60 s (SMART: about a minute)
	AccessTokenLifetime  time.Duration // default 1 h (SMART: at most an hour)
	RefreshTokenLifetime time.Duration // default 30 days
	SessionLifetime      time.Duration // login cookie; default 8 h
	Now                  func() time.Time
	Logger               *slog.Logger
}

// Server is the SMART authorization server.
type Server struct {
	opts Options
	base string // BaseURL without trailing slash

	plainDiscoveryOnce sync.Once
	plainDiscovery     []byte // /fhir's smart-configuration, encoded (plainSmartConfig)

	issuer    string
	endpoints smart.Endpoints
	provider  *op.Provider
	smart     *smartServer
	opHandler http.Handler
	storage   *storage
	tokens    *tokenStore
	keys      *keyRing
	sessions  *sessions.CookieStore
	log       *slog.Logger
}

// New builds the server: migrates its tables, loads or creates the signing
// key, loads unexpired tokens and starts a sweeper that stops with ctx.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.BaseURL == "" || o.DB == nil {
		return nil, errors.New("authz: BaseURL and DB are required")
	}
	if o.CodeLifetime <= 0 {
		o.CodeLifetime = 60 * time.Second
	}
	if o.AccessTokenLifetime <= 0 {
		o.AccessTokenLifetime = time.Hour
	}
	if o.RefreshTokenLifetime <= 0 {
		o.RefreshTokenLifetime = 30 * 24 * time.Hour
	}
	if o.SessionLifetime <= 0 {
		o.SessionLifetime = 8 * time.Hour
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: o, base: strings.TrimRight(o.BaseURL, "/"), log: o.Logger}
	s.issuer = smart.Issuer(s.base)
	if err := migrate(ctx, o.DB); err != nil {
		return nil, err
	}
	var err error
	if s.keys, err = newKeyRing(ctx, o.DB, o.Now); err != nil {
		return nil, err
	}
	s.tokens = newTokenStore(o.DB, o.Now)
	s.storage = newStorage(s)
	if s.sessions, err = newSessionStore(ctx, o.DB, s.base, o.SessionLifetime); err != nil {
		return nil, err
	}

	cfg := &op.Config{
		CodeMethodS256:          true,
		AuthMethodPost:          true,
		AuthMethodPrivateKeyJWT: true,
		GrantTypeRefreshToken:   true,
	}
	opts := []op.Option{op.WithCrypto(codeCrypto{})}
	if strings.HasPrefix(s.issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure())
	}
	s.provider, err = op.NewProvider(cfg, s.storage, op.StaticIssuer(s.issuer), opts...)
	if err != nil {
		return nil, fmt.Errorf("authz: provider: %w", err)
	}
	// Only these routes go to zitadel; introspection and end_session are
	// our own handlers (zitadel's introspection refuses bearer-token and
	// unauthenticated callers), device authorization is off.
	// The token and revocation endpoints are ours too (tokenendpoint.go).
	ep := op.Endpoints{
		Authorization: op.NewEndpoint("authorize"),
		Userinfo:      op.NewEndpoint("userinfo"),
		JwksURI:       op.NewEndpoint("keys"),
	}
	s.smart = &smartServer{LegacyServer: op.NewLegacyServer(s.provider, ep), srv: s}
	// CORS is ours (httpx.go cors) on every route, so zitadel's is off:
	// rs/cors refuses preflights whose header list is not sorted.
	s.opHandler = op.RegisterLegacyServer(s.smart, op.AuthorizeCallbackHandler(s.provider), op.WithServerCORSOptions(nil))
	s.endpoints = smart.FHIRBase{Origin: s.base}.Endpoints()
	go s.sweeper(ctx)
	return s, nil
}

func (s *Server) now() time.Time { return s.opts.Now() }

func (s *Server) sweeper(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.storage.sweep(context.WithoutCancel(ctx)); err != nil {
				s.log.WarnContext(ctx, "authorization request sweep failed; it is retried in a minute", "err", err)
			}
			if err := s.tokens.sweep(context.WithoutCancel(ctx)); err != nil {
				s.log.WarnContext(ctx, "token sweep failed; it is retried in a minute", "err", err)
			}
		}
	}
}

// Endpoints returns the public URLs: one source for OIDC discovery, SMART
// discovery and the CapabilityStatement (CS-05). Registration is served by
// mockehr/clients; Management by this package (/auth/manage).
func (s *Server) Endpoints() smart.Endpoints { return s.endpoints }

// Issuer is the OIDC issuer (BaseURL + "/auth").
func (s *Server) Issuer() string { return s.issuer }

// Mount registers every route of the authorization server on mux.
func (s *Server) Mount(mux *http.ServeMux) {
	zitadel := http.StripPrefix("/auth", s.opHandler)
	mux.Handle("/auth/", cors(zitadel))
	mux.Handle("GET /auth/.well-known/openid-configuration", cors(s.recordingDiscovery("openid-configuration", zitadel)))
	mux.Handle("GET /auth/keys", cors(s.recordingDiscovery("JWKS", zitadel)))
	mux.Handle("/auth/oauth/token", cors(http.HandlerFunc(s.handleToken)))
	mux.Handle("/sim/{scenario}/auth/token", cors(http.HandlerFunc(s.handleToken)))
	mux.Handle("/auth/revoke", cors(http.HandlerFunc(s.handleRevoke)))
	mux.HandleFunc("GET /auth/authorize", s.handleAuthorize)
	mux.HandleFunc("POST /auth/authorize", s.handleAuthorize)
	mux.Handle("/auth/oauth/introspect", cors(http.HandlerFunc(s.handleIntrospect)))
	mux.HandleFunc("/auth/end_session", s.handleEndSession)
	mux.Handle("GET /fhir/.well-known/smart-configuration", cors(http.HandlerFunc(s.handleSmartConfig)))
	mux.Handle("GET /sim/{scenario}/fhir/.well-known/smart-configuration", cors(http.HandlerFunc(s.handleSmartConfig)))
	mux.Handle("OPTIONS /fhir/.well-known/smart-configuration", cors(http.NotFoundHandler()))
	mux.Handle("OPTIONS /sim/{scenario}/fhir/.well-known/smart-configuration", cors(http.NotFoundHandler()))
}

// fhirUserURL makes the absolute fhirUser (OIDC-08) on the FHIR base the
// token is for.
func (s *Server) fhirUserURL(aud, ref string) string {
	if ref == "" {
		return ""
	}
	if aud == "" {
		aud = smart.FHIRBase{Origin: s.base}.URL()
	}
	return aud + "/" + ref
}

// smartServer is zitadel's LegacyServer with the SMART overrides.
type smartServer struct {
	*op.LegacyServer
	srv *Server
}
