package layout

import "testing"

func TestClinicalText(t *testing.T) {
	for in, want := range map[string]string{
		"Follow-up encounter (procedure)":                 "Follow-up encounter",
		"Allergy to tree pollen (finding)":                "Allergy to tree pollen",
		"Essential hypertension (disorder)":               "Essential hypertension",
		"Blood pressure panel with all children optional": "Blood pressure",
		"Penicillin":                          "Penicillin",
		"Body height":                         "Body height",
		"Injury of knee (disorder) (finding)": "Injury of knee (disorder)",
		"Pain (severity) of back":             "Pain (severity) of back",
		"":                                    "",
	} {
		if got := ClinicalText(in); got != want {
			t.Errorf("ClinicalText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ClinicalList("Asthma (disorder), Eczema (disorder)"); got != "Asthma, Eczema" {
		t.Errorf("ClinicalList = %q", got)
	}
}
