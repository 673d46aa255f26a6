package ui

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/apierr"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Launches is what the pages need from the launcher (*launcher.Service).
type Launches interface {
	// Mint validates and seals a launch; a client mistake is *launcher.FieldError.
	Mint(ctx context.Context, req launcher.Request) (*launcher.Result, *launcher.Launch, error)
	// Open returns the launch behind a launch code: launcher.ErrUnknownLaunch
	// or launcher.ErrExpiredLaunch for codes that do not work.
	Open(ctx context.Context, code string) (*launcher.Launch, error)
	// Framed is the variant of an EHR launch the simulated EHR frames: the
	// same launch with need_patient_banner false, and the app URL.
	Framed(l *launcher.Launch) (code, launchURL string, err error)
}

// Clients is what the pages need from the client registry (*clients.Registry).
// Validation errors are *clients.FieldError; unknown ids clients.ErrNotFound.
type Clients interface {
	List(ctx context.Context) ([]clients.Client, error)
	Get(ctx context.Context, id string) (*clients.Client, error)
	Create(ctx context.Context, c clients.Client, secret string) (*clients.Client, error)
	Update(ctx context.Context, c clients.Client, secret *string) (*clients.Client, error)
	Delete(ctx context.Context, id string) error
}

// Handler serves the ui pages. BaseURL and Launches, Directory and Clients
// are required for the launcher, EHR and clients pages; the others are optional.
type Handler struct {
	BaseURL   string
	Logger    *slog.Logger
	Launches  Launches
	Directory smart.Directory
	Clients   Clients
	// Inspector feeds the launch inspector's pages (/inspect, client reports).
	Inspector Inspector
	// Now is the clock for ages in banners and pickers; nil = time.Now.
	Now func() time.Time
}

// Mount registers the page routes and the site-wide 404.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.launcherGet)
	mux.HandleFunc("POST /{$}", h.launcherPost)
	mux.HandleFunc("GET /launcher/preview", h.launcherPreview)
	mux.HandleFunc("GET /launcher/encounters", h.launcherEncounters)
	mux.HandleFunc("GET /ehr", h.ehrGet)
	mux.HandleFunc("POST /ehr", h.ehrPost)
	mux.HandleFunc("GET /clients", h.clientsList)
	mux.HandleFunc("POST /clients", h.clientsCreate)
	mux.HandleFunc("GET /clients/demo-private-jwks.json", h.demoKeys)
	mux.HandleFunc("GET /clients/{id}", h.clientsEdit)
	mux.HandleFunc("POST /clients/{id}", h.clientsUpdate)
	mux.HandleFunc("POST /clients/{id}/delete", h.clientsDelete)
	mux.HandleFunc("GET /clients/{id}/report", h.inspectReport)
	mux.HandleFunc("GET /inspect", h.inspectList)
	mux.HandleFunc("GET /inspect/{id}", h.inspectTimeline)
	mux.HandleFunc("GET /docs", h.docs)
	mux.HandleFunc("/", h.NotFound)
}

// NotFound answers unknown paths: the API's JSON error under /api/, an
// HTML page elsewhere.
func (h *Handler) NotFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		apierr.Write(w, http.StatusNotFound, apierr.NotFound, "", "no such API endpoint")
		return
	}
	h.Error(w, r, http.StatusNotFound, "Page not found", "There is no page at "+r.URL.Path+". Check the address, or start again from the launcher.")
}

// Error renders an HTML error page.
func (h *Handler) Error(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.render(w, r, status, errorPage(ErrorPage{Status: status, Title: title, Message: msg}))
}

// internal logs an unexpected failure and answers a 500 page that says so
// without leaking internals.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	h.logger().ErrorContext(r.Context(), what, "path", r.URL.Path, "err", err)
	if errors.Is(err, smart.ErrUnavailable) {
		// Not ehrsim's fault and not permanent: say what is down.
		w.Header().Set("Retry-After", "5")
		h.Error(w, r, http.StatusServiceUnavailable, "The FHIR server is unavailable",
			"ehrsim could not "+what+": "+err.Error()+". This page works again as soon as the FHIR server answers; reload it then.")
		return
	}
	h.Error(w, r, http.StatusInternalServerError, "Something went wrong", "ehrsim failed to "+what+". The server log has the details.")
}

// render writes every HTML page and fragment of the package. Pages may be
// framed by their own origin only (the simulated EHR frames same-origin
// pages; another site framing the launcher or clients page is
// clickjacking): the same two headers as the authorization pages.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Security-Policy", "frame-ancestors 'self'")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil && r.Context().Err() != context.Canceled {
		h.logger().ErrorContext(r.Context(), "render page", "path", r.URL.Path, "err", err)
	}
}

// logger is the injected Logger; without one, nothing is logged.
func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) base() string { return smart.TrimSlash(h.BaseURL) }

// missing answers 503 when a dependency the page needs is not wired.
func (h *Handler) missing(w http.ResponseWriter, r *http.Request, deps ...any) bool {
	for _, d := range deps {
		if d == nil {
			h.Error(w, r, http.StatusServiceUnavailable, "Not available", "This page needs a part of ehrsim that is not configured in this server.")
			return true
		}
	}
	return false
}
