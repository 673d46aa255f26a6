package scopes

import (
	"slices"
	"strings"
	"testing"
)

// TestSCP01_V2GrammarAccepted: (patient|user|system)/(Type|*).<cruds subset>[?p=v(&p=v)*].
func TestSCP01_V2GrammarAccepted(t *testing.T) {
	tests := []struct {
		in     string
		ctx    Context
		typ    string
		perms  string
		params []Param
	}{
		{"patient/Observation.rs", ContextPatient, "Observation", "rs", nil},
		{"user/*.cruds", ContextUser, "*", "cruds", nil},
		{"system/Patient.r", ContextSystem, "Patient", "r", nil},
		{"patient/Condition.s", ContextPatient, "Condition", "s", nil},
		{"user/Observation.cud", ContextUser, "Observation", "cud", nil},
		{"patient/MedicationRequest.c", ContextPatient, "MedicationRequest", "c", nil},
		{"patient/Encounter.crds", ContextPatient, "Encounter", "crds", nil},
		{"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory",
			ContextPatient, "Observation", "rs",
			[]Param{{"category", "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}}},
		{"patient/Observation.rs?category=laboratory&code=http://loinc.org|4548-4",
			ContextPatient, "Observation", "rs",
			[]Param{{"category", "laboratory"}, {"code", "http://loinc.org|4548-4"}}},
		{"patient/Observation.rs?category=http%3A%2F%2Fterminology.hl7.org%2FCodeSystem%2Fobservation-category%7Cvital-signs",
			ContextPatient, "Observation", "rs",
			[]Param{{"category", "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs"}}},
		{"user/Observation.s?code:in=http://example.org/vs=1", ContextUser, "Observation", "s",
			[]Param{{"code:in", "http://example.org/vs=1"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sc, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if sc.Raw != tt.in || sc.Kind != KindResource || sc.Context != tt.ctx || sc.ResourceType != tt.typ ||
				sc.Perms.String() != tt.perms || sc.V1 || !slices.Equal(sc.Params, tt.params) {
				t.Errorf("Parse(%q) = %+v", tt.in, sc)
			}
		})
	}
}

// TestSCP02_V1MappedToV2Letters: read→rs, write→cud, *→cruds; Raw unchanged.
func TestSCP02_V1MappedToV2Letters(t *testing.T) {
	tests := []struct{ in, perms string }{
		{"patient/*.read", "rs"},
		{"patient/Observation.read", "rs"},
		{"user/Patient.write", "cud"},
		{"system/*.*", "cruds"},
		{"user/Observation.*", "cruds"},
	}
	for _, tt := range tests {
		sc, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if !sc.V1 || sc.Perms.String() != tt.perms || sc.Raw != tt.in || sc.Kind != KindResource {
			t.Errorf("Parse(%q) = %+v, want V1 with perms %s", tt.in, sc, tt.perms)
		}
	}
}

// TestSCP03_BadPermissionsRejected: out-of-order, repeated or unknown
// letters are errors, and ".read" is never read as letters.
func TestSCP03_BadPermissionsRejected(t *testing.T) {
	tests := []struct{ in, reason string }{
		{"patient/Observation.rr", "permissions must be a non-empty in-order subset of cruds"},
		{"patient/Observation.sr", "permissions must be a non-empty in-order subset of cruds"},
		{"patient/Observation.dus", "permissions must be a non-empty in-order subset of cruds"},
		{"patient/Observation.", "permissions must be a non-empty in-order subset of cruds"},
		{"patient/Observation.crudss", "permissions must be a non-empty in-order subset of cruds"},
		{"patient/Observation.x", "permissions must be a non-empty in-order subset of cruds"},
		{"patient/Observation.reads", "permissions must be a non-empty in-order subset of cruds"},
		{"patient/Observation.Read", "permissions must be a non-empty in-order subset of cruds"},
		{"patient/Observation", "resource scope needs .<permissions> after the resource type"},
		{"patient/observation.rs", `resource type "observation" must be * or a FHIR resource type (letters, starting with a capital)`},
		{"patient/.rs", `resource type "" must be * or a FHIR resource type (letters, starting with a capital)`},
		{"patient/Obs3rvation.rs", `resource type "Obs3rvation" must be * or a FHIR resource type (letters, starting with a capital)`},
		{"Patient/Observation.rs", `unknown scope context "Patient" (want patient, user or system)`},
		{"practitioner/Observation.rs", `unknown scope context "practitioner" (want patient, user or system)`},
		{"patient/Observation.read?category=laboratory", "granular ?parameters need v2 permissions (cruds letters), not v1 .read"},
		{"patient/Observation.rs?", "granular scope has ? but no parameters"},
		{"patient/Observation.rs?category", `granular parameter "category" must be name=value`},
		{"patient/Observation.rs?=x", `granular parameter "=x" must be name=value`},
		{"patient/Observation.rs?category=", `granular parameter "category" needs a value`},
		{"patient/Observation.rs?category=a&", `granular parameter "" must be name=value`},
		{"patient/Observation.rs?category=%zz", `granular parameter "category" has a bad percent-encoding in its value`},
		{"patient/Observation.rs?cat%20egory=x", `granular parameter name "cat%20egory" must be a FHIR search parameter name`},
		{"email", "unknown scope (not a SMART resource, launch or identity scope)"},
		{"OpenID", "unknown scope (not a SMART resource, launch or identity scope)"},
		{"fhiruser", "unknown scope (not a SMART resource, launch or identity scope)"},
		{"", "empty scope"},
		{"patient/Observation.rs\t", "contains a character not allowed in a scope (RFC 6749 §3.3 allows visible ASCII except \" and \\)"},
		{"patient/Observation.rs?code=\"x\"", "contains a character not allowed in a scope (RFC 6749 §3.3 allows visible ASCII except \" and \\)"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sc, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %+v, want error", tt.in, sc)
			}
			if want := tt.in + ": " + tt.reason; err.Error() != want {
				t.Errorf("error = %q, want %q", err, want)
			}
			if sc.Kind != KindUnknown || sc.Raw != "" {
				t.Errorf("failed Parse returned a non-zero scope %+v", sc)
			}
		})
	}
}

// TestSCP04_NonResourceScopes: launch, launch/<type>[?role=], identity and
// refresh scopes are recognized.
func TestSCP04_NonResourceScopes(t *testing.T) {
	tests := []struct {
		in         string
		kind       Kind
		launchType string
		role       string
	}{
		{"launch", KindLaunch, "", ""},
		{"launch/patient", KindLaunchContext, "patient", ""},
		{"launch/encounter", KindLaunchContext, "encounter", ""},
		{"launch/practitionerrole", KindLaunchContext, "practitionerrole", ""},
		{"launch/location?role=https://example.org/role/admitting", KindLaunchContext, "location", "https://example.org/role/admitting"},
		{"launch/patient?role=http%3A%2F%2Fexample.org%2Fr", KindLaunchContext, "patient", "http://example.org/r"},
		{"openid", KindOpenID, "", ""},
		{"fhirUser", KindFHIRUser, "", ""},
		{"profile", KindProfile, "", ""},
		{"offline_access", KindOfflineAccess, "", ""},
		{"online_access", KindOnlineAccess, "", ""},
	}
	for _, tt := range tests {
		sc, err := Parse(tt.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.in, err)
		}
		if sc.Raw != tt.in || sc.Kind != tt.kind || sc.LaunchType != tt.launchType || sc.Role != tt.role ||
			sc.Context != "" || sc.Perms != 0 {
			t.Errorf("Parse(%q) = %+v", tt.in, sc)
		}
	}
	bad := []struct{ in, reason string }{
		{"launch/", "launch context scope needs a type, e.g. launch/patient"},
		{"launch/Patient", `launch context type "Patient" must be a lowercase resource type, e.g. launch/patient`},
		{"launch/patient2", `launch context type "patient2" must be a lowercase resource type, e.g. launch/patient`},
		{"launch/patient?role=a&role=b", "launch context scope takes only one ?role=<uri> parameter"},
		{"launch/patient?kind=a", "launch context scope takes only one ?role=<uri> parameter"},
		{"launch/patient?role=", `granular parameter "role" needs a value`},
		{"launch/patient?", "granular scope has ? but no parameters"},
	}
	for _, tt := range bad {
		_, err := Parse(tt.in)
		if err == nil || err.Error() != tt.in+": "+tt.reason {
			t.Errorf("Parse(%q) error = %v, want %q", tt.in, err, tt.reason)
		}
	}
}

// TestAZ13_ParseListKeepsEveryScope: the §14 strings, including granular
// ones with ? = | :, survive a scope parameter with runs of spaces.
func TestAZ13_ParseListKeepsEveryScope(t *testing.T) {
	in := "  launch launch/patient   launch/encounter fhirUser openid patient/*.rs " +
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory  bogus patient/X.rr "
	scopes, errs := ParseList(in)
	want := []string{"launch", "launch/patient", "launch/encounter", "fhirUser", "openid", "patient/*.rs",
		"patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"}
	var got []string
	for _, sc := range scopes {
		got = append(got, sc.Raw)
	}
	if !slices.Equal(got, want) {
		t.Errorf("scopes = %q, want %q", got, want)
	}
	if len(errs) != 2 || !strings.HasPrefix(errs[0].Error(), "bogus: ") || !strings.HasPrefix(errs[1].Error(), "patient/X.rr: ") {
		t.Errorf("errs = %v, want errors for bogus and patient/X.rr", errs)
	}
	if s, e := ParseList("   "); s != nil || e != nil {
		t.Errorf("ParseList(blank) = %v, %v; want nothing", s, e)
	}
	if got := Join(scopes); got != strings.Join(want, " ") {
		t.Errorf("Join = %q", got)
	}
}

func TestPermsString(t *testing.T) {
	if got := (PermS | PermC | PermD).String(); got != "cds" {
		t.Errorf("String = %q, want cds", got)
	}
	if got := Perms(0).String(); got != "" {
		t.Errorf("zero String = %q", got)
	}
	if got := PermAll.String(); got != "cruds" {
		t.Errorf("PermAll = %q", got)
	}
	if !PermR.Allows(Read) || PermR.Allows(Search) || PermAll.Allows(Interaction('x')) {
		t.Error("Allows wrong")
	}
}

func TestKindAndScopeString(t *testing.T) {
	if KindFHIRUser.String() != "fhirUser" || KindResource.String() != "resource" || Kind(99).String() != "unknown" || Kind(-1).String() != "unknown" {
		t.Error("Kind.String wrong")
	}
	if s := mustParse(t, "patient/*.read"); s.String() != "patient/*.read" {
		t.Errorf("Scope.String = %q", s.String())
	}
	for _, in := range []Interaction{Create, Read, Update, Delete, Search} {
		if in.Perm().String() != string(rune(in)) {
			t.Errorf("%c.Perm() = %s", in, in.Perm())
		}
	}
}
