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
