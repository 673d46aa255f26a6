package scopes

import (
	"slices"
	"strings"
	"testing"
)

func mustParse(t testing.TB, s string) Scope {
	t.Helper()
	sc, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q): %v", s, err)
	}
	return sc
}

func mustList(t testing.TB, s string) []Scope {
	t.Helper()
	scopes, errs := ParseList(s)
	if len(errs) > 0 {
		t.Fatalf("ParseList(%q): %v", s, errs)
	}
	return scopes
}

func raws(scopes []Scope) []string {
	out := []string{}
	for _, sc := range scopes {
		out = append(out, sc.Raw)
	}
	return out
}

const (
	lab      = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	vitals   = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"
	labLOINC = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&code=http://loinc.org|4548-4"
)

// TestSCP02_CoversMatrix: the launch API's client.scope rule
// (docs/architecture.md), with v1 mapped onto v2 letters and no crossing
// between contexts.
func TestSCP02_CoversMatrix(t *testing.T) {
	tests := []struct {
		allowed, requested string
		want               bool
	}{
		// The examples docs/architecture.md gives.
		{"patient/*.rs", "patient/Observation.rs", true},
		{"patient/*.rs", "patient/Observation.r", true},
		{"patient/*.read", "patient/Observation.rs", true},
		{"patient/*.rs", "patient/Observation.read", true},
		{"patient/*.*", "patient/Observation.cruds", true},
		{"patient/*.cruds", "patient/Observation.*", true},
		{"patient/*.write", "patient/Observation.cud", true},
		{"patient/*.write", "patient/Observation.r", false},
		{"patient/*.read", "patient/Observation.write", false},
		{"patient/*.rs", "patient/Observation.cruds", false},
		{"patient/*.rs", "patient/*.rs", true},
		{"patient/Observation.rs", "patient/*.rs", false},
		{"patient/Observation.rs", "patient/Condition.rs", false},
		{"patient/Observation.s", "patient/Observation.r", false},
		// Contexts never cross.
		{"user/*.cruds", "patient/Observation.r", false},
		{"patient/*.cruds", "user/Observation.r", false},
		{"system/*.cruds", "user/Observation.r", false},
		{"user/*.read", "user/Patient.read", true},
		// Granular: unrestricted covers restricted, not the reverse.
		{"patient/Observation.rs", lab, true},
		{"patient/*.rs", lab, true},
		{"patient/Observation.r", lab, false},
		{lab, "patient/Observation.rs", false},
		{lab, lab, true},
		// Values compare decoded: %7C is |.
		{lab, "patient/Observation.rs?category=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fobservation-category%7Claboratory", true},
		{lab, labLOINC, true},
		{labLOINC, lab, false},
		{lab, vitals, false},
		{lab, "patient/Observation.r?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", true},
		{lab, "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", false},
		// Non-resource scopes.
		{"launch", "launch", true},
		{"openid", "openid", true},
		{"fhirUser", "openid", false},
		{"openid", "fhirUser", false},
		{"launch", "launch/patient", false},
		{"launch/patient", "launch/patient", true},
		{"launch/patient", "launch/encounter", false},
		{"launch/location", "launch/location?role=http://x/admit", true},
		{"launch/location?role=http://x/admit", "launch/location", false},
		{"launch/location?role=http://x/admit", "launch/location?role=http://x/other", false},
		{"offline_access", "online_access", false},
		{"offline_access", "offline_access", true},
		{"patient/*.cruds", "launch/patient", false},
	}
	for _, tt := range tests {
		if got := Covers(mustParse(t, tt.allowed), mustParse(t, tt.requested)); got != tt.want {
			t.Errorf("Covers(%q, %q) = %v, want %v", tt.allowed, tt.requested, got, tt.want)
		}
	}
	if Covers(Scope{}, Scope{}) || Covers(mustParse(t, "patient/*.cruds"), Scope{Kind: KindResource}) {
		t.Error("zero scopes must never cover or be covered")
	}
}

// TestSCP02_GrantReturnsV1Unchanged: granted strings are exactly the
// requested ones, in request order, duplicates listed once.
func TestSCP02_GrantReturnsV1Unchanged(t *testing.T) {
	req := mustList(t, "launch/patient patient/Observation.read openid patient/Condition.write user/Patient.read patient/Observation.read fhirUser")
	allowed := mustList(t, "launch/patient openid fhirUser patient/*.rs")
	granted, refused := Grant(req, allowed)
	if got, want := raws(granted), []string{"launch/patient", "patient/Observation.read", "openid", "fhirUser"}; !slices.Equal(got, want) {
		t.Errorf("granted = %q, want %q", got, want)
	}
	if got, want := raws(refused), []string{"patient/Condition.write", "user/Patient.read"}; !slices.Equal(got, want) {
		t.Errorf("refused = %q, want %q", got, want)
	}
	if Join(granted) != "launch/patient patient/Observation.read openid fhirUser" {
		t.Errorf("Join = %q", Join(granted))
	}
}

// TestAZ12_GrantWithoutAllowedListTakesEveryValidScope: an empty
// client.scope means any valid SMART scope; invalid zero scopes are refused.
func TestAZ12_GrantWithoutAllowedListTakesEveryValidScope(t *testing.T) {
	req := mustList(t, "launch patient/*.cruds system/Observation.rs offline_access launch launch/encounter")
	req = append(req, Scope{})
	for _, allowed := range [][]Scope{nil, {}} {
		granted, refused := Grant(req, allowed)
		if got, want := raws(granted), []string{"launch", "patient/*.cruds", "system/Observation.rs", "offline_access", "launch/encounter"}; !slices.Equal(got, want) {
			t.Errorf("granted = %q, want %q", got, want)
		}
		if len(refused) != 1 || refused[0].Kind != KindUnknown {
			t.Errorf("refused = %+v, want the zero scope", refused)
		}
	}
	if g, r := Grant(nil, nil); g != nil || r != nil {
		t.Errorf("Grant(nil) = %v, %v", g, r)
	}
}

// TestSCP05_GranularSelection: the user narrows Condition/Observation to
// category scopes; the grant lists only those plus the Patient scope.
func TestSCP05_GranularSelection(t *testing.T) {
	requested := mustList(t, "patient/Condition.rs patient/Observation.rs patient/Patient.rs")
	// The consent screen turns the user's choice into this narrower request,
	// which must be covered by what the app asked for.
	chosen := mustList(t, "patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item "+
		vitals+" patient/Patient.rs")
	granted, refused := Grant(chosen, requested)
	if len(refused) != 0 || !slices.Equal(raws(granted), raws(chosen)) {
		t.Fatalf("granted %q refused %q", raws(granted), raws(refused))
	}
	set := NewSet(granted)
	if d := set.Decide("Observation", Search); !d.Allowed || !d.PatientOnly || len(d.Filters) != 1 {
		t.Errorf("Observation search = %+v, want one category filter", d)
	}
	if d := set.Decide("Patient", Read); !d.Allowed || d.Filters != nil {
		t.Errorf("Patient read = %+v, want unfiltered", d)
	}
}

// TestSCP06_CategoryScopesGrantedWithoutWidening: the US Core category
// scopes parse, are granted exactly, and no wider scope sneaks in.
func TestSCP06_CategoryScopesGrantedWithoutWidening(t *testing.T) {
	group1 := []string{
		"patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|encounter-diagnosis",
		"patient/Condition.rs?category=http://hl7.org/fhir/us/core/CodeSystem/condition-category|health-concern",
		lab,
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|social-history",
	}
	group2 := []string{
		"patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",
		vitals,
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|survey",
		"patient/Observation.rs?category=http://hl7.org/fhir/us/core/CodeSystem/us-core-category|sdoh",
	}
	for _, group := range [][]string{group1, group2} {
		var req []Scope
		wantFilters := map[string][][]Param{}
		for _, s := range group {
			sc := mustParse(t, s)
			_, val, _ := strings.Cut(s, "?category=")
			if len(sc.Params) != 1 || sc.Params[0] != (Param{"category", val}) {
				t.Errorf("Parse(%q).Params = %+v", s, sc.Params)
			}
			wantFilters[sc.ResourceType] = append(wantFilters[sc.ResourceType], sc.Params)
			req = append(req, sc)
		}
		req = append(req, mustParse(t, "patient/Patient.rs"))
		for _, allowed := range [][]Scope{nil, mustList(t, "patient/*.rs"), mustList(t, "patient/Condition.rs patient/Observation.rs patient/Patient.rs")} {
			granted, refused := Grant(req, allowed)
			if len(refused) != 0 || !slices.Equal(raws(granted), raws(req)) {
				t.Errorf("allowed %q: granted %q refused %q", raws(allowed), raws(granted), raws(refused))
			}
			set := NewSet(granted)
			for _, typ := range []string{"Condition", "Observation"} {
				for _, in := range []Interaction{Read, Search} {
					d := set.Decide(typ, in)
					if !d.Allowed || !d.PatientOnly || !filtersEqual(d.Filters, wantFilters[typ]) {
						t.Errorf("%s %c = %+v, want filters %v", typ, in, d, wantFilters[typ])
					}
				}
				if d := set.Decide(typ, Create); d.Allowed {
					t.Errorf("%s create allowed by a read grant", typ)
				}
			}
		}
	}
	// Letters split over two allowed scopes do not combine: each requested
	// scope needs one allowed scope that covers it.
	if g, _ := Grant(mustList(t, "patient/Patient.rs"), mustList(t, "patient/Patient.r patient/Patient.s")); len(g) != 0 {
		t.Errorf("granted %q from split letters", raws(g))
	}
	// A client allowed only laboratory cannot obtain vital signs or the
	// whole Observation type.
	allowed := mustList(t, lab)
	granted, refused := Grant(mustList(t, lab+" "+vitals+" patient/Observation.rs patient/*.rs"), allowed)
	if !slices.Equal(raws(granted), []string{lab}) || len(refused) != 3 {
		t.Errorf("granted %q refused %q", raws(granted), raws(refused))
	}
}

func filtersEqual(a, b [][]Param) bool {
	return slices.EqualFunc(a, b, func(x, y []Param) bool { return slices.Equal(x, y) })
}
