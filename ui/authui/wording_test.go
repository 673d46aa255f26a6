package authui

import (
	"context"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/smarttest"
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

func TestGrantRowsOnePerApp(t *testing.T) {
	dir := &smarttest.Directory{Patients: []smart.PersonSummary{{ID: "p1", Name: "Amy Shaw"}, {ID: "p2", Name: "Bob Kramer"}}}
	h := &Handler{Directory: dir, ClientName: func(_ context.Context, id string) string {
		if id == "sample-app" {
			return "ehrsim sample app"
		}
		return ""
	}}
	t0 := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	rows := h.grantRows(context.Background(), []smart.AppGrant{
		{ID: "f1", ClientID: "sample-app", Scopes: []string{"openid", "patient/*.rs"}, Patient: "p1", Expires: t0.Add(48 * time.Hour), Authorized: t0},
		{ID: "f2", ClientID: "other", Scopes: []string{"patient/*.rs"}, Patient: "p2", Expires: t0.Add(47 * time.Hour), Authorized: t0},
		{ID: "f3", ClientID: "sample-app", Scopes: []string{"patient/*.rs", "offline_access"}, Patient: "p2", Expires: t0.Add(24 * time.Hour), Authorized: t0.Add(time.Hour)},
	})
	if len(rows) != 2 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	r := rows[0]
	if r.App != "ehrsim sample app" || !slices.Equal(r.IDs, []string{"f1", "f3"}) || r.Launches != 2 ||
		!slices.Equal(r.Scopes, []string{"openid", "patient/*.rs", "offline_access"}) || r.Patients != "Amy Shaw, Bob Kramer" ||
		r.LastAuthorized != "2025-03-01 10:00:00 UTC" || r.Expires != "2025-03-03 09:00:00 UTC" {
		t.Errorf("sample-app row %+v", r)
	}
	if rows[1].App != "other" || rows[1].Patients != "Bob Kramer" {
		t.Errorf("other row %+v", rows[1])
	}
}
