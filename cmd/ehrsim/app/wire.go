package app

import (
	"context"
	"net/http"

	"github.com/ehrsim/ehrsim/mockehr/store"
	"github.com/ehrsim/ehrsim/static"
	"github.com/ehrsim/ehrsim/ui"
)

// wire opens the stores, builds every component and mounts it on mux.
func (s *Server) wire(ctx context.Context, mux *http.ServeMux) error {
	db, err := store.Open(ctx, s.Config.DataDir)
	if err != nil {
		return err
	}
	s.db = db
	s.closers = append(s.closers, db.Close)

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
		if err := db.SQL.PingContext(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("database: " + err.Error() + "\n"))
			return
		}
		w.Write([]byte("ready\n"))
	})
	static.Mount(mux)
	pages := &ui.Handler{BaseURL: s.URL, Logger: s.Logger}
	pages.Mount(mux)
	return nil
}
