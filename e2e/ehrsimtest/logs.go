package ehrsimtest

import (
	"context"
	"log"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
)

// Quiet, attributed logs.
//
// A server's own logger writes to that server's buffer (Server.Log). The
// OpenID library ehrsim uses (zitadel/oidc) can only log through slog's
// process-wide default logger, and a test binary may run many servers at
// once, so one default cannot belong to one server. The kit therefore
// installs, once, a default handler that routes each record by the request
// it belongs to: net/http puts the local address a connection was accepted
// on into every request's context (http.LocalAddrContextKey), each server
// listens on its own address, and a record logged with a request's context
// goes to the buffer of the server listening there, through that server's
// handler (its level, its request id).
//
// Records without a server's request in their context go to the handler
// that was the default before, so the test binary's own slog and log output
// is untouched. The one exception is the OpenID library's records without a
// request (its "registered route" lines, logged while a server is being
// wired, before it has an address): they cannot be attributed to a server
// and say nothing a test needs, so they are dropped.
//
// A test that calls slog.SetDefault itself after the first server started
// replaces the router; the library's warnings then go to that logger.

var (
	routerOnce sync.Once
	routes     sync.Map // listen address (host:port) → slog.Handler of the server there
)

func installLogRouter() {
	routerOnce.Do(func() {
		// slog.SetDefault also points the log package's output at the new
		// handler; keep log's own writer and flags, so that log.Print and the
		// previous default handler (which writes through log) keep writing
		// where they did, and never loop back into the router.
		w, flags := log.Writer(), log.Flags()
		slog.SetDefault(slog.New(&logRouter{fallback: slog.Default().Handler()}))
		log.SetOutput(w)
		log.SetFlags(flags)
	})
}

func routeLogs(addr string, h slog.Handler) { routes.Store(addr, h) }

func unrouteLogs(addr string, h slog.Handler) { routes.CompareAndDelete(addr, h) }

type logRouter struct {
	fallback slog.Handler
	with     []func(slog.Handler) slog.Handler // WithAttrs / WithGroup, in order
}

// server is the handler of the kit's server whose request ctx belongs to.
func (r *logRouter) server(ctx context.Context) (slog.Handler, bool) {
	if ctx == nil {
		return nil, false
	}
	addr, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return nil, false
	}
	h, ok := routes.Load(addr.String())
	if !ok {
		return nil, false
	}
	return h.(slog.Handler), true
}

func (r *logRouter) Enabled(ctx context.Context, l slog.Level) bool {
	if h, ok := r.server(ctx); ok {
		return h.Enabled(ctx, l)
	}
	return r.fallback.Enabled(ctx, l)
}

func (r *logRouter) Handle(ctx context.Context, rec slog.Record) error {
	h, ok := r.server(ctx)
	if !ok {
		if fromOIDCLibrary(rec.PC) {
			return nil
		}
		h = r.fallback
	}
	for _, f := range r.with {
		h = f(h)
	}
	if !h.Enabled(ctx, rec.Level) {
		return nil
	}
	return h.Handle(ctx, rec)
}

func (r *logRouter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return r.derive(func(h slog.Handler) slog.Handler { return h.WithAttrs(attrs) })
}

func (r *logRouter) WithGroup(name string) slog.Handler {
	return r.derive(func(h slog.Handler) slog.Handler { return h.WithGroup(name) })
}

func (r *logRouter) derive(f func(slog.Handler) slog.Handler) slog.Handler {
	return &logRouter{fallback: r.fallback, with: append(append([]func(slog.Handler) slog.Handler(nil), r.with...), f)}
}

// fromOIDCLibrary reports whether a record was logged by zitadel/oidc.
func fromOIDCLibrary(pc uintptr) bool {
	if pc == 0 {
		return false
	}
	f, _ := runtime.CallersFrames([]uintptr{pc}).Next()
	return strings.HasPrefix(f.Function, "github.com/zitadel/")
}
