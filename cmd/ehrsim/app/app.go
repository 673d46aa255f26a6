package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// Server is a running ehrsim.
type Server struct {
	// URL is the public base URL (http://host:port, no trailing slash).
	URL string
	// Addr is the address actually listened on.
	Addr string
	// DebugAddr is the profiling listener's address ("" when off).
	DebugAddr string

	Config  Config
	Handler http.Handler
	Logger  *slog.Logger

	http    *http.Server
	db      *store.DB
	ready   atomic.Bool
	served  chan error
	closers []func() error
}

// Run runs ehrsim until ctx is cancelled, then shuts down gracefully.
// args are the command-line arguments without the program name.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			args = args[1:]
		case "healthcheck":
			return healthcheck(ctx, args[1:], getenv, stdout)
		case "fixtures":
			return fixturesCommand(ctx, args[1:], stdout)
		case "keys":
			return keysCommand(ctx, args[1:], getenv, stdout)
		case "load":
			return loadCommand(ctx, args[1:], getenv, stdout)
		case "report":
			return reportCommand(ctx, args[1:], getenv, stdout)
		case "version", "--version":
			return versionCommand(args[1:], stdout)
		case "help", "-h", "--help":
			fmt.Fprint(stdout, usageText)
			_, err := LoadConfig([]string{"-h"}, getenv, stdout)
			if errors.Is(err, flagErrHelp) {
				return nil
			}
			return err
		}
	}
	setDefaultLogger = true
	s, err := Start(ctx, args, getenv, stdout)
	if err != nil {
		return err
	}
	go tuneGC(ctx)
	select {
	case <-ctx.Done():
	case err := <-s.served:
		s.Close()
		return fmt.Errorf("server stopped: %w", err)
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Logger.Info("shutting down")
	return s.Shutdown(sctx)
}

const usageText = `ehrsim — a SMART on FHIR EHR simulator

Usage:
  ehrsim [serve] [flags]            run the server (default)
  ehrsim healthcheck [--url URL]    probe a running server's /readyz; exit 0 when ready
  ehrsim fixtures generate [flags]  write a synthetic FHIR data set (see --help)
  ehrsim keys rotate [flags]        rotate the token signing key (same flags as serve)
  ehrsim load [--url URL] [--concurrency 16] [--duration 10s] [--mixed | --suite]
                                    drive full EHR launches against a running server, print launches/s;
                                    --suite: every hot path beside the RS256 and hello-world baselines
  ehrsim report --client ID [--url URL] [--format text|json|junit]
                                    print a client's conformance report from a running server;
                                    exit 1 when an error-severity rule failed, 2 when it cannot be read
  ehrsim version                    print the version, VCS revision and toolchain of this binary

Flags (each also EHRSIM_<NAME> in the environment, or <name> in the --config TOML file):
`

// setDefaultLogger is set by Run (the real binary) only: tests start several
// servers in one process and must not fight over the global logger.
var setDefaultLogger bool

// Start starts ehrsim in the background and returns once it accepts
// connections and its stores are loaded.
func Start(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) (*Server, error) {
	started := time.Now()
	cfg, err := LoadConfig(args, getenv, stdout)
	if err != nil {
		return nil, err
	}
	logger := newLogger(cfg, stdout)
	if setDefaultLogger {
		// Libraries that log through slog's default (zitadel/oidc has no
		// other way) then write to the server's own output, honour
		// --log-level and --log-format, and carry the request id. While
		// wiring it is at least warn: zitadel/oidc logs each of its routes
		// at info, which buried the startup line.
		quiet := cfg
		if lvl := (slog.Level(0)); lvl.UnmarshalText([]byte(cfg.LogLevel)) == nil && lvl < slog.LevelWarn {
			quiet.LogLevel = "warn"
		}
		slog.SetDefault(newLogger(quiet, stdout))
		defer slog.SetDefault(logger)
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", cfg.Listen, err)
	}
	s := &Server{Config: cfg, Logger: logger, Addr: ln.Addr().String(), served: make(chan error, 1)}
	s.URL = strings.TrimSuffix(cfg.BaseURL, "/")
	if s.URL == "" {
		s.URL = "http://" + publicHost(cfg.Listen, ln.Addr().(*net.TCPAddr).Port)
	}
	mux := http.NewServeMux()
	if err := s.wire(ctx, mux); err != nil {
		ln.Close()
		s.Close()
		return nil, err
	}
	if cfg.DebugListen != "" {
		if s.DebugAddr, err = s.startDebug(cfg.DebugListen); err != nil {
			ln.Close()
			s.Close()
			return nil, err
		}
		logger.Info("profiling handlers (pprof) on " + "http://" + s.DebugAddr + "/debug/pprof/")
	}
	s.Handler = logRequests(logger, mux)
	s.http = &http.Server{
		Handler:           s.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	go func() { s.served <- s.http.Serve(ln) }()
	s.ready.Store(true)
	fmt.Fprintf(stdout, "ehrsim ready in %s: launcher %s/  FHIR base %s/fhir  issuer %s/auth  (data %s, version %s)\n",
		time.Since(started).Round(time.Millisecond), s.URL, s.URL, s.URL, cfg.DataDir, ReadBuildInfo().Short())
	return s, nil
}

// publicHost turns the listen address into the host part of the default base URL.
func publicHost(listen string, port int) string {
	host, _, _ := net.SplitHostPort(listen)
	switch host {
	case "", "0.0.0.0", "::":
		host = "localhost"
	}
	return net.JoinHostPort(host, fmt.Sprint(port))
}

// Shutdown stops accepting connections, lets in-flight requests finish, then
// closes the stores.
func (s *Server) Shutdown(ctx context.Context) error {
	s.ready.Store(false)
	err := s.http.Shutdown(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close releases the stores (after Shutdown, or on a failed start).
func (s *Server) Close() error {
	var errs []error
	for i := len(s.closers) - 1; i >= 0; i-- {
		errs = append(errs, s.closers[i]())
	}
	s.closers = nil
	return errors.Join(errs...)
}

// newLogger is the server's logger: text or JSON on w at the configured
// level, with the request id on every line logged with a request's context.
func newLogger(cfg Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.LogLevel))
	o := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler = slog.NewTextHandler(w, o)
	if cfg.LogFormat == "json" {
		h = slog.NewJSONHandler(w, o)
	}
	return slog.New(requestIDHandler{h})
}
