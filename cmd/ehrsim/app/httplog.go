package app

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Flush keeps streaming responses working through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// logRequests gives every request an id (the caller's X-Request-Id when it is
// a sane token, else a random one), echoes it, puts it in the request's
// context, where requestIDHandler adds it to every line logged with that
// context, and logs one line per request: static assets at debug, pages and
// API calls at info, server errors at error.
//
// It runs on every request, so it allocates once for its own state (the
// status writer, the context and the echoed header share one object) plus
// the id and the request's copy with the new context, and builds the log
// line only when the logger's level lets it through.
func logRequests(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{w: statusWriter{ResponseWriter: w}}
		id := r.Header.Get("X-Request-Id")
		if !saneID(id) {
			id = newRequestID()
		}
		st.idHeader[0] = id
		w.Header()["X-Request-Id"] = st.idHeader[:] // canonical key; as Header().Set, without its allocation
		st.ctx = requestCtx{Context: r.Context(), id: id}
		r = r.WithContext(&st.ctx)
		sw := &st.w
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		lvl := requestLevel(r.URL.Path, sw.status)
		if !logger.Enabled(&st.ctx, lvl) {
			return
		}
		logger.LogAttrs(&st.ctx, lvl, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int("bytes", sw.bytes),
			slog.Duration("duration", time.Since(start)))
	})
}

// requestState is what logRequests keeps for one request, in one allocation.
type requestState struct {
	w        statusWriter
	ctx      requestCtx
	idHeader [1]string // the X-Request-Id header's value slice
}

// newRequestID is a random request id: 16 lower-case hex digits. It need
// not be secret (it is echoed and logged), only unique in practice:
// math/rand/v2's generator (ChaCha8, seeded by the runtime) is, without a
// system call.
func newRequestID() string {
	const digits = "0123456789abcdef"
	var b [16]byte
	v := rand.Uint64()
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b[:])
}

// requestLevel is the level of a request's log line: server errors at
// error; static assets (/static/…, and the sample app's scripts and
// styles), which every page pulls several of, at debug; everything else —
// pages, API, OAuth and FHIR calls — at info.
func requestLevel(path string, status int) slog.Level {
	switch {
	case status >= 500:
		return slog.LevelError
	case strings.HasPrefix(path, "/static/"),
		strings.HasPrefix(path, "/sample-app/") && (strings.HasSuffix(path, ".js") || strings.HasSuffix(path, ".css")):
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

func saneID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

type requestIDKey struct{}

// requestCtx is a request's context with its id: context.WithValue's
// behaviour (the id under requestIDKey, every other key and the
// cancellation from the parent) without its two allocations.
type requestCtx struct {
	context.Context
	id string
}

func (c *requestCtx) Value(key any) any {
	if _, ok := key.(requestIDKey); ok {
		return c.id
	}
	return c.Context.Value(key)
}

func withRequestID(ctx context.Context, id string) context.Context {
	return &requestCtx{Context: ctx, id: id}
}

// requestIDHandler adds request_id, the id logRequests put in the context,
// to every record logged with that context (logger.InfoContext(r.Context(),
// …)), so each line a request causes — in ehrsim's packages and in
// libraries that log through slog's default — can be found by its id.
// Records logged without a request's context pass through unchanged.
//
// The id is the record's first attribute. Under a logger made with
// WithGroup it lands inside that group, as any attribute of the record
// would; ehrsim's loggers use no groups.
type requestIDHandler struct{ slog.Handler }

func (h requestIDHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestIDKey{}).(string); ok {
		nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
		nr.AddAttrs(slog.String("request_id", id))
		r.Attrs(func(a slog.Attr) bool {
			nr.AddAttrs(a)
			return true
		})
		r = nr
	}
	return h.Handler.Handle(ctx, r)
}

func (h requestIDHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return requestIDHandler{h.Handler.WithAttrs(attrs)}
}

func (h requestIDHandler) WithGroup(name string) slog.Handler {
	return requestIDHandler{h.Handler.WithGroup(name)}
}
