package fhir

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/fixtures"
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

func benchServer(b *testing.B, data []json.RawMessage, g *smart.Grant) (*http.ServeMux, *fhirstore.Store) {
	st, err := fhirstore.Open(context.Background(), fhirstore.Options{Fixtures: data, Logger: quiet})
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
	return mux, st
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
// through the mux (target ≥ 10,000 req/s on 2 cores, docs/architecture.md performance targets).
func BenchmarkRead(b *testing.B) {
	g := &smart.Grant{Scopes: []string{"launch", "openid", "fhirUser", "patient/*.rs"}, Patient: "gp42", Audience: "http://localhost:8080/fhir"}
	mux, _ := benchServer(b, fhirtest.Generate(100), g)
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

// generated returns fixtures.Generate's population of n patients.
func generated(b *testing.B, n int) []json.RawMessage {
	var out []json.RawMessage
	err := fixtures.Generate(fixtures.GenerateOptions{Patients: n, Seed: 7, Ref: time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)},
		func(m json.RawMessage) error { out = append(out, m); return nil })
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// BenchmarkSearch compares 100 and 10,000 generated patients (fixtures
// package): the cost must not grow with the data set (docs/architecture.md performance targets: within
// 2×). The name query uses patient 42's given and family name; its match
// count is reported, since generated names can repeat.
func BenchmarkSearch(b *testing.B) {
	g := &smart.Grant{Scopes: []string{"user/*.rs"}, Audience: "http://localhost:8080/fhir"}
	for _, n := range []int{100, 10000} {
		mux, st := benchServer(b, generated(b, n), g)
		pat, err := st.Patient(context.Background(), "pat-g00042")
		if err != nil {
			b.Fatal(err)
		}
		parts := strings.Fields(pat.Name)
		nameQ := "/fhir/Patient?given=" + url.QueryEscape(parts[0]) + "&family=" + url.QueryEscape(parts[len(parts)-1])
		vit := "/fhir/Observation?patient=pat-g00042&category=vital-signs"
		for _, c := range []struct{ name, path string }{{"observation-vitals", vit}, {"patient-name", nameQ}} {
			q, _ := url.ParseQuery(c.path[strings.IndexByte(c.path, '?')+1:])
			pq, _ := fhirstore.ParseQuery(strings.TrimPrefix(c.path[:strings.IndexByte(c.path, '?')], "/fhir/"), q, false)
			matches := len(st.Search(pq))
			b.Run(c.name+"/patients="+strconv.Itoa(n), func(b *testing.B) {
				for b.Loop() {
					serve(b, mux, c.path, 200)
				}
				b.ReportMetric(float64(matches), "matches")
			})
		}
	}
}
