package ui

import (
	"context"
	"log/slog"
	"net/http"
	"strings"

	"github.com/a-h/templ"
)

// Handler serves the ui pages.
type Handler struct {
	BaseURL string
	Logger  *slog.Logger
}

// Mount registers the page routes and the site-wide 404.
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, http.StatusOK, launcherPage(LauncherPage{BaseURL: h.BaseURL}))
	})
	mux.HandleFunc("GET /docs", func(w http.ResponseWriter, r *http.Request) {
		h.render(w, r, http.StatusOK, docsPage(DocsPage{BaseURL: h.BaseURL}))
	})
	mux.HandleFunc("/", h.NotFound)
}

// NotFound answers unknown paths: JSON under /api/, an HTML page elsewhere.
func (h *Handler) NotFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":"not_found","error_description":"no such API endpoint"}`))
		return
	}
	h.Error(w, r, http.StatusNotFound, "Page not found", "There is no page at "+r.URL.Path+". Check the address, or start again from the launcher.")
}

// Error renders an HTML error page.
func (h *Handler) Error(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	h.render(w, r, status, errorPage(ErrorPage{Status: status, Title: title, Message: msg}))
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil && r.Context().Err() != context.Canceled {
		h.logger().Error("render page", "path", r.URL.Path, "err", err)
	}
}

func (h *Handler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
