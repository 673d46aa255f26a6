package scopes

import (
	"testing"
)

type decideCase struct {
	typ     string
	in      Interaction
	allowed bool
	patient bool
	filters [][]Param
}

func checkDecisions(t *testing.T, scopes string, cases []decideCase) {
	t.Helper()
	set := NewSet(mustList(t, scopes))
	for _, c := range cases {
		d := set.Decide(c.typ, c.in)
		if d.Allowed != c.allowed || d.PatientOnly != c.patient || !filtersEqual(d.Filters, c.filters) ||
			(c.filters == nil) != (d.Filters == nil) {
			t.Errorf("[%s] Decide(%s, %c) = %+v, want allowed=%v patientOnly=%v filters=%v",
				scopes, c.typ, c.in, d, c.allowed, c.patient, c.filters)
		}
	}
}

// TestRS07_InteractionLetters: each letter grants exactly its interaction.
func TestRS07_InteractionLetters(t *testing.T) {
	all := []Interaction{Create, Read, Update, Delete, Search}
	for _, letters := range []string{"c", "r", "u", "d", "s", "cd", "rs", "cruds", "us"} {
		set := NewSet(mustList(t, "user/Observation."+letters))
		for _, in := range all {
			want := false
			for i := 0; i < len(letters); i++ {
				want = want || letters[i] == byte(in)
			}
			if d := set.Decide("Observation", in); d.Allowed != want || d.PatientOnly || d.Filters != nil {
				t.Errorf("user/Observation.%s: Decide(%c) = %+v, want allowed=%v", letters, in, d, want)
			}
			if d := set.Decide("Condition", in); d.Allowed {
				t.Errorf("user/Observation.%s grants Condition %c", letters, in)
			}
		}
	}
	set := NewSet(mustList(t, "user/*.cruds"))
	for _, in := range []Interaction{0, 'x', 'R', 'S'} {
		if d := set.Decide("Observation", in); d.Allowed {
			t.Errorf("unknown interaction %q allowed", in)
		}
	}
	if d := set.Decide("", Read); d.Allowed {
		t.Error("empty resource type allowed")
	}
}

// TestRS08_LettersIndependent: write does not imply read; r and s are separate.
func TestRS08_LettersIndependent(t *testing.T) {
	checkDecisions(t, "patient/Observation.r patient/Condition.s patient/Patient.cud", []decideCase{
		{"Observation", Read, true, true, nil},
		{"Observation", Search, false, false, nil},
		{"Condition", Search, true, true, nil},
		{"Condition", Read, false, false, nil},
		{"Patient", Create, true, true, nil},
		{"Patient", Update, true, true, nil},
		{"Patient", Delete, true, true, nil},
		{"Patient", Read, false, false, nil},
		{"Patient", Search, false, false, nil},
	})
}

var (
	catLab    = []Param{{"category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}}
	catVitals = []Param{{"category", "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"}}
	labHgb    = []Param{catLab[0], {"code", "http://loinc.org|4548-4"}}
)

// TestRS09_GranularFilters: OR across scopes, AND within one; a
// resource-level scope (exact or *) for the same type widens to everything.
func TestRS09_GranularFilters(t *testing.T) {
	checkDecisions(t, lab+" "+vitals, []decideCase{
		{"Observation", Search, true, true, [][]Param{catLab, catVitals}},
		{"Observation", Read, true, true, [][]Param{catLab, catVitals}},
		{"Observation", Create, false, false, nil},
		{"Condition", Read, false, false, nil},
	})
	checkDecisions(t, labLOINC, []decideCase{
		{"Observation", Search, true, true, [][]Param{labHgb}},
	})
	// A narrower scope adds nothing next to a wider one of the same type.
	checkDecisions(t, labLOINC+" "+lab+" "+lab, []decideCase{
		{"Observation", Search, true, true, [][]Param{catLab}},
	})
	// Unfiltered wins, whether exact-type or wildcard, in either order.
	for _, scopes := range []string{
		lab + " patient/Observation.rs",
		"patient/Observation.rs " + lab,
		lab + " patient/*.rs",
		"patient/*.read " + vitals,
	} {
		checkDecisions(t, scopes, []decideCase{
			{"Observation", Search, true, true, nil},
			{"Observation", Read, true, true, nil},
		})
	}
	// Unfiltered only for some letters: filters stay for the others.
	checkDecisions(t, "patient/Observation.r "+lab, []decideCase{
		{"Observation", Read, true, true, nil},
		{"Observation", Search, true, true, [][]Param{catLab}},
	})
	// A filtered wildcard applies to every type and merges with exact ones.
	tag := []Param{{"_security", "http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N"}}
	checkDecisions(t, "user/*.rs?_security=http://terminology.hl7.org/CodeSystem/v3-Confidentiality|N "+
		"user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory", []decideCase{
		{"Condition", Read, true, false, [][]Param{tag}},
		{"Observation", Search, true, false, [][]Param{catLab, tag}}, // exact type first
	})
}

// TestRS10_V1EnforcedAsV2: .read is r+s, .write is c+u+d (no read), .* all.
func TestRS10_V1EnforcedAsV2(t *testing.T) {
	checkDecisions(t, "patient/Observation.read patient/Condition.write user/Patient.*", []decideCase{
		{"Observation", Read, true, true, nil},
		{"Observation", Search, true, true, nil},
		{"Observation", Update, false, false, nil},
		{"Condition", Create, true, true, nil},
		{"Condition", Update, true, true, nil},
		{"Condition", Delete, true, true, nil},
		{"Condition", Read, false, false, nil},
		{"Condition", Search, false, false, nil},
		{"Patient", Read, true, false, nil},
		{"Patient", Delete, true, false, nil},
	})
}

// TestRS11_UserAndSystemLiftCompartment: any user/ or system/ grant makes
// PatientOnly false; patient/ alone keeps it; wildcards count for every type.
func TestRS11_UserAndSystemLiftCompartment(t *testing.T) {
	checkDecisions(t, "patient/*.rs user/Observation.r system/Condition.s", []decideCase{
		{"Observation", Read, true, false, nil},
		{"Observation", Search, true, true, nil},
		{"Condition", Search, true, false, nil},
		{"Condition", Read, true, true, nil},
		{"Encounter", Read, true, true, nil},
		{"Encounter", Create, false, false, nil},
	})
	// Filtered user/ plus unfiltered patient/: the user/ filters apply and
	// the compartment restriction is lifted (patient/ filters never leak
	// outside the compartment).
	userLab := "user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
	checkDecisions(t, "patient/Observation.rs "+userLab, []decideCase{
		{"Observation", Search, true, false, [][]Param{catLab}},
	})
	checkDecisions(t, vitals+" "+userLab, []decideCase{
		{"Observation", Search, true, false, [][]Param{catLab}},
	})
}

// TestRS12_SystemScopes: system/ scopes grant without compartment and only
// what they name.
func TestRS12_SystemScopes(t *testing.T) {
	checkDecisions(t, "system/Patient.rs system/Observation.read", []decideCase{
		{"Patient", Read, true, false, nil},
		{"Observation", Search, true, false, nil},
		{"Observation", Create, false, false, nil},
		{"Condition", Read, false, false, nil},
	})
}

func TestSetHas(t *testing.T) {
	set := NewSet(mustList(t, "openid fhirUser launch launch/patient?role=http://x/r offline_access patient/*.rs"))
	for _, k := range []Kind{KindOpenID, KindFHIRUser, KindLaunch, KindLaunchContext, KindOfflineAccess, KindResource} {
		if !set.Has(k) {
			t.Errorf("Has(%s) = false", k)
		}
	}
	for _, k := range []Kind{KindUnknown, KindProfile, KindOnlineAccess, Kind(-1), Kind(99)} {
		if set.Has(k) {
			t.Errorf("Has(%s) = true", k)
		}
	}
	if !set.HasLaunchContext("patient") || set.HasLaunchContext("encounter") {
		t.Error("HasLaunchContext wrong")
	}
	if len(set.Scopes()) != 6 {
		t.Errorf("Scopes = %v", set.Scopes())
	}
	var nilSet *Set
	if nilSet.Has(KindOpenID) || nilSet.Decide("Patient", Read).Allowed || nilSet.HasLaunchContext("patient") || nilSet.Scopes() != nil {
		t.Error("nil Set must grant nothing")
	}
	empty := NewSet(nil)
	if empty.Decide("Patient", Read).Allowed || empty.Has(KindOpenID) {
		t.Error("empty Set must grant nothing")
	}
	// Zero or out-of-range scopes are ignored, not indexed.
	odd := NewSet([]Scope{{}, {Kind: Kind(42)}, {Kind: KindResource, Context: "nurse", ResourceType: "Patient", Perms: PermR}})
	if odd.Decide("Patient", Read).Allowed || odd.Has(KindResource) == false {
		t.Errorf("odd scopes: %+v", odd.Decide("Patient", Read))
	}
}

// TestDecideDoesNotAllocate: Decide runs on every FHIR request.
func TestDecideDoesNotAllocate(t *testing.T) {
	set := NewSet(mustList(t, benchScopes))
	allocs := testing.AllocsPerRun(200, func() {
		set.Decide("Observation", Search)
		set.Decide("Encounter", Read)
		set.Decide("Basic", Delete)
	})
	if allocs != 0 {
		t.Errorf("Decide allocates %v times per run", allocs)
	}
}

const benchScopes = "launch/patient openid fhirUser offline_access patient/Patient.rs patient/Condition.rs " + lab + " " + vitals +
	" patient/Encounter.read patient/MedicationRequest.rs patient/AllergyIntolerance.rs user/Practitioner.rs patient/*.s"

func BenchmarkDecide(b *testing.B) {
	set := NewSet(mustList(b, benchScopes))
	types := []string{"Observation", "Patient", "Encounter", "Practitioner", "Immunization"}
	b.ReportAllocs()
	var n int
	for i := 0; b.Loop(); i++ {
		if set.Decide(types[i%len(types)], Read).Allowed {
			n++
		}
	}
	_ = n
}

func BenchmarkNewSet(b *testing.B) {
	scopes := mustList(b, benchScopes)
	b.ReportAllocs()
	for b.Loop() {
		NewSet(scopes)
	}
}

// TestRS09_Matches: OR over entries, AND within one, nil matches all.
func TestRS09_Matches(t *testing.T) {
	has := func(ps ...Param) func(Param) bool {
		return func(p Param) bool {
			for _, q := range ps {
				if p == q {
					return true
				}
			}
			return false
		}
	}
	hgb := labHgb[1]
	tests := []struct {
		filters [][]Param
		res     []Param
		want    bool
	}{
		{nil, nil, true},
		{[][]Param{}, catLab, false},
		{[][]Param{catLab, catVitals}, catVitals, true},
		{[][]Param{catLab, catVitals}, []Param{hgb}, false},
		{[][]Param{labHgb}, catLab, false},
		{[][]Param{labHgb}, []Param{catLab[0], hgb}, true},
	}
	for i, tt := range tests {
		if got := Matches(tt.filters, has(tt.res...)); got != tt.want {
			t.Errorf("case %d: Matches = %v, want %v", i, got, tt.want)
		}
	}
}
