package smart

import (
	"strings"
	"testing"
)

// FuzzParseFHIRBase: scenario FHIR bases (aud values, /sim/<id>/fhir)
// round-trip: what parses is rebuilt by URL into a base that parses to the
// same thing, and nothing parses that does not start with the origin.
func FuzzParseFHIRBase(f *testing.F) {
	for _, s := range []string{"http://x:8080/fhir", "http://x:8080/fhir/", "http://x:8080/sim/abc/fhir", "http://x:8080/sim//fhir",
		"http://x:8080/sim/a/b/fhir", "http://x:8080/sim/fhir", "http://y/fhir", "http://x:8080/sim/%2F/fhir/"} {
		f.Add("http://x:8080", s)
	}
	f.Add("http://x:8080/", "http://x:8080/sim/sc/fhir")
	f.Fuzz(func(t *testing.T, origin, u string) {
		b, ok := ParseFHIRBase(origin, u)
		if !ok {
			if b != (FHIRBase{}) {
				t.Fatalf("ParseFHIRBase(%q, %q) failed with %+v", origin, u, b)
			}
			return
		}
		if !strings.HasPrefix(u, TrimSlash(origin)) {
			t.Fatalf("ParseFHIRBase(%q, %q) accepted another origin: %+v", origin, u, b)
		}
		if b.Scenario != "" && (strings.Contains(b.Scenario, "/") || b.ScenarioTokenURL() == "") {
			t.Fatalf("scenario %q of %q", b.Scenario, u)
		}
		again, ok := ParseFHIRBase(origin, b.URL())
		if !ok || again != b {
			t.Fatalf("ParseFHIRBase(%q, %q) = %+v; its URL %q parses to %+v, %v", origin, u, b, b.URL(), again, ok)
		}
	})
}
