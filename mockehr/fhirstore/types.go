package fhirstore

import (
	"slices"
	"sort"
	"strings"
)

// Kind is a FHIR search parameter type (FHIR R4 search §Search Parameter Types).
type Kind int

const (
	KindToken Kind = iota
	KindString
	KindDate
	KindReference
)

func (k Kind) String() string {
	switch k {
	case KindToken:
		return "token"
	case KindString:
		return "string"
	case KindDate:
		return "date"
	default:
		return "reference"
	}
}

// ParamDef defines one search parameter of a resource type: the element
// paths (dotted, arrays flattened) its values come from.
type ParamDef struct {
	Name    string
	Kind    Kind
	Paths   []string
	Targets []string // reference params: allowed target types (empty = any)
	special int      // specialID, specialLastUpdated
	segs    [][]string
}

const (
	specialNone = iota
	specialID
	specialLastUpdated
)

// TypeDef describes a supported resource type.
type TypeDef struct {
	Name string
	// Compartment is true for types in the Patient compartment (their
	// instances belong to one patient). Patient itself is true too.
	Compartment bool
	// DateParam is the parameter _sort=date sorts on ("" = none).
	DateParam string
	Params    map[string]*ParamDef
	// plist/pidx number the type's indexed params, so index entries hold
	// a small integer instead of a pointer (keeps the heap cheap to scan).
	plist []*ParamDef
	pidx  map[string]uint8
	// Includes lists the reference params usable in _include.
	Includes []string
	// topKeys are the top-level elements indexing reads (decodeSelected).
	topKeys map[string]bool
}

var (
	paramID          = &ParamDef{Name: "_id", Kind: KindToken, special: specialID}
	paramLastUpdated = &ParamDef{Name: "_lastUpdated", Kind: KindDate, special: specialLastUpdated}
)

func tok(name string, paths ...string) *ParamDef {
	return &ParamDef{Name: name, Kind: KindToken, Paths: paths}
}
func str(name string, paths ...string) *ParamDef {
	return &ParamDef{Name: name, Kind: KindString, Paths: paths}
}
func date(name string, paths ...string) *ParamDef {
	return &ParamDef{Name: name, Kind: KindDate, Paths: paths}
}
func ref(name string, targets []string, paths ...string) *ParamDef {
	return &ParamDef{Name: name, Kind: KindReference, Paths: paths, Targets: targets}
}

var (
	patientOnly = []string{"Patient"}
	anyTarget   []string
)

// clinical returns the params every patient-compartment clinical type
// shares: patient and subject (both from subject), and encounter.
func clinical(subjectPath string) []*ParamDef {
	return []*ParamDef{
		ref("patient", patientOnly, subjectPath),
		ref("subject", anyTarget, subjectPath),
	}
}

func typeDef(name string, compartment bool, dateParam string, includes []string, params ...*ParamDef) *TypeDef {
	td := &TypeDef{Name: name, Compartment: compartment, DateParam: dateParam, Includes: includes, Params: map[string]*ParamDef{}}
	td.Params["_id"] = paramID
	td.Params["_lastUpdated"] = paramLastUpdated
	for _, p := range params {
		td.Params[p.Name] = p
	}
	return td
}

func join(a []*ParamDef, b ...*ParamDef) []*ParamDef {
	return append(append([]*ParamDef{}, a...), b...)
}

// types is the table of everything the server implements; the
// CapabilityStatement is generated from it, so it lists exactly this.
var types = map[string]*TypeDef{}

func init() {
	human := []*ParamDef{
		tok("identifier", "identifier"),
		str("name", "name"),
		str("family", "name.family"),
		str("given", "name.given"),
		tok("gender", "gender"),
	}
	enc := ref("encounter", []string{"Encounter"}, "encounter")
	defs := []*TypeDef{
		typeDef("Patient", true, "birthdate", nil, join(human,
			date("birthdate", "birthDate"),
			ref("general-practitioner", anyTarget, "generalPractitioner"),
			ref("organization", []string{"Organization"}, "managingOrganization"))...),
		typeDef("Practitioner", false, "", nil, human...),
		typeDef("PractitionerRole", false, "", []string{"practitioner", "organization", "location"},
			ref("practitioner", []string{"Practitioner"}, "practitioner"),
			ref("organization", []string{"Organization"}, "organization"),
			ref("location", []string{"Location"}, "location"),
			tok("role", "code"), tok("specialty", "specialty"), tok("identifier", "identifier")),
		typeDef("RelatedPerson", true, "", []string{"patient"}, join(human[:4],
			ref("patient", patientOnly, "patient"), tok("relationship", "relationship"))...),
		typeDef("Organization", false, "", nil,
			tok("identifier", "identifier"), str("name", "name", "alias"), tok("type", "type")),
		typeDef("Location", false, "", []string{"organization"},
			tok("identifier", "identifier"), str("name", "name", "alias"), tok("type", "type"), tok("status", "status"),
			ref("organization", []string{"Organization"}, "managingOrganization")),
		typeDef("Medication", false, "", nil, tok("code", "code"), tok("status", "status")),
		typeDef("Observation", true, "date", []string{"patient", "subject", "encounter", "performer"}, join(clinical("subject"),
			tok("category", "category"), tok("code", "code"), tok("status", "status"),
			date("date", "effectiveDateTime", "effectivePeriod", "effectiveInstant", "effectiveTiming.event"),
			ref("performer", anyTarget, "performer"), enc)...),
		typeDef("Condition", true, "onset-date", []string{"patient", "subject", "encounter"}, join(clinical("subject"),
			tok("category", "category"), tok("code", "code"),
			tok("clinical-status", "clinicalStatus"), tok("verification-status", "verificationStatus"),
			date("onset-date", "onsetDateTime", "onsetPeriod"), date("recorded-date", "recordedDate"),
			date("date", "onsetDateTime", "onsetPeriod"), enc)...),
		typeDef("Encounter", true, "date", []string{"patient", "subject", "participant", "location", "service-provider"}, join(clinical("subject"),
			tok("status", "status"), tok("class", "class"), tok("type", "type"), date("date", "period"),
			tok("identifier", "identifier"),
			ref("participant", anyTarget, "participant.individual"),
			ref("location", []string{"Location"}, "location.location"),
			ref("service-provider", []string{"Organization"}, "serviceProvider"))...),
		typeDef("MedicationRequest", true, "authoredon", []string{"patient", "subject", "medication", "requester", "encounter"}, join(clinical("subject"),
			tok("status", "status"), tok("intent", "intent"), tok("category", "category"),
			tok("code", "medicationCodeableConcept"),
			ref("medication", []string{"Medication"}, "medicationReference"),
			ref("requester", anyTarget, "requester"),
			date("authoredon", "authoredOn"), date("date", "authoredOn"), enc)...),
		typeDef("MedicationStatement", true, "effective", []string{"patient", "subject", "medication"}, join(clinical("subject"),
			tok("status", "status"), tok("category", "category"), tok("code", "medicationCodeableConcept"),
			ref("medication", []string{"Medication"}, "medicationReference"),
			date("effective", "effectiveDateTime", "effectivePeriod"), date("date", "effectiveDateTime", "effectivePeriod"))...),
		typeDef("AllergyIntolerance", true, "date", []string{"patient"},
			ref("patient", patientOnly, "patient"), tok("clinical-status", "clinicalStatus"),
			tok("verification-status", "verificationStatus"), tok("code", "code"), tok("category", "category"),
			tok("criticality", "criticality"), date("date", "recordedDate"), date("onset", "onsetDateTime", "onsetPeriod")),
		typeDef("Procedure", true, "date", []string{"patient", "subject", "encounter"}, join(clinical("subject"),
			tok("code", "code"), tok("status", "status"), tok("category", "category"),
			date("date", "performedDateTime", "performedPeriod"), enc)...),
		typeDef("Immunization", true, "date", []string{"patient"},
			ref("patient", patientOnly, "patient"), tok("status", "status"), tok("vaccine-code", "vaccineCode"),
			tok("code", "vaccineCode"), date("date", "occurrenceDateTime")),
		typeDef("DiagnosticReport", true, "date", []string{"patient", "subject", "encounter", "result", "performer"}, join(clinical("subject"),
			tok("category", "category"), tok("code", "code"), tok("status", "status"),
			date("date", "effectiveDateTime", "effectivePeriod"), date("issued", "issued"),
			ref("result", []string{"Observation"}, "result"), ref("performer", anyTarget, "performer"), enc)...),
		typeDef("DocumentReference", true, "date", []string{"patient", "subject", "author", "encounter"}, join(clinical("subject"),
			tok("category", "category"), tok("type", "type"), tok("status", "status"),
			date("date", "date"), date("period", "context.period"),
			ref("author", anyTarget, "author"), ref("encounter", []string{"Encounter"}, "context.encounter"))...),
		typeDef("CarePlan", true, "date", []string{"patient", "subject"}, join(clinical("subject"),
			tok("category", "category"), tok("status", "status"), tok("intent", "intent"), date("date", "period"))...),
		typeDef("CareTeam", true, "date", []string{"patient", "subject", "participant"}, join(clinical("subject"),
			tok("category", "category"), tok("status", "status"), date("date", "period"),
			ref("participant", anyTarget, "participant.member"))...),
		typeDef("Goal", true, "target-date", []string{"patient", "subject"}, join(clinical("subject"),
			tok("lifecycle-status", "lifecycleStatus"), tok("category", "category"),
			date("target-date", "target.dueDate"), date("start-date", "startDate"))...),
		typeDef("ServiceRequest", true, "authored", []string{"patient", "subject", "requester", "encounter"}, join(clinical("subject"),
			tok("status", "status"), tok("intent", "intent"), tok("category", "category"), tok("code", "code"),
			date("authored", "authoredOn"), date("date", "authoredOn"), ref("requester", anyTarget, "requester"), enc)...),
		typeDef("Coverage", true, "", []string{"patient", "beneficiary", "payor"},
			ref("patient", patientOnly, "beneficiary"), ref("beneficiary", patientOnly, "beneficiary"),
			tok("status", "status"), tok("type", "type"), ref("payor", anyTarget, "payor")),
		typeDef("Device", true, "", []string{"patient"},
			ref("patient", patientOnly, "patient"), tok("type", "type"), tok("status", "status"), tok("identifier", "identifier")),
		typeDef("Provenance", true, "recorded", []string{"target", "patient", "agent"},
			ref("target", anyTarget, "target"), ref("patient", patientOnly, "target"),
			ref("agent", anyTarget, "agent.who"), date("recorded", "recorded")),
	}
	for _, d := range defs {
		if d.DateParam != "" && d.Params[d.DateParam] == nil {
			panic("fhirstore: " + d.Name + " sorts on undefined " + d.DateParam)
		}
		for _, inc := range d.Includes {
			if p := d.Params[inc]; p == nil || p.Kind != KindReference {
				panic("fhirstore: " + d.Name + " include " + inc + " is not a reference param")
			}
		}
		d.pidx = map[string]uint8{}
		d.topKeys = map[string]bool{"resourceType": true, "id": true, "meta": true}
		for _, k := range displayKeys {
			d.topKeys[k] = true
		}
		for _, p := range d.SortedParams() {
			if p.segs == nil {
				for _, path := range p.Paths {
					p.segs = append(p.segs, strings.Split(path, "."))
				}
			}
			for _, segs := range p.segs {
				d.topKeys[segs[0]] = true
			}
			if p.special == specialNone {
				d.pidx[p.Name] = uint8(len(d.plist))
				d.plist = append(d.plist, p)
			}
		}
		types[d.Name] = d
	}
}

// subjectIsPatient reports whether td's param is its patient param under
// another name (subject of the clinical types: same element), so a
// Patient value of it is answered by the compartment.
func subjectIsPatient(td *TypeDef, param string) bool {
	if td == nil || param != "subject" {
		return false
	}
	p, s := td.Params["patient"], td.Params["subject"]
	return p != nil && s != nil && slices.Equal(p.Paths, s.Paths)
}

// Type returns the definition of a supported resource type, nil if the
// server does not implement it.
func Type(name string) *TypeDef { return types[name] }

// Types lists the supported types sorted by name.
func Types() []*TypeDef {
	out := make([]*TypeDef, 0, len(types))
	for _, t := range types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SortedParams lists a type's params sorted by name.
func (t *TypeDef) SortedParams() []*ParamDef {
	out := make([]*ParamDef, 0, len(t.Params))
	for _, p := range t.Params {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
