package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// The directory reads the people and encounters the launcher, the pickers,
// the login page and the simulated EHR's banner show from the upstream,
// with searches bounded by _count and answers cached for CacheTTL. Its
// upstream exchanges have a shorter deadline than the FHIR API's (at most
// dirTimeout), so a slow upstream gives a page a clear error, not a hang.

var _ smart.Directory = (*Proxy)(nil)

const (
	dirTimeout = 10 * time.Second
	// dirMax is the most people one directory list holds.
	dirMax = 200
)

// ErrUnavailable is in every directory error that is not "not found":
// the upstream could not be asked (down, slow, refusing ehrsim's
// credential, answering nonsense). errors.Is(err, ErrUnavailable) lets a
// page say so instead of a generic failure.
var ErrUnavailable = fmt.Errorf("the upstream FHIR server is unavailable (%w)", smart.ErrUnavailable)

type dirError struct{ err error }

func (e *dirError) Error() string   { return "upstream FHIR server: " + e.err.Error() }
func (e *dirError) Unwrap() []error { return []error{ErrUnavailable, e.err} }

// errDirectory marks a directory failure as the upstream's.
func errDirectory(err error) error { return &dirError{err: err} }

// get fetches path?query from the upstream (or the cache) and returns the
// status and body of an answer that is not a transport failure.
func (p *Proxy) get(ctx context.Context, path string, query url.Values) (int, []byte, error) {
	key := path + "?" + query.Encode()
	if c, ok := p.cache.get(key); ok {
		return c.status, c.body, nil
	}
	ctx, cancel := context.WithTimeout(ctx, min(p.timeout, dirTimeout))
	defer cancel()
	resp, err := p.do(ctx, http.MethodGet, path, query, nil, nil)
	if err != nil {
		return 0, nil, errDirectory(err)
	}
	defer resp.Close()
	body, err := p.readAll(resp)
	if err != nil {
		return 0, nil, errDirectory(err)
	}
	switch {
	case resp.StatusCode == http.StatusOK, resp.StatusCode == http.StatusNotFound, resp.StatusCode == http.StatusGone:
		p.cache.put(key, resp.StatusCode, body)
		return resp.StatusCode, body, nil
	}
	err = p.statusErrorBase(resp, body, p.base, path)
	if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnprocessableEntity {
		err = refusedErr{err}
	}
	return 0, nil, errDirectory(err)
}

// refusedErr is an upstream's 400 or 422 to a directory search.
type refusedErr struct{ error }

func (e refusedErr) Unwrap() error { return e.error }

// resource reads typ/id into v; smart.ErrNotFound when absent.
func (p *Proxy) resource(ctx context.Context, typ, id string, v any) error {
	if !pathID(id) {
		return smart.ErrNotFound
	}
	status, body, err := p.get(ctx, typ+"/"+id, nil)
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return smart.ErrNotFound
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errDirectory(fmt.Errorf("%s/%s is not valid JSON", typ, id))
	}
	return nil
}

// bundle runs a search and returns its resources and total (-1: absent).
func (p *Proxy) bundle(ctx context.Context, typ string, query url.Values) ([]json.RawMessage, int, error) {
	status, body, err := p.get(ctx, typ, query)
	if err != nil {
		return nil, 0, err
	}
	if status != http.StatusOK {
		return nil, 0, errDirectory(fmt.Errorf("searching %s answered HTTP %d", typ, status))
	}
	var b struct {
		ResourceType string
		Total        *int
		Entry        []struct {
			Resource json.RawMessage
			Search   struct{ Mode string }
		}
	}
	if err := json.Unmarshal(body, &b); err != nil || b.ResourceType != "Bundle" {
		return nil, 0, errDirectory(fmt.Errorf("searching %s did not answer a Bundle", typ))
	}
	var out []json.RawMessage
	for _, e := range b.Entry {
		if e.Resource != nil && (e.Search.Mode == "" || e.Search.Mode == "match") {
			out = append(out, e.Resource)
		}
	}
	total := -1
	if b.Total != nil {
		total = *b.Total
	}
	return out, total, nil
}

// FHIR shapes the directory reads. Names, concepts and identifiers are
// fhirstore's types, so they read the same from the built-in store and
// from an upstream.
type (
	humanName  = fhirstore.HumanName
	concept    = fhirstore.Concept
	identifier = fhirstore.Identifier
	reference  struct{ Reference, Display string }
	personDoc  struct {
		ResourceType, ID  string
		Name              []humanName
		Gender, BirthDate string
		Identifier        []identifier
		Qualification     []struct{ Code concept }
		Relationship      []concept
		Patient           reference
	}
	period       struct{ Start, End string }
	encounterDoc struct {
		ResourceType, ID, Status string
		Class                    struct{ Code, Display string }
		Type                     []concept
		Subject                  reference
		Period                   period
		Location                 []struct{ Location reference }
	}
)

func refID(ref, typ string) string {
	id, ok := strings.CutPrefix(ref, typ+"/")
	if !ok {
		// An absolute reference: its last two segments.
		if i := strings.LastIndex(ref, "/"+typ+"/"); i >= 0 {
			id = ref[i+len(typ)+2:]
		} else {
			return ""
		}
	}
	return id
}

func person(d personDoc) smart.PersonSummary {
	p := smart.PersonSummary{ResourceType: d.ResourceType, ID: d.ID, Name: fhirstore.DisplayName(d.Name), Gender: d.Gender, BirthDate: d.BirthDate}
	for _, idf := range d.Identifier {
		isMR := false
		for _, c := range idf.Type.Coding {
			isMR = isMR || c.Code == "MR"
		}
		if p.MRN == "" && (isMR || strings.Contains(strings.ToLower(idf.System), "mrn")) {
			p.MRN = idf.Value
		}
		if idf.System == "http://hl7.org/fhir/sid/us-npi" {
			p.NPI = idf.Value
		}
	}
	if p.Name == "" {
		p.Name = d.ResourceType + "/" + d.ID
	}
	switch d.ResourceType {
	case "Patient":
		p.Patients = []string{d.ID}
	case "Practitioner":
		p.MRN = ""
		if len(d.Qualification) > 0 {
			p.Role = d.Qualification[0].Code.Display()
		}
	case "RelatedPerson":
		p.MRN = ""
		if len(d.Relationship) > 0 {
			p.Role = d.Relationship[0].Display()
		}
		if id := refID(d.Patient.Reference, "Patient"); id != "" {
			p.Patients = []string{id}
		}
	}
	return p
}

func (p *Proxy) personByID(ctx context.Context, typ, id string) (smart.PersonSummary, error) {
	var d personDoc
	if err := p.resource(ctx, typ, id, &d); err != nil {
		return smart.PersonSummary{}, err
	}
	if d.ResourceType != typ || d.ID != id {
		return smart.PersonSummary{}, smart.ErrNotFound
	}
	return person(d), nil
}

func (p *Proxy) Patient(ctx context.Context, id string) (smart.PersonSummary, error) {
	return p.personByID(ctx, "Patient", id)
}

func (p *Proxy) Practitioner(ctx context.Context, id string) (smart.PersonSummary, error) {
	return p.personByID(ctx, "Practitioner", id)
}

func (p *Proxy) RelatedPerson(ctx context.Context, id string) (smart.PersonSummary, error) {
	return p.personByID(ctx, "RelatedPerson", id)
}

func (p *Proxy) people(ctx context.Context, typ string, query url.Values) ([]smart.PersonSummary, int, error) {
	raws, total, err := p.bundle(ctx, typ, query)
	if err != nil {
		return nil, 0, err
	}
	out := make([]smart.PersonSummary, 0, len(raws))
	for _, raw := range raws {
		var d personDoc
		if json.Unmarshal(raw, &d) == nil && d.ResourceType == typ && smart.ValidID(d.ID) {
			out = append(out, person(d))
		}
	}
	return out, total, nil
}

var typeName = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

var dateQuery = regexp.MustCompile(`^\d{4}(-\d{2}(-\d{2})?)?$`)

// patientQueries are the upstream searches for a picker query: a birth
// date, or a name and an identifier (MRN).
func patientQueries(query string) []url.Values {
	query = strings.TrimSpace(query)
	switch {
	case query == "":
		return []url.Values{{}}
	case dateQuery.MatchString(query):
		return []url.Values{{"birthdate": {query}}}
	}
	// "Amy Shaw": every word must match a name (repeated name= is AND).
	return []url.Values{{"name": strings.Fields(query)}, {"identifier": {query}}}
}

func (p *Proxy) SearchPatients(ctx context.Context, query string, limit int) ([]smart.PersonSummary, error) {
	if limit <= 0 || limit > dirMax {
		limit = dirMax
	}
	var out []smart.PersonSummary
	seen := map[string]bool{}
	for _, q := range patientQueries(query) {
		q.Set("_count", strconv.Itoa(limit))
		list, _, err := p.people(ctx, "Patient", q)
		if err != nil {
			return nil, err
		}
		for _, ps := range list {
			if !seen[ps.ID] && len(out) < limit {
				seen[ps.ID] = true
				out = append(out, ps)
			}
		}
	}
	return out, nil
}

// PagePatients asks the upstream for one page (_offset, _count) and its
// total (_total=accurate); an upstream that gives no total is counted as
// far as this page reaches.
func (p *Proxy) PagePatients(ctx context.Context, query string, offset, limit int) (smart.PatientPage, error) {
	offset = max(offset, 0)
	if limit <= 0 || limit > dirMax {
		limit = dirMax
	}
	q := patientQueries(query)[0]
	q.Set("_count", strconv.Itoa(limit))
	q.Set("_total", "accurate")
	if offset > 0 {
		q.Set("_offset", strconv.Itoa(offset))
	}
	list, total, err := p.people(ctx, "Patient", q)
	if errors.As(err, new(refusedErr)) {
		// A server that refuses _total (strict handling) still pages.
		q.Del("_total")
		list, total, err = p.people(ctx, "Patient", q)
	}
	if err != nil {
		return smart.PatientPage{}, err
	}
	if total < 0 {
		total = offset + len(list)
	}
	return smart.PatientPage{Patients: list, Total: total}, nil
}

func (p *Proxy) Practitioners(ctx context.Context) ([]smart.PersonSummary, error) {
	list, _, err := p.people(ctx, "Practitioner", url.Values{"_count": {strconv.Itoa(dirMax)}})
	return list, err
}

func (p *Proxy) RelatedPersons(ctx context.Context) ([]smart.PersonSummary, error) {
	list, _, err := p.people(ctx, "RelatedPerson", url.Values{"_count": {strconv.Itoa(dirMax)}})
	return list, err
}

func parseTime(s string) time.Time {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", time.DateOnly, "2006-01", "2006"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t
		}
	}
	return time.Time{}
}

func encounter(d encounterDoc) smart.EncounterSummary {
	e := smart.EncounterSummary{ID: d.ID, PatientID: refID(d.Subject.Reference, "Patient"), Status: d.Status,
		Class: d.Class.Code, Start: parseTime(d.Period.Start), End: parseTime(d.Period.End)}
	if len(d.Type) > 0 {
		e.Type = d.Type[0].Display()
	}
	if e.Type == "" {
		e.Type = d.Class.Display
	}
	if len(d.Location) > 0 {
		e.Location = d.Location[0].Location.Display
	}
	return e
}

func (p *Proxy) Encounter(ctx context.Context, id string) (smart.EncounterSummary, error) {
	var d encounterDoc
	if err := p.resource(ctx, "Encounter", id, &d); err != nil {
		return smart.EncounterSummary{}, err
	}
	if d.ResourceType != "Encounter" || d.ID != id {
		return smart.EncounterSummary{}, smart.ErrNotFound
	}
	return encounter(d), nil
}

func (p *Proxy) Encounters(ctx context.Context, patientID string) ([]smart.EncounterSummary, error) {
	if !pathID(patientID) {
		return nil, smart.ErrNotFound
	}
	raws, _, err := p.bundle(ctx, "Encounter", url.Values{"patient": {"Patient/" + patientID}, "_sort": {"-date"}, "_count": {strconv.Itoa(dirMax)}})
	if err != nil {
		return nil, err
	}
	var out []smart.EncounterSummary
	for _, raw := range raws {
		var d encounterDoc
		if json.Unmarshal(raw, &d) == nil && d.ResourceType == "Encounter" && smart.ValidID(d.ID) {
			out = append(out, encounter(d))
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out, nil
}

func (p *Proxy) ResourceExists(ctx context.Context, reference string) bool {
	typ, id, ok := strings.Cut(reference, "/")
	if !ok || !typeName.MatchString(typ) || !pathID(id) {
		return false
	}
	var d struct{ ResourceType, ID string }
	return p.resource(ctx, typ, id, &d) == nil && d.ResourceType == typ && d.ID == id
}

func (p *Proxy) Allergies(ctx context.Context, patientID string) ([]string, error) {
	if !smart.ValidID(patientID) {
		return nil, smart.ErrNotFound
	}
	raws, _, err := p.bundle(ctx, "AllergyIntolerance", url.Values{"patient": {"Patient/" + patientID}, "_count": {strconv.Itoa(dirMax)}})
	if err != nil {
		return nil, err
	}
	var out []string
	for _, raw := range raws {
		var d struct{ Code concept }
		if json.Unmarshal(raw, &d) == nil {
			if t := d.Code.Display(); t != "" {
				out = append(out, t)
			}
		}
	}
	return out, nil
}
