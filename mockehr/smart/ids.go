package smart

// ValidID reports whether s is a FHIR R4 resource id: 1 to 64 of
// A-Z a-z 0-9 - . (FHIR's id type, [A-Za-z0-9\-\.]{1,64}). It is the one
// rule for the ids ehrsim accepts anywhere — fixture and loaded data, the
// FHIR store, and the patient, encounter and fhirContext ids of a launch —
// so an id one part accepts is never refused by another.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}
