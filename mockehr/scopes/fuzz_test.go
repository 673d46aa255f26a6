package scopes

import (
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, a success keeps Raw byte-identical, the
// parsed scope covers itself, and ParseList never panics and loses nothing.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"patient/Observation.rs", "user/*.cruds", "system/Patient.read", "patient/*.*", "patient/Condition.write",
		lab, labLOINC, "patient/Observation.rs?category=a%7Cb", "patient/Observation.rr", "patient/Observation.sr",
		"launch", "launch/patient", "launch/location?role=http://x/y", "openid", "fhirUser", "profile",
		"offline_access", "online_access", "", " ", "launch/", "patient/", "patient/.", "patient/X.?", "a b  c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sc, err := Parse(s)
		if err == nil {
			if sc.Raw != s {
				t.Fatalf("Parse(%q).Raw = %q", s, sc.Raw)
			}
			if sc.Kind == KindUnknown {
				t.Fatalf("Parse(%q) succeeded with KindUnknown", s)
			}
			if !Covers(sc, sc) {
				t.Fatalf("Parse(%q) does not cover itself: %+v", s, sc)
			}
			if sc.Kind == KindResource && (sc.Perms == 0 || sc.Perms&^PermAll != 0) {
				t.Fatalf("Parse(%q).Perms = %v", s, sc.Perms)
			}
			if sc.Kind == KindResource && !sc.V1 && strings.Count(s, ".") > 0 {
				// v2 letters round-trip: the text after the first '.' in the
				// type segment starts with exactly Perms.String().
				_, after, _ := strings.Cut(s, ".")
				if !strings.HasPrefix(after, sc.Perms.String()) {
					t.Fatalf("Parse(%q).Perms = %s", s, sc.Perms)
				}
			}
			_ = Describe(sc)
		} else if !strings.HasPrefix(err.Error(), s+": ") {
			t.Fatalf("error %q does not name the scope %q", err, s)
		}
		scopes, errs := ParseList(s)
		n := 0
		for item := range strings.SplitSeq(s, " ") {
			if item != "" {
				n++
			}
		}
		if len(scopes)+len(errs) != n {
			t.Fatalf("ParseList(%q): %d scopes + %d errors, want %d items", s, len(scopes), len(errs), n)
		}
		set := NewSet(scopes)
		set.Decide("Observation", Read)
		Grant(scopes, scopes)
	})
}
