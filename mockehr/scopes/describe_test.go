package scopes

import "testing"

func TestDescribe(t *testing.T) {
	tests := []struct{ in, want string }{
		{lab, "Read and search your lab results (Observation, category laboratory)"},
		{vitals, "Read and search your vital signs (Observation, category vital-signs)"},
		{"patient/Condition.rs?category=http://terminology.hl7.org/CodeSystem/condition-category|problem-list-item",
			"Read and search your problem list (Condition, category problem-list-item)"},
		{labLOINC, "Read and search your lab results (Observation, category laboratory, code 4548-4)"},
		{"patient/Observation.read", "Read and search your observations (Observation)"},
		{"patient/*.rs", "Read and search all your health records (any type)"},
		{"user/*.read", "Read and search all health records you can access (any type)"},
		{"system/*.*", "Create, read, update, delete and search all health records for any patient, without a user (any type)"},
		{"user/Patient.cruds", "Create, read, update, delete and search demographics you can access (Patient)"},
		{"system/Observation.write", "Create, update and delete observations for any patient, without a user (Observation)"},
		{"patient/Basic.r", "Read your Basic records (Basic)"},
		{"launch/patient", "Know which patient is open in the EHR"},
		{"launch/location?role=http://x/admit", "Know which location is open in the EHR (role http://x/admit)"},
		{"launch", "Know the EHR context it was launched from (patient, encounter)"},
		{"openid", "Confirm who you are (sign in with OpenID Connect)"},
		{"fhirUser", "Know who you are in the EHR (your user record)"},
		{"profile", "See your basic profile (name)"},
		{"offline_access", "Stay signed in (offline access)"},
		{"online_access", "Stay signed in while you use the EHR (online access)"},
	}
	for _, tt := range tests {
		if got := Describe(mustParse(t, tt.in)); got != tt.want {
			t.Errorf("Describe(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Describe(Scope{Raw: "x"}); got != "Unrecognized permission x" {
		t.Errorf("zero Describe = %q", got)
	}
}
