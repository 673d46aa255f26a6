// Package fhirtest builds small, hand-checked FHIR R4 data sets for the
// tests and benchmarks of mockehr/fhir and mockehr/fhirstore. It is test
// support only: production data comes from the fixtures package.
package fhirtest

import (
	"encoding/json"
	"fmt"
)

// Category and code systems used by the data.
const (
	ObsCategory  = "http://terminology.hl7.org/CodeSystem/observation-category"
	CondCategory = "http://terminology.hl7.org/CodeSystem/condition-category"
	CondClinical = "http://terminology.hl7.org/CodeSystem/condition-clinical"
	LOINC        = "http://loinc.org"
	SNOMED       = "http://snomed.info/sct"
	NPI          = "http://hl7.org/fhir/sid/us-npi"
	MRN          = "http://hospital.example.org/mrn"
)

// M is a JSON object literal.
type M = map[string]any

// A is a JSON array literal.
type A = []any

func raw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func ref(s string) M { return M{"reference": s} }

func cc(system, code, display string) M {
	return M{"coding": A{M{"system": system, "code": code, "display": display}}, "text": display}
}

// Patient builds a Patient.
func Patient(id, given, family, gender, birth, mrn string) json.RawMessage {
	return raw(M{"resourceType": "Patient", "id": id,
		"identifier": A{M{"system": MRN, "value": mrn, "type": cc("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "Medical record number")}},
		"name":       A{M{"use": "official", "family": family, "given": A{given}}},
		"gender":     gender, "birthDate": birth})
}

// Observation builds an Observation in category cat with a LOINC code.
func Observation(id, patient, cat, code, display, effective string) json.RawMessage {
	return raw(M{"resourceType": "Observation", "id": id, "status": "final",
		"category":          A{cc(ObsCategory, cat, cat)},
		"code":              cc(LOINC, code, display),
		"subject":           ref("Patient/" + patient),
		"effectiveDateTime": effective,
		"valueQuantity":     M{"value": 72, "unit": "/min"}})
}

// Condition builds a Condition.
func Condition(id, patient, cat, code, display, clinical string) json.RawMessage {
	return raw(M{"resourceType": "Condition", "id": id,
		"category":       A{cc(CondCategory, cat, cat)},
		"clinicalStatus": cc(CondClinical, clinical, clinical),
		"code":           cc(SNOMED, code, display),
		"subject":        ref("Patient/" + patient),
		"onsetDateTime":  "2015-03-01"})
}

// World is the small data set the flow tests use: two patients (p1 Amy
// Shaw, p2 Bob Jones) with resources of several types each, so a test can
// assert that nothing of p2 leaks to a token limited to p1.
func World() []json.RawMessage {
	return []json.RawMessage{
		Patient("p1", "Amy", "Shaw", "female", "1987-02-20", "MRN-001"),
		Patient("p2", "Bob", "Jones", "male", "1960-11-05", "MRN-002"),
		raw(M{"resourceType": "Practitioner", "id": "pr1",
			"identifier": A{M{"system": NPI, "value": "1234567893"}},
			"name":       A{M{"family": "Careful", "given": A{"Adam"}, "prefix": A{"Dr."}}}}),
		raw(M{"resourceType": "Practitioner", "id": "pr2", "name": A{M{"family": "Other", "given": A{"Olga"}}}}),
		raw(M{"resourceType": "PractitionerRole", "id": "prr1", "practitioner": ref("Practitioner/pr1"),
			"code": A{cc(SNOMED, "62247001", "Family medicine physician")}}),
		raw(M{"resourceType": "RelatedPerson", "id": "rp1", "patient": ref("Patient/p1"),
			"relationship": A{cc("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "MTH", "mother")},
			"name":         A{M{"family": "Shaw", "given": A{"Mary"}}}}),
		raw(M{"resourceType": "Organization", "id": "org1", "name": "Good Health Clinic"}),
		raw(M{"resourceType": "Medication", "id": "m1", "code": cc("http://www.nlm.nih.gov/research/umls/rxnorm", "860975", "metformin 500 MG")}),
		raw(M{"resourceType": "Encounter", "id": "e1", "status": "in-progress",
			"class":   M{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
			"type":    A{cc(SNOMED, "185349003", "Check-up")},
			"subject": ref("Patient/p1"), "period": M{"start": "2024-05-01T09:00:00Z"},
			"participant": A{M{"individual": ref("Practitioner/pr1")}},
			"location":    A{M{"location": M{"display": "Clinic room 3"}}}}),
		raw(M{"resourceType": "Encounter", "id": "e0", "status": "finished",
			"class":   M{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
			"subject": ref("Patient/p1"), "period": M{"start": "2023-01-01T09:00:00Z", "end": "2023-01-03T09:00:00Z"}}),
		raw(M{"resourceType": "Encounter", "id": "e2", "status": "finished",
			"class":   M{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
			"subject": ref("Patient/p2"), "period": M{"start": "2024-02-01T09:00:00Z", "end": "2024-02-01T10:00:00Z"}}),
		Observation("o1", "p1", "vital-signs", "8867-4", "Heart rate", "2024-05-01T09:10:00Z"),
		Observation("o2", "p1", "laboratory", "4548-4", "Hemoglobin A1c", "2023-12-15"),
		Observation("o3", "p2", "vital-signs", "8867-4", "Heart rate", "2024-02-01T09:15:00Z"),
		Observation("o4", "p2", "laboratory", "4548-4", "Hemoglobin A1c", "2024-01-20"),
		Condition("c1", "p1", "problem-list-item", "44054006", "Type 2 diabetes", "active"),
		Condition("c2", "p1", "problem-list-item", "38341003", "Hypertension", "active"),
		Condition("c3", "p1", "encounter-diagnosis", "444814009", "Viral sinusitis", "resolved"),
		Condition("c4", "p2", "problem-list-item", "195967001", "Asthma", "active"),
		raw(M{"resourceType": "MedicationRequest", "id": "mr1", "status": "active", "intent": "order",
			"subject": ref("Patient/p1"), "medicationReference": ref("Medication/m1"), "authoredOn": "2024-05-01"}),
		raw(M{"resourceType": "MedicationRequest", "id": "mr2", "status": "active", "intent": "order",
			"subject": ref("Patient/p2"), "medicationReference": ref("Medication/m1"), "authoredOn": "2024-01-01"}),
		raw(M{"resourceType": "Provenance", "id": "prov1", "target": A{ref("Observation/o1")}, "recorded": "2024-05-01T09:11:00Z",
			"agent": A{M{"who": ref("Practitioner/pr1")}}}),
		raw(M{"resourceType": "Provenance", "id": "prov3", "target": A{ref("Observation/o3")}, "recorded": "2024-02-01T09:16:00Z",
			"agent": A{M{"who": ref("Practitioner/pr1")}}}),
	}
}

// P2Only are ids and references that belong to patient p2 only: none may
// appear in a response to a token limited to p1.
var P2Only = []string{`"p2"`, "Patient/p2", `"o3"`, `"o4"`, `"c4"`, `"e2"`, `"mr2"`, `"prov3"`, "Bob", "Jones"}

// Generate emits a synthetic population: each patient has 20
// Observations (half vital-signs), 4 Conditions and 2 Encounters, and a
// unique family name ("Patel-00043"), so a search scoped to one patient or
// one name returns the same count at any size.
func Generate(patients int) []json.RawMessage {
	given := []string{"Amy", "Bob", "Carla", "Dev", "Emma", "Farid", "Grace", "Hiro"}
	family := []string{"Shaw", "Jones", "Nguyen", "Patel", "Garcia", "Kim", "Okafor", "Smith", "Rossi", "Müller"}
	out := make([]json.RawMessage, 0, patients*27)
	for i := 0; i < patients; i++ {
		pid := fmt.Sprintf("gp%d", i)
		out = append(out, Patient(pid, given[i%len(given)], fmt.Sprintf("%s-%05d", family[i%len(family)], i), []string{"female", "male"}[i%2], fmt.Sprintf("19%02d-0%d-1%d", 30+i%70, 1+i%9, i%10), fmt.Sprintf("MRN-%06d", i)))
		for j := 0; j < 20; j++ {
			cat, code := "vital-signs", "8867-4"
			if j%2 == 1 {
				cat, code = "laboratory", "4548-4"
			}
			out = append(out, Observation(fmt.Sprintf("%s-o%d", pid, j), pid, cat, code, cat, fmt.Sprintf("2024-%02d-%02dT10:00:00Z", 1+j%12, 1+j)))
		}
		for j := 0; j < 4; j++ {
			out = append(out, Condition(fmt.Sprintf("%s-c%d", pid, j), pid, "problem-list-item", fmt.Sprint(100000+j), fmt.Sprintf("Problem %d", j), "active"))
		}
		for j := 0; j < 2; j++ {
			out = append(out, raw(M{"resourceType": "Encounter", "id": fmt.Sprintf("%s-e%d", pid, j), "status": "finished",
				"class": M{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"}, "subject": ref("Patient/" + pid),
				"period": M{"start": fmt.Sprintf("2024-0%d-01T09:00:00Z", 1+j)}}))
		}
	}
	return out
}
