package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/ehrsim/ehrsim/fixtures"
	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/authz"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/fhir"
	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/upstream"
	"github.com/ehrsim/ehrsim/static"
	"github.com/ehrsim/ehrsim/ui"
	"github.com/ehrsim/ehrsim/ui/authui"
)

// wire opens the stores, builds every component and mounts it on mux.
//
// Dependency order: database → FHIR data (the Directory everyone reads) →
// client registry → launcher → authorization server → FHIR server (which
// resolves tokens through the authorization server) → pages.
func (s *Server) wire(ctx context.Context, mux *http.ServeMux) error {
	cfg := s.Config
	step := stepTimer(s)
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	s.db = db
	s.closers = append(s.closers, db.Close)

	step("open database")
	// A first start makes its signing key while the FHIR data is built.
	keys := make(chan error, 1)
	go func() { keys <- authz.PrepareKeys(ctx, db) }()
	var proxy *upstream.Proxy
	var resources []json.RawMessage
	var userData *fixtures.Dir
	if cfg.FHIRUpstream != "" {
		// Bring your own FHIR server: no demo data; the store only parses
		// resources for the scope checks.
		proxy, err = upstream.New(upstream.Options{URL: cfg.FHIRUpstream, Header: cfg.UpstreamHeader(),
			Timeout: cfg.FHIRUpstreamTimeout, MaxBody: cfg.FHIRUpstreamMaxBody, Logger: s.Logger})
		if err != nil {
			return fmt.Errorf("--fhir-upstream: %w", err)
		}
		s.Logger.Info("FHIR data from an upstream server", "upstream", proxy.Base())
	} else if resources, userData, err = loadFixtures(cfg); err != nil {
		return err
	}
	step("build fixtures")
	opts := fhirstore.Options{DB: db, Fixtures: resources, CacheBytes: int64(cfg.FHIRCacheMB) << 20, Logger: s.Logger}
	if userData != nil {
		opts.Import = userData // imported into the database once, not parsed again at a restart
	}
	if proxy != nil {
		// Upstream mode: an empty store in memory, only for parsing the
		// upstream's resources (writes and imports of other runs stay put).
		opts = fhirstore.Options{Logger: s.Logger}
	}
	data, err := fhirstore.Open(ctx, opts)
	if err != nil {
		if userData != nil {
			return fmt.Errorf("--fixtures %s: %w", cfg.Fixtures, err)
		}
		return fmt.Errorf("FHIR data: %w", err)
	}
	s.closers = append(s.closers, data.Close)
	var dir smart.Directory = data
	if proxy != nil {
		dir = proxy
	}

	step("index FHIR data")
	registry, err := clients.NewRegistry(ctx, db, clients.RegistryOptions{BaseURL: s.URL})
	if err != nil {
		return fmt.Errorf("client registry: %w", err)
	}
	events, err := inspect.NewStore(ctx, db) // PostgreSQL with --database-url, so instances share timelines
	if err != nil {
		return fmt.Errorf("launch inspector: %w", err)
	}
	var insp *inspect.Recorder // nil: the inspector is off (--inspector-launches 0)
	if cfg.InspectorLaunches > 0 {
		insp = inspect.NewRecorder(inspect.Options{Store: events, MaxLaunches: cfg.InspectorLaunches, Logger: s.Logger})
		go insp.Run(ctx)
		// Closers run last-in first: the recorder's last events are written
		// before the database closes.
		s.closers = append(s.closers, func() error { insp.Flush(context.Background()); return nil })
	}
	launches, err := launcher.New(ctx, launcher.Options{
		BaseURL: s.URL, DB: db, Directory: dir, Clients: registry, Logger: s.Logger, Inspector: insp,
	})
	if err != nil {
		return fmt.Errorf("launcher: %w", err)
	}

	step("clients and launcher")
	var auth *authz.Server
	jwks := clients.JWKSPolicyForListen(cfg.Listen)
	if cfg.AllowPrivateJWKS {
		jwks.AllowLoopback, jwks.AllowPrivate = true, true
	}
	assertions := &clients.AssertionVerifier{
		Registry:   registry,
		TokenURL:   func() string { return auth.Endpoints().Token },
		JWKSPolicy: jwks,
	}
	authPages := &authui.Handler{Directory: dir, Logger: s.Logger, ClientName: func(ctx context.Context, id string) string {
		if c, err := registry.Get(ctx, id); err == nil {
			return c.Name
		}
		return ""
	}}
	if err := <-keys; err != nil {
		return fmt.Errorf("authorization server: %w", err)
	}
	auth, err = authz.New(ctx, authz.Options{
		Pages:      authPages,
		Inspector:  insp,
		BaseURL:    s.URL,
		DB:         db,
		Clients:    registry,
		Assertions: assertions,
		Launches:   launches,
		Directory:  dir,
		Discovery:  cfg.SMART,
		Strict:     cfg.StrictClients,
		Logger:     s.Logger,
	})
	if err != nil {
		return fmt.Errorf("authorization server: %w", err)
	}
	step("authorization server")
	fopts := fhir.Options{
		Store:     data,
		Grants:    auth,
		BaseURL:   s.URL,
		Endpoints: auth.EndpointsFor,
		Scenario: func(ctx context.Context, scenario string) error {
			_, err := launches.OpenScenario(ctx, scenario)
			return err
		},
		Inspector: insp,
		ScenarioLaunch: func(ctx context.Context, scenario string) string {
			if l, err := launches.OpenScenario(ctx, scenario); err == nil {
				return l.ID
			}
			return ""
		},
		Logger: s.Logger,
	}
	if proxy != nil {
		fopts.Upstream = proxy
	}
	ehr, err := fhir.New(fopts)
	if err != nil {
		return fmt.Errorf("FHIR server: %w", err)
	}

	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("not ready\n"))
			return
		}
		if err := db.Ping(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("database: " + err.Error() + "\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	static.Mount(mux)
	static.MountSampleApp(mux)
	ehr.Mount(mux)
	auth.Mount(mux)
	authPages.Flow, authPages.Issuer = auth, auth.Issuer()
	authPages.Mount(mux)
	(&clients.API{Registry: registry, Logger: s.Logger}).Mount(mux)
	launches.Mount(mux)
	if insp != nil {
		(&inspect.API{Recorder: insp}).Mount(mux)
	}
	pages := &ui.Handler{
		BaseURL:   s.URL,
		Logger:    s.Logger,
		Launches:  launches,
		Directory: dir,
		Clients:   registry,
	}
	if insp != nil { // a nil *Recorder in the interface would not read as "none"
		pages.Inspector = insp
	}
	pages.Mount(mux)
	step("FHIR server and routes")
	return nil
}

// stepTimer logs, at debug level, how long each start-up step took (the
// start-up budget is 300 ms; this shows where it goes).
func stepTimer(s *Server) func(name string) {
	last := time.Now()
	return func(name string) {
		now := time.Now()
		s.Logger.Debug("start-up step", "step", name, "took", now.Sub(last).Round(time.Microsecond))
		last = now
	}
}

// loadFixtures returns the demo data set and the user's --fixtures, if
// any: a directory fhirstore imports into the database (only when its files
// changed since the last import).
func loadFixtures(cfg Config) ([]json.RawMessage, *fixtures.Dir, error) {
	var resources []json.RawMessage
	var known func(string) bool
	if cfg.FixturesMode != "replace" {
		def, err := fixtures.Default(cfg.RefDate(time.Now()))
		if err != nil {
			return nil, nil, fmt.Errorf("demo data: %w", err)
		}
		resources = def
	}
	if cfg.Fixtures == "" {
		return resources, nil, nil
	}
	if resources != nil {
		known = knownRefs(resources) // user data may point into the demo set
	}
	user, err := fixtures.OpenDir(cfg.Fixtures, known)
	if err != nil {
		return nil, nil, fmt.Errorf("--fixtures %s: %w", cfg.Fixtures, err)
	}
	return resources, user, nil
}

// knownRefs lets user fixtures refer to demo resources ("Practitioner/x").
// The set is decoded on first use: a restart that skips the import never
// needs it.
func knownRefs(set []json.RawMessage) func(string) bool {
	refs := sync.OnceValue(func() map[string]bool {
		refs := make(map[string]bool, len(set))
		for _, raw := range set {
			var r struct{ ResourceType, ID string }
			if json.Unmarshal(raw, &r) == nil {
				refs[r.ResourceType+"/"+r.ID] = true
			}
		}
		return refs
	})
	return func(ref string) bool { return refs()[ref] }
}

var _ smart.Directory = (*fhirstore.Store)(nil)
var _ smart.GrantResolver = (*authz.Server)(nil)
