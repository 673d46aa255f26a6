package smart

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned by Directory lookups for an unknown id.
var ErrNotFound = errors.New("not found")

// ErrUnavailable is in a Directory error when the data cannot be read now
// (an upstream FHIR server down, slow or refusing): a condition to report
// as 503 with its message, not an internal error.
var ErrUnavailable = errors.New("the FHIR server holding the data is unavailable")

// PersonSummary is what pickers, login pages, banners and the launcher show
// about a Patient, Practitioner or RelatedPerson.
type PersonSummary struct {
	ResourceType string // Patient | Practitioner | RelatedPerson
	ID           string
	Name         string // display name, e.g. "Amy V. Shaw"
	Gender       string // FHIR administrative gender code
	BirthDate    string // YYYY-MM-DD, may be empty
	MRN          string // Patient medical record number, may be empty
	NPI          string // Practitioner NPI, may be empty
	Role         string // e.g. "Family medicine physician"
	Summary      string // one clinical line, e.g. "Type 2 diabetes, hypertension"
	// Patient ids this person may act for (RelatedPerson → its patient;
	// a Patient → itself). Empty for practitioners.
	Patients []string
}

// EncounterSummary is what encounter pickers and banners show.
type EncounterSummary struct {
	ID        string
	PatientID string
	Status    string // FHIR Encounter.status, e.g. in-progress, finished
	Class     string // e.g. AMB, IMP, EMER
	Type      string // display text
	Start     time.Time
	End       time.Time // zero when open
	Location  string
}

// PatientPage is one page of a patient search.
type PatientPage struct {
	Patients []PersonSummary // this page, in search order
	Total    int             // every patient the query matches, on all pages
}

// Directory is the read-only view of the EHR's people and encounters that the
// launcher, the authorization server's pages and the simulated EHR need. The
// FHIR store implements it; it reflects fixture data plus FHIR writes.
type Directory interface {
	Patient(ctx context.Context, id string) (PersonSummary, error)
	Practitioner(ctx context.Context, id string) (PersonSummary, error)
	RelatedPerson(ctx context.Context, id string) (PersonSummary, error)
	Encounter(ctx context.Context, id string) (EncounterSummary, error)
	// SearchPatients matches name, MRN or birth date (YYYY-MM-DD prefix);
	// an empty query lists all. limit <= 0 means no limit.
	SearchPatients(ctx context.Context, query string, limit int) ([]PersonSummary, error)
	// PagePatients is SearchPatients one page at a time, for lists that
	// page through every patient (the launcher's chooser over 10,000
	// generated patients): it skips the first offset matches, returns at
	// most limit (limit <= 0: all the rest), in SearchPatients' order, and
	// counts every match in Total. A negative offset counts as 0.
	PagePatients(ctx context.Context, query string, offset, limit int) (PatientPage, error)
	Practitioners(ctx context.Context) ([]PersonSummary, error)
	RelatedPersons(ctx context.Context) ([]PersonSummary, error)
	// Encounters lists a patient's encounters, most recent start first.
	Encounters(ctx context.Context, patientID string) ([]EncounterSummary, error)
	// ResourceExists reports whether "Type/id" names an existing resource.
	ResourceExists(ctx context.Context, reference string) bool
	// Allergies lists the display text of a patient's allergies, for the
	// simulated EHR's banner.
	Allergies(ctx context.Context, patientID string) ([]string, error)
}
