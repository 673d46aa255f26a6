package scopes

import "strings"

// typeNames are plain-language names for the resource types a consent
// screen most often shows (US Core 6/7 profiles); other types fall back to
// "<Type> records".
var typeNames = map[string]string{
	"AllergyIntolerance": "allergies", "CarePlan": "care plans", "CareTeam": "care team",
	"Condition": "conditions", "Coverage": "insurance coverage", "Device": "implanted devices",
	"DiagnosticReport": "diagnostic reports", "DocumentReference": "clinical documents",
	"Encounter": "visits", "Goal": "health goals", "Immunization": "immunizations",
	"Location": "locations", "Medication": "medications", "MedicationDispense": "medication dispenses",
	"MedicationRequest": "prescriptions", "Observation": "observations",
	"Organization": "organizations", "Patient": "demographics", "Practitioner": "care providers",
	"PractitionerRole": "care provider roles", "Procedure": "procedures",
	"Provenance": "record provenance", "QuestionnaireResponse": "questionnaire answers",
	"RelatedPerson": "related people", "ServiceRequest": "orders and referrals", "Specimen": "specimens",
}

// categoryNames name the category codes of SCP-06 (and a few neighbours),
// keyed by "<Type>|<code>".
var categoryNames = map[string]string{
	"Observation|laboratory": "lab results", "Observation|vital-signs": "vital signs",
	"Observation|social-history": "social history", "Observation|survey": "survey answers",
	"Observation|sdoh": "social needs (SDOH) assessments", "Observation|imaging": "imaging results",
	"Observation|exam": "exam findings", "Observation|procedure": "procedure results",
	"Observation|activity": "activity measurements", "Observation|therapy": "therapy observations",
	"Condition|problem-list-item": "problem list", "Condition|encounter-diagnosis": "visit diagnoses",
	"Condition|health-concern":        "health concerns",
	"DocumentReference|clinical-note": "clinical notes",
	"DiagnosticReport|LAB":            "lab reports",
}

var fixedText = map[Kind]string{
	KindLaunch:        "Know the EHR context it was launched from (patient, encounter)",
	KindOpenID:        "Confirm who you are (sign in with OpenID Connect)",
	KindFHIRUser:      "Know who you are in the EHR (your user record)",
	KindProfile:       "See your basic profile (name)",
	KindOfflineAccess: "Stay signed in (offline access)",
	KindOnlineAccess:  "Stay signed in while you use the EHR (online access)",
}

var verbs = [5]string{"create", "read", "update", "delete", "search"}

// Describe writes one line of plain-language consent text for sc, e.g.
// "Read and search your lab results (Observation, category laboratory)" or
// "Stay signed in (offline access)".
func Describe(sc Scope) string {
	switch sc.Kind {
	case KindResource:
		return describeResource(sc)
	case KindLaunchContext:
		t := "Know which " + sc.LaunchType + " is open in the EHR"
		if sc.Role != "" {
			t += " (role " + sc.Role + ")"
		}
		return t
	}
	if t, ok := fixedText[sc.Kind]; ok {
		return t
	}
	return "Unrecognized permission " + sc.Raw
}

func describeResource(sc Scope) string {
	var vs []string
	for i, v := range verbs {
		if sc.Perms&(1<<i) != 0 {
			vs = append(vs, v)
		}
	}
	verb := listText(vs)
	if verb != "" {
		verb = strings.ToUpper(verb[:1]) + verb[1:]
	}
	what, detail := "health records", "any type"
	if sc.ResourceType != "*" {
		what, detail = typeNames[sc.ResourceType], sc.ResourceType
		if what == "" {
			what = sc.ResourceType + " records"
		}
	}
	for _, p := range sc.Params {
		code := p.Value
		if i := strings.LastIndexByte(code, '|'); i >= 0 {
			code = code[i+1:]
		}
		if p.Name == "category" {
			if n, ok := categoryNames[sc.ResourceType+"|"+code]; ok {
				what = n
			}
		}
		detail += ", " + p.Name + " " + code
	}
	all := ""
	if sc.ResourceType == "*" {
		all = "all "
	}
	var t string
	switch sc.Context {
	case ContextPatient:
		t = verb + " " + all + "your " + what
	case ContextUser:
		t = verb + " " + all + what + " you can access"
	default:
		t = verb + " " + all + what + " for any patient, without a user"
	}
	return t + " (" + detail + ")"
}

// listText joins words as "a", "a and b", "a, b and c".
func listText(ws []string) string {
	switch len(ws) {
	case 0:
		return ""
	case 1:
		return ws[0]
	}
	return strings.Join(ws[:len(ws)-1], ", ") + " and " + ws[len(ws)-1]
}
