package app

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// syncBuffer is a log sink the server's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// jsonLines decodes the JSON log lines in out (other lines are skipped).
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for l := range strings.Lines(out) {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil {
			lines = append(lines, m)
		}
	}
	return lines
}

func TestRequestIDHandlerAddsTheIDFromTheContext(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(requestIDHandler{slog.NewTextHandler(&out, nil)}).With("component", "x")
	ctx := withRequestID(context.Background(), "req-1")

	logger.InfoContext(ctx, "with", "k", "v")
	logger.Info("without", "k", "v")
	logger.WarnContext(context.Background(), "other context")

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines: %q", lines)
	}
	if !strings.Contains(lines[0], "msg=with component=x request_id=req-1 k=v") {
		t.Errorf("line logged with the request's context: %q", lines[0])
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "request_id") || !strings.Contains(l, "component=x") {
			t.Errorf("line logged without a request id in the context: %q", l)
		}
	}
	if !slog.New(requestIDHandler{slog.NewTextHandler(&out, nil)}).Handler().Enabled(ctx, slog.LevelInfo) {
		t.Error("Enabled is not passed through")
	}
}

// Every line a request causes carries its id: the request line and the
// lines components log with the request's context.
func TestLogRequestsPutsTheIDOnEveryLine(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(requestIDHandler{slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})})
	h := logRequests(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.WarnContext(r.Context(), "component says")
		w.Write([]byte("ok"))
	}))

	req := httptest.NewRequest("GET", "/api/launches", nil)
	req.Header.Set("X-Request-Id", "caller-id.1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); got != "caller-id.1" {
		t.Fatalf("X-Request-Id %q, want the caller's", got)
	}

	req = httptest.NewRequest("GET", "/", nil)
	req.Header.Set("X-Request-Id", "not sane!")
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	minted := rec.Header().Get("X-Request-Id")
	if len(minted) != 16 {
		t.Fatalf("minted X-Request-Id %q", minted)
	}

	lines := jsonLines(t, out.String())
	want := []struct{ msg, id string }{
		{"component says", "caller-id.1"}, {"request", "caller-id.1"},
		{"component says", minted}, {"request", minted},
	}
	if len(lines) != len(want) {
		t.Fatalf("log:\n%s", out.String())
	}
	for i, w := range want {
		if lines[i]["msg"] != w.msg || lines[i]["request_id"] != w.id {
			t.Errorf("line %d: %v, want msg %q with request_id %q", i, lines[i], w.msg, w.id)
		}
	}
}

func TestRequestLevel(t *testing.T) {
	for _, c := range []struct {
		path   string
		status int
		want   slog.Level
	}{
		{"/static/css/app.3f2a.css", 200, slog.LevelDebug},
		{"/static/nope.js", 404, slog.LevelDebug},
		{"/static/x", 500, slog.LevelError},
		{"/", 200, slog.LevelInfo},
		{"/api/launches", 400, slog.LevelInfo},
		{"/fhir/Patient/x", 404, slog.LevelInfo},
		{"/auth/oauth/token", 500, slog.LevelError},
		{"/staticky", 200, slog.LevelInfo},
		{"/sample-app/index.html", 200, slog.LevelInfo},
		{"/sample-app/app.js", 200, slog.LevelDebug},
		{"/sample-app/app.css", 200, slog.LevelDebug},
		{"/sample-app/app.js", 500, slog.LevelError},
	} {
		if got := requestLevel(c.path, c.status); got != c.want {
			t.Errorf("requestLevel(%q, %d) = %v, want %v", c.path, c.status, got, c.want)
		}
	}
}

// The whole server: request lines carry the caller's request id, static
// assets are logged at debug and pages and API calls at info.
func TestServerLogsRequestsWithIDsAndLevels(t *testing.T) {
	var out syncBuffer
	s, err := Start(context.Background(), []string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-format", "json", "--log-level", "debug"}, env(nil), &out)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/static/no-such-asset.css", "/api/launches/no-such-launch", "/docs"} {
		req, _ := http.NewRequest("GET", s.URL+p, nil)
		req.Header.Set("X-Request-Id", "t-"+strings.ReplaceAll(strings.Trim(p, "/"), "/", "-"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct{ level, id string }{
		"/static/no-such-asset.css":    {"DEBUG", "t-static-no-such-asset.css"},
		"/api/launches/no-such-launch": {"INFO", "t-api-launches-no-such-launch"},
		"/docs":                        {"INFO", "t-docs"},
	}
	seen := 0
	for _, l := range jsonLines(t, out.String()) {
		p, _ := l["path"].(string)
		w, ok := want[p]
		if l["msg"] != "request" || !ok {
			continue
		}
		seen++
		if l["level"] != w.level || l["request_id"] != w.id {
			t.Errorf("request line %v, want level %s and request_id %s", l, w.level, w.id)
		}
	}
	if seen != len(want) {
		t.Errorf("%d request lines, want %d:\n%s", seen, len(want), out.String())
	}
}

// The request's context carries the id and keeps the parent's values,
// deadline and cancellation, as context.WithValue would.
func TestRequestContextKeepsTheParent(t *testing.T) {
	type key struct{}
	parent, cancel := context.WithCancel(context.WithValue(context.Background(), key{}, "v"))
	ctx := withRequestID(parent, "req-2")
	if ctx.Value(requestIDKey{}) != "req-2" || ctx.Value(key{}) != "v" {
		t.Fatalf("values: %v, %v", ctx.Value(requestIDKey{}), ctx.Value(key{}))
	}
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-child.Done() // a child of the request's context is cancelled with its parent
	if ctx.Err() != context.Canceled {
		t.Fatalf("Err = %v", ctx.Err())
	}
}

// BenchmarkLogRequests is the request log's own cost per request (id,
// context, status writer, level check) around a handler that writes "ok",
// at the suite's log level (error: the request line is filtered out) and
// at the default (info: each request logs a line).
func BenchmarkLogRequests(b *testing.B) {
	for _, level := range []slog.Level{slog.LevelError, slog.LevelInfo} {
		b.Run(level.String(), func(b *testing.B) {
			logger := slog.New(requestIDHandler{slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: level})})
			h := logRequests(logger, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
			req := httptest.NewRequest("GET", "/fhir/Patient/x", nil)
			w := &nopWriter{h: http.Header{}}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				h.ServeHTTP(w, req)
			}
		})
	}
}

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}
