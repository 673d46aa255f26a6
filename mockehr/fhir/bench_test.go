package fhir

import (
	"context"
	"net/http"
	"runtime"
	"strconv"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// discardWriter is a minimal ResponseWriter so the benchmark measures the
// handler, not the recorder.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }

func benchServer(b *testing.B, patients int, g *smart.Grant) *http.ServeMux {
	st, err := fhirstore.Open(context.Background(), fhirstore.Options{Fixtures: fhirtest.Generate(patients), Logger: quiet})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := New(Options{Store: st, BaseURL: "http://localhost:8080", Logger: quiet,
		Grants: smart.GrantResolverFunc(func(context.Context, string) (*smart.Grant, error) { return g, nil })})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Mount(mux)
	runtime.GC() // start measuring without the load's garbage
	return mux
}

func serve(b *testing.B, mux *http.ServeMux, path string, want int) {
	req, _ := http.NewRequest("GET", "http://localhost:8080"+path, nil)
	req.Header.Set("Authorization", "Bearer t")
	w := &discardWriter{h: http.Header{}}
	mux.ServeHTTP(w, req)
	if w.status != want {
		b.Fatalf("%s: %d", path, w.status)
	}
}

// BenchmarkRead is a FHIR read with token resolution and scope check
// through the mux (target ≥ 10,000 req/s on 2 cores, DESIGN.md).
func BenchmarkRead(b *testing.B) {
	g := &smart.Grant{Scopes: []string{"launch", "openid", "fhirUser", "patient/*.rs"}, Patient: "gp42", Audience: "http://localhost:8080/fhir"}
	mux := benchServer(b, 100, g)
	b.Run("serial", func(b *testing.B) {
		for b.Loop() {
			serve(b, mux, "/fhir/Observation/gp42-o3", 200)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				serve(b, mux, "/fhir/Observation/gp42-o3", 200)
			}
		})
	})
}

// BenchmarkSearch compares 100 and 10,000 patients: the cost must not
// grow with the data set (DESIGN.md: within 2×).
func BenchmarkSearch(b *testing.B) {
	g := &smart.Grant{Scopes: []string{"user/*.rs"}, Audience: "http://localhost:8080/fhir"}
	for _, n := range []int{100, 10000} {
		mux := benchServer(b, n, g)
		b.Run("observation-vitals/patients="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				serve(b, mux, "/fhir/Observation?patient=gp42&category=vital-signs", 200)
			}
		})
		b.Run("patient-name/patients="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				serve(b, mux, "/fhir/Patient?name=patel-00043", 200)
			}
		})
	}
}
