package ui

import (
	"context"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/ui/layout"
)

// Person is a PersonSummary with the display strings pages show.
type Person struct {
	smart.PersonSummary
	Age string // "54 y", "7 mo", "" when the birth date is unknown
	Sex string // "Female", "Male", "Other", "Unknown"
}

func (h *Handler) person(p smart.PersonSummary) Person {
	p.Summary = layout.ClinicalList(p.Summary)
	return Person{PersonSummary: p, Age: smart.FormatAge(p.BirthDate, h.now()), Sex: sexLabel(p.Gender)}
}

func (h *Handler) people(ps []smart.PersonSummary) []Person {
	out := make([]Person, len(ps))
	for i, p := range ps {
		out[i] = h.person(p)
	}
	return out
}

func sexLabel(gender string) string {
	switch gender {
	case "female":
		return "Female"
	case "male":
		return "Male"
	case "other":
		return "Other"
	}
	return "Unknown"
}

// describeEncounter is the one line a banner or option shows for an encounter.
func describeEncounter(e smart.EncounterSummary) string {
	parts := []string{}
	if e.Type != "" {
		parts = append(parts, layout.ClinicalText(e.Type))
	} else if e.Class != "" {
		parts = append(parts, e.Class)
	}
	if !e.Start.IsZero() {
		parts = append(parts, e.Start.Format("2006-01-02"))
	}
	if e.Location != "" {
		parts = append(parts, e.Location)
	}
	s := strings.Join(parts, " · ")
	if s == "" {
		s = "Encounter"
	}
	return s + " (" + e.Status + ")"
}

// allergies returns the patient's allergies and whether they are known.
func (h *Handler) allergies(ctx context.Context, patientID string) ([]string, bool) {
	list, err := h.Directory.Allergies(ctx, patientID)
	if err != nil {
		h.logger().Warn("allergies", "patient", patientID, "err", err)
		return nil, false
	}
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = layout.ClinicalText(a)
	}
	return out, true
}
