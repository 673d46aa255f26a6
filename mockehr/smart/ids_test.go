package smart

import (
	"regexp"
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	for _, c := range []struct {
		id   string
		want bool
	}{
		{"pat-amy-shaw", true},
		{"a", true},
		{"A.b-9", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"", false},
		{"a b", false},
		{"a_b", false},
		{"a/b", false},
		{"Patient/a", false},
		{"é", false},
		{"a\n", false},
	} {
		if got := ValidID(c.id); got != c.want {
			t.Errorf("ValidID(%q) = %v, want %v", c.id, got, c.want)
		}
	}
}

// FuzzValidID checks ValidID against the FHIR specification's regex.
func FuzzValidID(f *testing.F) {
	spec := regexp.MustCompile(`^[A-Za-z0-9\-.]{1,64}$`)
	for _, s := range []string{"pat-1", "", "a b", strings.Repeat("x", 65), "a\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidID(s), spec.MatchString(s); got != want {
			t.Errorf("ValidID(%q) = %v, the FHIR regex says %v", s, got, want)
		}
	})
}
