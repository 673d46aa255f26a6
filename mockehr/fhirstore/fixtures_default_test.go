package fhirstore

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/fixtures"
)

// TestDefaultFixturesLoad: the default embedded data set loads fully
// (every resource type it uses is supported) and feeds the directory.
func TestDefaultFixturesLoad(t *testing.T) {
	ref := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	res, err := fixtures.Default(ref)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Options{Fixtures: res, Now: func() time.Time { return ref }})
	if err != nil {
		t.Fatal(err)
	}
	s.mu.RLock()
	n := len(s.cur)
	for k, r := range s.cur {
		var doc struct {
			ResourceType, ID string
			Meta             struct{ VersionID, LastUpdated string }
		}
		if err := json.Unmarshal(r.Raw, &doc); err != nil || doc.ResourceType != k.typ || doc.ID != k.id || doc.Meta.VersionID != "1" || doc.Meta.LastUpdated == "" {
			t.Errorf("%s/%s served as %s (%v)", k.typ, k.id, r.Raw, err)
		}
	}
	s.mu.RUnlock()
	if n != len(res) {
		t.Errorf("loaded %d of %d fixture resources", n, len(res))
	}
	pats, _ := s.SearchPatients(context.Background(), "", 0)
	if len(pats) == 0 {
		t.Fatal("no patients")
	}
	for _, p := range pats[:min(3, len(pats))] {
		t.Logf("%s %s MRN=%s %s summary=%q", p.ID, p.Name, p.MRN, p.BirthDate, p.Summary)
	}
	prs, _ := s.Practitioners(context.Background())
	for _, p := range prs[:min(3, len(prs))] {
		t.Logf("%s %s NPI=%s role=%q", p.ID, p.Name, p.NPI, p.Role)
	}
}

// TestEveryAdvertisedTypeHasDemoData: the CapabilityStatement lists Types();
// the demo set has instances of each, and those of patient-compartment
// types are in a patient's compartment (so patient scopes reach them).
func TestEveryAdvertisedTypeHasDemoData(t *testing.T) {
	ref := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	res, err := fixtures.Default(ref)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Options{Fixtures: res, Now: func() time.Time { return ref }})
	if err != nil {
		t.Fatal(err)
	}
	for _, td := range Types() {
		rs := s.Search(&Query{Type: td})
		if len(rs) == 0 {
			t.Errorf("the demo set has no %s", td.Name)
			continue
		}
		for _, r := range rs {
			if td.Compartment && r.Patient == "" {
				t.Errorf("%s is in no patient's compartment", r.Key())
			}
		}
		if td.Compartment && len(s.Search(&Query{Type: td, Compartment: r0(rs).Patient})) == 0 {
			t.Errorf("%s: a patient search does not find %s", td.Name, r0(rs).Key())
		}
	}
}

func r0(rs []*Resource) *Resource { return rs[0] }
