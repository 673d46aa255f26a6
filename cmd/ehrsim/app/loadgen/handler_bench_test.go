package loadgen_test

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app/loadgen"
)

// bodyWriter is a minimal ResponseWriter: the benchmark measures the
// server's handler (middleware, mux, route), not a recorder.
type bodyWriter struct {
	h      http.Header
	status int
	body   bytes.Buffer
}

func (w *bodyWriter) Header() http.Header { return w.h }
func (w *bodyWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}
func (w *bodyWriter) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}

func (w *bodyWriter) reset() {
	clear(w.h)
	w.status = 0
	w.body.Reset()
}

// BenchmarkHandler serves each one-request scenario of the suite (and the
// hello-world baseline's handler) through the server's whole handler —
// request log, request id, mux, CORS, the route — without the network or
// the client, serially: what ehrsim adds per request beside net/http's own
// work, in ns/op, cpu-ns/op (the process's CPU time, steadier than wall
// time on a shared machine) and allocs/op. Every answer is checked (200,
// body).
func BenchmarkHandler(b *testing.B) {
	b.Run("hello", func(b *testing.B) {
		w := &bodyWriter{h: http.Header{}}
		b.ReportAllocs()
		cpu := cpuTime()
		for b.Loop() {
			w.reset()
			req, _ := http.NewRequest(http.MethodGet, "http://127.0.0.1/", nil)
			loadgen.HelloHandler.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatal(w.status)
			}
		}
		reportCPU(b, cpu)
	})
	for _, name := range []string{"discovery", "introspect", "fhir-read", "sim-read"} {
		b.Run(name, func(b *testing.B) {
			s := start(b)
			sc, _ := loadgen.ScenarioNamed(name)
			newReq, want, err := loadgen.ScenarioRequest(context.Background(), s.URL, sc)
			if err != nil {
				b.Fatal(err)
			}
			w := &bodyWriter{h: http.Header{}}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				w.reset()
				s.Handler.ServeHTTP(w, newReq())
				if w.status != http.StatusOK || !bytes.Contains(w.body.Bytes(), []byte(want)) {
					b.Fatalf("%d %s", w.status, w.body.Bytes())
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// reportCPU reports the CPU time used since since, per operation.
func reportCPU(b *testing.B, since time.Duration) {
	b.ReportMetric(float64(cpuTime()-since)/float64(b.N), "cpu-ns/op")
}
