// Package smarttest is test support for the packages that meet through
// mockehr/smart: an in-memory smart.Directory whose people and encounters
// each test supplies, and a settable clock. Only tests import it.
package smarttest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Directory is an in-memory smart.Directory. Lookups by id answer
// smart.ErrNotFound for unknown ids; SearchPatients matches a name
// substring (case-insensitive), an exact MRN or a birth-date prefix.
type Directory struct {
	Patients         []smart.PersonSummary
	PractitionerList []smart.PersonSummary
	Related          []smart.PersonSummary
	EncounterList    []smart.EncounterSummary // per patient, most recent first
	// AllergyLists maps a patient id to its allergies; a patient missing
	// from it has no allergy list (Allergies answers an error).
	AllergyLists map[string][]string
	// Resources are further "Type/id" references that exist, beside the
	// people and encounters above; AnyResource makes every reference exist.
	Resources   map[string]bool
	AnyResource bool
	// Down, when set, is the answer of the lookups and lists of people and
	// encounters (a data source that is unavailable; wrap
	// smart.ErrUnavailable).
	Down error
}

var _ smart.Directory = (*Directory)(nil)

// ErrNoAllergyList is Allergies' answer for a patient without a list.
var ErrNoAllergyList = errors.New("smarttest: no allergy list")

func find(list []smart.PersonSummary, id string) (smart.PersonSummary, error) {
	for _, p := range list {
		if p.ID == id {
			return p, nil
		}
	}
	return smart.PersonSummary{}, smart.ErrNotFound
}

func (d *Directory) Patient(_ context.Context, id string) (smart.PersonSummary, error) {
	if d.Down != nil {
		return smart.PersonSummary{}, d.Down
	}
	return find(d.Patients, id)
}

func (d *Directory) Practitioner(_ context.Context, id string) (smart.PersonSummary, error) {
	if d.Down != nil {
		return smart.PersonSummary{}, d.Down
	}
	return find(d.PractitionerList, id)
}

func (d *Directory) RelatedPerson(_ context.Context, id string) (smart.PersonSummary, error) {
	return find(d.Related, id)
}

func (d *Directory) Encounter(_ context.Context, id string) (smart.EncounterSummary, error) {
	for _, e := range d.EncounterList {
		if e.ID == id {
			return e, nil
		}
	}
	return smart.EncounterSummary{}, smart.ErrNotFound
}

func (d *Directory) SearchPatients(_ context.Context, q string, limit int) ([]smart.PersonSummary, error) {
	if d.Down != nil {
		return nil, d.Down
	}
	var out []smart.PersonSummary
	for _, p := range d.Patients {
		if q == "" || strings.Contains(strings.ToLower(p.Name), strings.ToLower(q)) || p.MRN == q || strings.HasPrefix(p.BirthDate, q) {
			out = append(out, p)
		}
	}
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (d *Directory) PagePatients(ctx context.Context, q string, offset, limit int) (smart.PatientPage, error) {
	if d.Down != nil {
		return smart.PatientPage{}, d.Down
	}
	all, _ := d.SearchPatients(ctx, q, 0)
	page := smart.PatientPage{Total: len(all)}
	all = all[min(max(offset, 0), len(all)):]
	if limit > 0 && len(all) > limit {
		all = all[:limit]
	}
	page.Patients = all
	return page, nil
}

func (d *Directory) Practitioners(context.Context) ([]smart.PersonSummary, error) {
	if d.Down != nil {
		return nil, d.Down
	}
	return d.PractitionerList, nil
}

func (d *Directory) RelatedPersons(context.Context) ([]smart.PersonSummary, error) {
	if d.Down != nil {
		return nil, d.Down
	}
	return d.Related, nil
}

func (d *Directory) Encounters(_ context.Context, patientID string) ([]smart.EncounterSummary, error) {
	if d.Down != nil {
		return nil, d.Down
	}
	var out []smart.EncounterSummary
	for _, e := range d.EncounterList {
		if e.PatientID == patientID {
			out = append(out, e)
		}
	}
	return out, nil
}

func (d *Directory) Allergies(_ context.Context, patientID string) ([]string, error) {
	list, ok := d.AllergyLists[patientID]
	if !ok {
		return nil, ErrNoAllergyList
	}
	return list, nil
}

func (d *Directory) ResourceExists(ctx context.Context, ref string) bool {
	if d.AnyResource || d.Resources[ref] {
		return true
	}
	typ, id, _ := strings.Cut(ref, "/")
	var err error
	switch typ {
	case "Patient":
		_, err = d.Patient(ctx, id)
	case "Practitioner":
		_, err = d.Practitioner(ctx, id)
	case "RelatedPerson":
		_, err = d.RelatedPerson(ctx, id)
	case "Encounter":
		_, err = d.Encounter(ctx, id)
	default:
		return false
	}
	return err == nil
}

// Clock is a settable clock for tests: inject Now, move it with Add.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }
