package authui

import (
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

func TestConsentWordingFollowsLaunchUserAndPatient(t *testing.T) {
	clinicianEHR := consentContext{EHR: true, UserKind: "Practitioner", UserName: "Dr. Adam Careful", PatientName: "Amy Shaw"}
	clinicianStandalone := consentContext{UserKind: "Practitioner", UserName: "Dr. Adam Careful", PatientName: "Amy Shaw"}
	patientSelf := consentContext{UserKind: "Patient", UserName: "Amy Shaw", PatientName: "Amy Shaw", OwnRecord: true}
	parent := consentContext{UserKind: "RelatedPerson", UserName: "Mary Shaw", PatientName: "Amy Shaw"}
	for _, c := range []struct {
		scope string
		ctx   consentContext
		want  string
	}{
		{"patient/*.rs", clinicianEHR, "Read and search all Amy Shaw's health records (any type)"},
		{"patient/*.rs", parent, "Read and search all Amy Shaw's health records (any type)"},
		{"patient/*.rs", patientSelf, "Read and search all your health records (any type)"},
		{"patient/*.rs", consentContext{UserKind: "Practitioner"}, "Read and search all the patient's health records (any type)"},
		{"user/*.rs", clinicianEHR, "Read and search all health records you can access (any type)"},
		{"launch/patient", clinicianEHR, "Know which patient is open in the EHR (Amy Shaw)"},
		{"launch/patient", clinicianStandalone, "Know which patient you chose (Amy Shaw)"},
		{"launch/patient", patientSelf, "Know that the record is yours"},
		{"launch/encounter", clinicianStandalone, "Know which encounter you chose"},
		{"launch/encounter", clinicianEHR, "Know which encounter is open in the EHR"},
		{"fhirUser", clinicianStandalone, "Know who you are: your user record (Dr. Adam Careful)"},
		{"online_access", clinicianStandalone, "Stay signed in while you use the app (online access)"},
		{"offline_access", patientSelf, "Stay signed in (offline access)"},
	} {
		sc, err := scopes.Parse(c.scope)
		if err != nil {
			t.Fatal(err)
		}
		if got := describeScope(sc, c.ctx); got != c.want {
			t.Errorf("%s for %+v:\n got %q\nwant %q", c.scope, c.ctx, got, c.want)
		}
	}
	if got := consentHeading(clinicianEHR); got != "to access Amy Shaw's record on your behalf?" {
		t.Errorf("clinician heading %q", got)
	}
	if got := consentHeading(patientSelf); got != "to access your data?" {
		t.Errorf("patient heading %q", got)
	}
}

func TestPersonDetailIsTheLaunchersLine(t *testing.T) {
	now := time.Date(2025, 3, 20, 12, 0, 0, 0, time.UTC)
	p := smart.PersonSummary{Gender: "female", BirthDate: "2024-01-15", MRN: "MRN-3"}
	if got := personDetail(p, now); got != "14 mo, Female · DOB 2024-01-15 · MRN MRN-3" {
		t.Errorf("got %q", got)
	}
	if got := personDetail(smart.PersonSummary{Gender: "male"}, now); got != "Male" {
		t.Errorf("no birth date: %q", got)
	}
}

func TestErrorPageInspectsTheLaunch(t *testing.T) {
	h := &Handler{Issuer: "http://h:8080/auth"}
	for target, want := range map[string]string{
		"/auth/authorize?launch=abc.def&client_id=x":                    "http://h:8080/inspect?launch=abc.def",
		"/auth/authorize?aud=http%3A%2F%2Fh%3A8080%2Fsim%2Fscn1%2Ffhir": "http://h:8080/inspect?launch=scn1",
		"/auth/authorize?aud=http%3A%2F%2Fh%3A8080%2Ffhir":              "http://h:8080/inspect",
		"/auth/consent": "http://h:8080/inspect",
	} {
		if got := h.inspectLink(httptest.NewRequest("GET", target, nil)); got != want {
			t.Errorf("%s: %q, want %q", target, got, want)
		}
	}
}
