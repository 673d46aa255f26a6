package fhirstore

import (
	"context"
	"encoding/json"
	"iter"
	"sort"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

var _ smart.Directory = (*Store)(nil)

// personDoc is the part of Patient, Practitioner and RelatedPerson the
// directory reads. Directory calls serve pages and pickers, not the FHIR
// hot path, so they decode on demand rather than keep parsed copies.
type personDoc struct {
	Name          []HumanName              `json:"name"`
	Gender        string                   `json:"gender"`
	BirthDate     string                   `json:"birthDate"`
	Identifier    []Identifier             `json:"identifier"`
	Qualification []struct{ Code Concept } `json:"qualification"`
	Relationship  []Concept                `json:"relationship"`
}

// HumanName is the part of a FHIR HumanName the directory reads.
type HumanName struct {
	Use    string   `json:"use"`
	Text   string   `json:"text"`
	Family string   `json:"family"`
	Given  []string `json:"given"`
	Prefix []string `json:"prefix"`
}

// Identifier is the part of a FHIR Identifier the directory reads.
type Identifier struct {
	System string  `json:"system"`
	Value  string  `json:"value"`
	Type   Concept `json:"type"`
}

// Concept is the part of a FHIR CodeableConcept the directory reads.
type Concept struct {
	Text   string `json:"text"`
	Coding []struct {
		System  string `json:"system"`
		Code    string `json:"code"`
		Display string `json:"display"`
	} `json:"coding"`
}

// Display is the concept's text, else its first coding display, else its
// first code: what a person reads.
func (c Concept) Display() string {
	if c.Text != "" {
		return c.Text
	}
	for _, cd := range c.Coding {
		if cd.Display != "" {
			return cd.Display
		}
	}
	for _, cd := range c.Coding {
		if cd.Code != "" {
			return cd.Code
		}
	}
	return ""
}

// DisplayName is a person's name as every page shows it, preferring the
// official name: "Amy V. Shaw".
func DisplayName(names []HumanName) string {
	if len(names) == 0 {
		return ""
	}
	n := names[0]
	for _, c := range names {
		if c.Use == "official" {
			n = c
			break
		}
	}
	if n.Text != "" {
		return n.Text
	}
	parts := append(append([]string{}, n.Prefix...), n.Given...)
	if n.Family != "" {
		parts = append(parts, n.Family)
	}
	return strings.Join(parts, " ")
}

const npiSystem = "http://hl7.org/fhir/sid/us-npi"

func (s *Store) live(typ, id string) (*Resource, error) {
	r, ok := s.Get(typ, id)
	if !ok || r.Deleted {
		return nil, smart.ErrNotFound
	}
	return r, nil
}

func (s *Store) person(r *Resource) smart.PersonSummary {
	var d personDoc
	_ = json.Unmarshal(r.Raw, &d) // Raw was produced by encoding valid JSON
	p := smart.PersonSummary{ResourceType: r.Type, ID: r.ID, Name: DisplayName(d.Name), Gender: d.Gender, BirthDate: d.BirthDate}
	for _, idf := range d.Identifier {
		isMR := false
		for _, c := range idf.Type.Coding {
			isMR = isMR || c.Code == "MR"
		}
		if p.MRN == "" && (isMR || strings.Contains(strings.ToLower(idf.System), "mrn")) {
			p.MRN = idf.Value
		}
		if idf.System == npiSystem {
			p.NPI = idf.Value
		}
	}
	switch r.Type {
	case "Patient":
		p.Patients = []string{r.ID}
		p.Summary = s.problemSummary(r.ID)
	case "Practitioner":
		p.MRN = ""
		p.Role = s.practitionerRole(r.Key())
		if p.Role == "" && len(d.Qualification) > 0 {
			p.Role = d.Qualification[0].Code.Display()
		}
	case "RelatedPerson":
		p.MRN = ""
		if len(d.Relationship) > 0 {
			p.Role = d.Relationship[0].Display()
		}
		for _, ref := range r.References("patient") {
			p.Patients = append(p.Patients, strings.TrimPrefix(ref, "Patient/"))
		}
	}
	return p
}

// problemSummary joins the active problem-list Conditions of a patient.
func (s *Store) problemSummary(patient string) string {
	q := &Query{Type: types["Condition"], Compartment: patient}
	var parts []string
	seen := map[string]bool{}
	for _, c := range s.Search(q) {
		problem, active := false, true
		for i := range c.entries {
			e := &c.entries[i]
			switch c.param(e).Name {
			case "category":
				problem = problem || c.val(e) == "problem-list-item"
			case "clinical-status":
				v := c.val(e)
				active = v == "active" || v == "recurrence" || v == "relapse"
			}
		}
		if problem && active && c.display != "" && !seen[c.display] {
			seen[c.display] = true
			parts = append(parts, c.display)
		}
	}
	return strings.Join(parts, ", ")
}

func (s *Store) practitionerRole(practitioner string) string {
	for _, pr := range s.Referencing(practitioner, types["PractitionerRole"], types["PractitionerRole"].Params["practitioner"]) {
		// The specialty ("Family medicine physician") says more than the
		// role code ("Doctor"); fall back to the role.
		var d struct{ Specialty, Code []Concept }
		_ = json.Unmarshal(pr.Raw, &d)
		for _, c := range append(d.Specialty, d.Code...) {
			if t := c.Display(); t != "" {
				return t
			}
		}
	}
	return ""
}

func (s *Store) Patient(_ context.Context, id string) (smart.PersonSummary, error) {
	r, err := s.live("Patient", id)
	if err != nil {
		return smart.PersonSummary{}, err
	}
	return s.summary(r), nil
}

func (s *Store) Practitioner(_ context.Context, id string) (smart.PersonSummary, error) {
	r, err := s.live("Practitioner", id)
	if err != nil {
		return smart.PersonSummary{}, err
	}
	return s.summary(r), nil
}

func (s *Store) RelatedPerson(_ context.Context, id string) (smart.PersonSummary, error) {
	r, err := s.live("RelatedPerson", id)
	if err != nil {
		return smart.PersonSummary{}, err
	}
	return s.summary(r), nil
}

func (s *Store) all(typ string) []*Resource {
	return s.Search(&Query{Type: types[typ]})
}

// SearchPatients matches a name part prefix, the full name, the MRN or a
// birth-date prefix, case-insensitively.
//
// Patients are visited in search order and only as far as limit needs:
// with 100,000 imported patients the first page reads a few rows, and a
// summary (which searches the patient's problems) is only made for those
// returned.
func (s *Store) SearchPatients(_ context.Context, query string, limit int) ([]smart.PersonSummary, error) {
	query = strings.ToLower(strings.TrimSpace(query))
	var out []smart.PersonSummary
	for r := range s.inOrder("Patient") {
		if limit > 0 && len(out) >= limit {
			break
		}
		if query != "" && !patientMatches(r, query) {
			continue
		}
		out = append(out, s.summary(r))
	}
	return out, nil
}

// PagePatients pages through SearchPatients' matches and counts them.
//
// Without a query the count needs no patient read: the in-memory ones are
// counted as they are, the imported ones from the index less those a write
// shadows, and only the page itself is read and summarised. A query reads
// every patient once to count its matches but summarises only the page.
func (s *Store) PagePatients(_ context.Context, query string, offset, limit int) (smart.PatientPage, error) {
	query = strings.ToLower(strings.TrimSpace(query))
	offset = max(offset, 0)
	var page smart.PatientPage
	if query == "" {
		page.Total = s.countPatients()
	}
	n := 0
	for r := range s.inOrder("Patient") {
		if query != "" && !patientMatches(r, query) {
			continue
		}
		if n >= offset && (limit <= 0 || n < offset+limit) {
			page.Patients = append(page.Patients, s.summary(r))
		}
		n++
		if query == "" && limit > 0 && n >= offset+limit {
			break // the count is known already
		}
	}
	if query != "" {
		page.Total = n
	}
	return page, nil
}

// countPatients counts the live patients without reading them.
func (s *Store) countPatients() int {
	n := len(s.memorySearch(&Query{Type: types["Patient"]}))
	if s.imp != nil {
		for _, seq := range s.imp.x.toks.get(typeKey("Patient")) {
			if !s.imp.shadowed(seq) {
				n++
			}
		}
	}
	return n
}

// patientMatches: a name part or identifier prefix, a birth date prefix
// or a part of the display name.
func patientMatches(r *Resource, q string) bool {
	for i := range r.entries {
		e := &r.entries[i]
		switch r.param(e).Name {
		case "name", "identifier":
			if strings.HasPrefix(strings.ToLower(r.val(e)), q) {
				return true
			}
		}
	}
	var d personDoc
	_ = json.Unmarshal(r.Raw, &d)
	return strings.HasPrefix(d.BirthDate, q) || strings.Contains(strings.ToLower(DisplayName(d.Name)), q)
}

// inOrder yields the live resources of typ in search order (that of a
// search without _sort), reading imported ones in batches as it goes.
func (s *Store) inOrder(typ string) iter.Seq[*Resource] {
	return func(yield func(*Resource) bool) {
		mem := s.memorySearch(&Query{Type: types[typ]})
		sortResources(mem, nil)
		var seqs []uint32
		if s.imp != nil {
			seqs = s.imp.x.toks.get(typeKey(typ))
		}
		const batch = 256
		for len(mem) > 0 || len(seqs) > 0 {
			var rs []*Resource
			if len(seqs) > 0 {
				n := min(batch, len(seqs))
				rs = s.imp.load(seqs[:n])
				seqs = seqs[n:]
				sortResources(rs, nil)
			}
			for len(rs) > 0 || (len(mem) > 0 && len(seqs) == 0) {
				var r *Resource
				if len(rs) > 0 && (len(mem) == 0 || rs[0].ord < mem[0].ord) {
					r, rs = rs[0], rs[1:]
				} else {
					r, mem = mem[0], mem[1:]
				}
				if !yield(r) {
					return
				}
			}
		}
	}
}

func (s *Store) Practitioners(context.Context) ([]smart.PersonSummary, error) {
	var out []smart.PersonSummary
	for _, r := range s.all("Practitioner") {
		out = append(out, s.summary(r))
	}
	return out, nil
}

func (s *Store) RelatedPersons(context.Context) ([]smart.PersonSummary, error) {
	var out []smart.PersonSummary
	for _, r := range s.all("RelatedPerson") {
		out = append(out, s.summary(r))
	}
	return out, nil
}

type encounterDoc struct {
	Status string `json:"status"`
	Class  struct {
		Code string `json:"code"`
	} `json:"class"`
	Type   []Concept `json:"type"`
	Period struct {
		Start string `json:"start"`
		End   string `json:"end"`
	} `json:"period"`
	Location []struct {
		Location struct {
			Display string `json:"display"`
		} `json:"location"`
	} `json:"location"`
}

// encounter summarises an Encounter. Published versions are immutable, so
// the summary is computed once per version and kept on it.
func (s *Store) encounter(r *Resource) smart.EncounterSummary {
	if e := r.encSummary.Load(); e != nil {
		return *e
	}
	e := encounterSummary(r)
	r.encSummary.Store(&e)
	return e
}

func encounterSummary(r *Resource) smart.EncounterSummary {
	var d encounterDoc
	_ = json.Unmarshal(r.Raw, &d)
	e := smart.EncounterSummary{ID: r.ID, PatientID: r.Patient, Status: d.Status, Class: d.Class.Code}
	if len(d.Type) > 0 {
		e.Type = d.Type[0].Display()
	}
	if rg, err := ParseDate(d.Period.Start); err == nil {
		e.Start = time.Unix(0, rg.Lo).UTC()
	}
	if rg, err := ParseDate(d.Period.End); err == nil {
		e.End = time.Unix(0, rg.Lo).UTC()
	}
	if len(d.Location) > 0 {
		e.Location = d.Location[0].Location.Display
	}
	return e
}

func (s *Store) Encounter(_ context.Context, id string) (smart.EncounterSummary, error) {
	r, err := s.live("Encounter", id)
	if err != nil {
		return smart.EncounterSummary{}, err
	}
	return s.encounter(r), nil
}

// Encounters lists a patient's encounters, most recent start first.
func (s *Store) Encounters(_ context.Context, patientID string) ([]smart.EncounterSummary, error) {
	rs := s.Search(&Query{Type: types["Encounter"], Compartment: patientID})
	out := make([]smart.EncounterSummary, 0, len(rs))
	for _, r := range rs {
		out = append(out, s.encounter(r))
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out, nil
}

func (s *Store) ResourceExists(_ context.Context, reference string) bool {
	key := NormalizeReference(reference)
	if key == "" {
		return false
	}
	typ, id, _ := cutKey(key)
	r, ok := s.Get(typ, id)
	return ok && !r.Deleted
}
