package fhirstore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/fixtures"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

func openDefault(t *testing.T) *Store {
	t.Helper()
	set, err := fixtures.Default(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), Options{Fixtures: set})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAllergiesForBanner(t *testing.T) {
	s := openDefault(t)
	ctx := context.Background()
	got, err := s.Allergies(ctx, fixtures.DefaultPatientID)
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.ToLower(strings.Join(got, "; "))
	if len(got) != 2 || !strings.Contains(joined, "penicillin") || !strings.Contains(joined, "pollen") {
		t.Fatalf("allergies of %s = %q, want penicillin and tree pollen", fixtures.DefaultPatientID, got)
	}
	if _, err := s.Allergies(ctx, "no-such-patient"); !errors.Is(err, smart.ErrNotFound) {
		t.Fatalf("unknown patient: err = %v, want ErrNotFound", err)
	}
}

// The summary cache never serves a summary older than the last write.
func TestSummaryFollowsWrites(t *testing.T) {
	s := openDefault(t)
	ctx := context.Background()
	before, err := s.Patient(ctx, fixtures.DefaultPatientID)
	if err != nil {
		t.Fatal(err)
	}
	cur, _ := s.Get("Patient", fixtures.DefaultPatientID)
	body := strings.Replace(string(cur.Raw), `"text":"Amy V. Shaw","family":"Shaw"`, `"text":"Amy V. Renamed","family":"Renamed"`, 1)
	if body == string(cur.Raw) {
		t.Fatalf("fixture patient has no family Shaw: %.300s", cur.Raw)
	}
	r, err := s.Parse("Patient", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, r, 0); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Patient(ctx, fixtures.DefaultPatientID)
	if !strings.Contains(after.Name, "Renamed") || after.Name == before.Name {
		t.Fatalf("summary after rename = %q (before %q)", after.Name, before.Name)
	}
	found, _ := s.SearchPatients(ctx, "renamed", 0)
	if len(found) != 1 || found[0].ID != fixtures.DefaultPatientID {
		t.Fatalf("search by new name = %+v", found)
	}
}

func BenchmarkPractitioners(b *testing.B) {
	set, _ := fixtures.Default(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	s, _ := Open(context.Background(), Options{Fixtures: set})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.Practitioners(context.Background())
	}
}
