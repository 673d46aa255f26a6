package layout

import (
	"regexp"
	"strings"
)

// semanticTag is a SNOMED CT semantic tag at the end of a display:
// "Allergy to tree pollen (finding)", "Follow-up encounter (procedure)".
var semanticTag = regexp.MustCompile(`\s+\((finding|disorder|procedure|situation|regime/therapy|observable entity|substance|event|qualifier value|body structure|morphologic abnormality|physical object|environment|record artifact|organism|product|medicinal product|specimen|assessment scale|social concept|person)\)$`)

// ClinicalText is the text a clinician reads for a terminology display:
// without the SNOMED CT semantic tag and without LOINC's panel wording
// ("Blood pressure panel with all children optional" reads "Blood
// pressure"). Every page (ui, ui/authui) shows coded text through it, and
// the sample app does the same in its own script; the codes and their
// displays stay as they are in the FHIR data.
func ClinicalText(s string) string {
	s = semanticTag.ReplaceAllString(strings.TrimSpace(s), "")
	return strings.TrimSuffix(s, " panel with all children optional")
}

// ClinicalList is ClinicalText on each item of a comma-separated list (a
// patient's one-line problem summary).
func ClinicalList(s string) string {
	parts := strings.Split(s, ", ")
	for i, p := range parts {
		parts[i] = ClinicalText(p)
	}
	return strings.Join(parts, ", ")
}
