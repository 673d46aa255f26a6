package fhir

import (
	"net/http"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// isBase is smart.TrimSlash(u) == b.URL() without building the URL.
func TestIsBaseMatchesTheBuiltURL(t *testing.T) {
	bases := []smart.FHIRBase{{Origin: "http://h:8080"}, {Origin: "http://h:8080", Scenario: "abc"}, {Origin: "http://h/p", Scenario: "x-y_z"}}
	urls := []string{"", "/", "http://h:8080/fhir", "http://h:8080/fhir/", "http://h:8080/fhir//", "http://h:8080/sim/abc/fhir",
		"http://h:8080/sim/abc/fhir/", "http://h:8080/sim/ab/fhir", "http://h:8080/sim/abcd/fhir", "http://h:8080/sim//fhir",
		"http://h:8080/simabc/fhir", "http://h:8080/sim/abc/fhirx", "http://h/p/sim/x-y_z/fhir", "http://h/p/fhir", "http://h:8080/fhi"}
	for _, b := range bases {
		for _, u := range urls {
			if got, want := isBase(b, u), smart.TrimSlash(u) == b.URL(); got != want {
				t.Errorf("isBase(%+v, %q) = %v, want %v", b, u, got, want)
			}
		}
	}
}

// setHeaders is Header.Set for each pair, and no two headers share a value
// slice that an Add to one would change in the other.
func TestSetHeaders(t *testing.T) {
	h := http.Header{"Etag": {"old"}}
	setHeaders(h, "Content-Type", "a", "Content-Length", "1", "Etag", `W/"2"`, "Last-Modified", "d")
	want := http.Header{}
	for _, kv := range [][2]string{{"Content-Type", "a"}, {"Content-Length", "1"}, {"ETag", `W/"2"`}, {"Last-Modified", "d"}} {
		want.Set(kv[0], kv[1])
	}
	for k, v := range want {
		if len(h[k]) != 1 || h[k][0] != v[0] {
			t.Errorf("%s: %q, want %q", k, h[k], v)
		}
	}
	h.Add("Content-Type", "b")
	if h.Get("Content-Length") != "1" || len(h["Content-Type"]) != 2 {
		t.Fatalf("an Add changed another header: %v", h)
	}
}
