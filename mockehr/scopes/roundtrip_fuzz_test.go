package scopes

import (
	"strings"
	"testing"
)

// FuzzScopeListRoundTrip: scope string ↔ set. The scopes ParseList accepts,
// joined again (Join), parse back to the same scopes with the same kinds and
// permissions, the joined string is the accepted items in order, and a Set
// built from them decides the same before and after.
func FuzzScopeListRoundTrip(f *testing.F) {
	for _, s := range []string{
		"launch openid fhirUser patient/*.rs", "user/Observation.cruds?category=laboratory offline_access",
		"patient/Observation.read patient/Observation.write system/*.*", "a  b\tc", "launch/patient launch/encounter",
		"patient/Observation.rs?code=http://loinc.org|1234-5&category=a%7Cb", "", "  ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		scopes, errs := ParseList(s)
		joined := Join(scopes)
		var want []string
		for item := range strings.SplitSeq(s, " ") {
			if _, err := Parse(item); item != "" && err == nil {
				want = append(want, item)
			}
		}
		if joined != strings.Join(want, " ") {
			t.Fatalf("Join(ParseList(%q)) = %q, want %q", s, joined, strings.Join(want, " "))
		}
		again, errs2 := ParseList(joined)
		if len(errs2) != 0 || len(again) != len(scopes) {
			t.Fatalf("ParseList(%q) again: %d scopes, errors %v; first time %d scopes (%d errors)", joined, len(again), errs2, len(scopes), len(errs))
		}
		for i := range scopes {
			a, b := scopes[i], again[i]
			if a.Raw != b.Raw || a.Kind != b.Kind || a.Perms != b.Perms || a.V1 != b.V1 {
				t.Fatalf("scope %d of %q: %+v, then %+v", i, s, a, b)
			}
		}
		s1, s2 := NewSet(scopes), NewSet(again)
		for _, typ := range []string{"Observation", "Patient", "Condition"} {
			for _, in := range []Interaction{Read, Search, Create, Update, Delete} {
				if d1, d2 := s1.Decide(typ, in), s2.Decide(typ, in); d1.Allowed != d2.Allowed {
					t.Fatalf("%q: Decide(%s, %v) = %v, after the round trip %v", s, typ, in, d1.Allowed, d2.Allowed)
				}
			}
		}
	})
}
