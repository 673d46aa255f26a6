package fhirstore

import (
	"context"
	"strings"
	"sync"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// summaryCache keeps Directory summaries (which decode the resource and
// look up related Conditions or PractitionerRoles) for one store
// generation: any write anywhere drops them all. Writes are rare and
// summaries are read on every launch mint, picker and banner, so this
// trades exact invalidation for simplicity.
type summaryCache struct {
	mu  sync.Mutex
	gen uint64
	m   map[rkey]smart.PersonSummary
}

// summary returns the cached summary of r, computing it when missing.
func (s *Store) summary(r *Resource) smart.PersonSummary {
	gen := s.gen.Load()
	k := rkey{r.Type, r.ID}
	c := &s.summaries
	c.mu.Lock()
	if c.gen != gen || c.m == nil {
		c.m, c.gen = map[rkey]smart.PersonSummary{}, gen
	}
	p, ok := c.m[k]
	c.mu.Unlock()
	if !ok {
		p = s.person(r)
		c.mu.Lock()
		if c.gen == gen {
			c.m[k] = p
		}
		c.mu.Unlock()
	}
	p.Patients = append([]string(nil), p.Patients...) // callers may keep or change it
	return p
}

// Allergies lists the display text of a patient's active (or unstated)
// allergies and intolerances, for the simulated EHR's banner.
func (s *Store) Allergies(_ context.Context, patientID string) ([]string, error) {
	if _, err := s.live("Patient", patientID); err != nil {
		return nil, err
	}
	var out []string
	seen := map[string]bool{}
	for _, a := range s.Search(&Query{Type: types["AllergyIntolerance"], Compartment: patientID}) {
		active := true
		for i := range a.entries {
			e := &a.entries[i]
			if a.param(e).Name == "clinical-status" {
				v := strings.ToLower(a.val(e))
				active = v == "active"
			}
		}
		if active && a.display != "" && !seen[a.display] {
			seen[a.display] = true
			out = append(out, a.display)
		}
	}
	return out, nil
}
