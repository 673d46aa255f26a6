package fhirstore

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

func openWorld(t testing.TB, db *store.DB) *Store {
	t.Helper()
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	s, err := Open(context.Background(), Options{DB: db, Fixtures: fhirtest.World(), Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(rs []*Resource) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func search(t *testing.T, s *Store, typ, query string) []string {
	t.Helper()
	v, err := url.ParseQuery(query)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseQuery(typ, v, false)
	if err != nil {
		t.Fatalf("%s?%s: %v", typ, query, err)
	}
	return ids(s.Search(q))
}

func TestSearchSemantics(t *testing.T) {
	s := openWorld(t, nil)
	cases := []struct {
		typ, q string
		want   []string
	}{
		{"Observation", "patient=p1", []string{"o1", "o2"}},
		{"Observation", "patient=Patient/p1&category=vital-signs", []string{"o1"}},
		{"Observation", "subject=Patient/p2", []string{"o3", "o4"}},
		{"Observation", "category=" + fhirtest.ObsCategory + "|vital-signs", []string{"o1", "o3"}},
		{"Observation", "category=|vital-signs", nil}, // |code means "no system"
		{"Observation", "category=http://other|vital-signs", nil},
		{"Observation", "code=" + fhirtest.LOINC + "|", []string{"o1", "o2", "o3", "o4"}},
		{"Observation", "code=8867-4,4548-4&patient=p2", []string{"o3", "o4"}}, // comma = OR
		{"Observation", "category=vital-signs&category=laboratory", nil},       // repeat = AND
		{"Observation", "date=2024", []string{"o1", "o3", "o4"}},               // partial date = range
		{"Observation", "date=ge2024-02-01&date=lt2024-05-01", []string{"o3"}}, // o3 is 2024-02-01T09:15
		{"Observation", "date=gt2024-02-01", []string{"o1"}},
		{"Observation", "date=le2023-12-15", []string{"o2"}},
		{"Observation", "date=ne2024", []string{"o2"}},
		{"Observation", "date=eq2024-05-01T09:10:00Z", []string{"o1"}},
		{"Observation", "date=2024-05-01T11:10:00%2B02:00", []string{"o1"}},
		{"Observation", "_sort=-date&patient=p1", []string{"o1", "o2"}},
		{"Observation", "_sort=date&patient=p1", []string{"o2", "o1"}},
		{"Observation", "_id=o2,o4", []string{"o2", "o4"}},
		{"Observation", "code:not=8867-4", []string{"o2", "o4"}},
		{"Patient", "name=am", []string{"p1"}},
		{"Patient", "name=SHAW", []string{"p1"}},
		{"Patient", "family=jon", []string{"p2"}},
		{"Patient", "given=bob&gender=male", []string{"p2"}},
		{"Patient", "name:contains=one", []string{"p2"}},
		{"Patient", "name:exact=sha", nil},
		{"Patient", "identifier=" + fhirtest.MRN + "|MRN-002", []string{"p2"}},
		{"Patient", "birthdate=1987", []string{"p1"}},
		{"Patient", "birthdate=lt1970-01-01", []string{"p2"}},
		{"Condition", "patient=p1&category=problem-list-item&clinical-status=active", []string{"c1", "c2"}},
		{"Encounter", "patient=p1&status=in-progress&class=AMB", []string{"e1"}},
		{"Encounter", "date=2023-01-02", nil}, // period 01-01..01-03 is not contained in one day
		{"Encounter", "date=ge2023-01-02&date=le2023-01-02", []string{"e0"}},
		{"MedicationRequest", "medication=Medication/m1&patient=p2", []string{"mr2"}},
		{"Provenance", "target=Observation/o1", []string{"prov1"}},
		{"Practitioner", "identifier=" + fhirtest.NPI + "|1234567893", []string{"pr1"}},
		{"Observation", "code:missing=true", nil},
		{"Observation", "_lastUpdated=ge2000", []string{"o1", "o2", "o3", "o4"}},
	}
	for _, c := range cases {
		got := search(t, s, c.typ, c.q)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s?%s = %v, want %v", c.typ, c.q, got, c.want)
		}
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, q := range []string{
		"foo=1", "date=2024-13", "date=xx2024", "_count=-1", "_count=x", "_sort=code", "_include=Observation:code",
		"_include=Patient:general-practitioner", "code:text=x", "subject.name=x", "_summary=true", "patient=", "category=a|b|c",
		"_revinclude=Foo:bar", "date=2024-02-30", "_id=a/b",
	} {
		v, _ := url.ParseQuery(q)
		if _, err := ParseQuery("Observation", v, false); err == nil {
			t.Errorf("%s: no error", q)
		} else if _, ok := err.(*InvalidError); !ok {
			t.Errorf("%s: error %T, want *InvalidError", q, err)
		}
		qq, err := ParseQuery("Observation", v, true)
		if err != nil || len(qq.Ignored) != 1 || qq.Canonical.Has(q[:1]) && len(qq.Canonical) > 0 {
			t.Errorf("%s lenient: err %v, ignored %v, canonical %v", q, err, qq.Ignored, qq.Canonical)
		}
	}
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"patient=p1&category=vital-signs", "date=ge2024-01&_sort=-date", "code=a|b,c", `name=a\,b`, "_include=Observation:patient", "_count=3&_offset=9", "code:not=x", "date=2024-01-01T10:00:00.123+05:00"} {
		f.Add("Observation", s)
	}
	f.Add("Patient", "name=amy&birthdate=1987")
	f.Fuzz(func(t *testing.T, typ, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := ParseQuery(typ, v, false)
		if err != nil {
			if _, ok := err.(*InvalidError); !ok || err.Error() == "" {
				t.Fatalf("error %T %q is not a clear InvalidError", err, err)
			}
			return
		}
		// A parsed query must run without panicking.
		s := fuzzStore(t)
		s.Search(q)
	})
}

var fuzzStoreV *Store

func fuzzStore(t *testing.T) *Store {
	if fuzzStoreV == nil {
		fuzzStoreV = openWorld(t, nil)
	}
	return fuzzStoreV
}

func TestDirectory(t *testing.T) {
	s := openWorld(t, nil)
	ctx := context.Background()
	p, err := s.Patient(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "Amy Shaw" || p.MRN != "MRN-001" || p.Gender != "female" || p.BirthDate != "1987-02-20" || p.Summary != "Type 2 diabetes, Hypertension" || !slices.Equal(p.Patients, []string{"p1"}) {
		t.Errorf("Patient p1 = %+v", p)
	}
	pr, err := s.Practitioner(ctx, "pr1")
	if err != nil || pr.Name != "Dr. Adam Careful" || pr.NPI != "1234567893" || pr.Role != "Family medicine physician" || pr.MRN != "" {
		t.Errorf("Practitioner pr1 = %+v, %v", pr, err)
	}
	rp, err := s.RelatedPerson(ctx, "rp1")
	if err != nil || !slices.Equal(rp.Patients, []string{"p1"}) || rp.Role != "mother" || rp.Name != "Mary Shaw" {
		t.Errorf("RelatedPerson rp1 = %+v, %v", rp, err)
	}
	encs, _ := s.Encounters(ctx, "p1")
	if len(encs) != 2 || encs[0].ID != "e1" || encs[0].Class != "AMB" || encs[0].Type != "Check-up" || encs[0].Location != "Clinic room 3" || !encs[0].End.IsZero() || encs[1].End.IsZero() {
		t.Errorf("Encounters(p1) = %+v", encs)
	}
	for q, want := range map[string][]string{"": {"p1", "p2"}, "bob": {"p2"}, "mrn-001": {"p1"}, "1960": {"p2"}, "amy shaw": {"p1"}, "zzz": nil} {
		got, _ := s.SearchPatients(ctx, q, 0)
		var gotIDs []string
		for _, g := range got {
			gotIDs = append(gotIDs, g.ID)
		}
		if !slices.Equal(gotIDs, want) {
			t.Errorf("SearchPatients(%q) = %v, want %v", q, gotIDs, want)
		}
	}
	if got, _ := s.SearchPatients(ctx, "", 1); len(got) != 1 {
		t.Errorf("limit 1 gave %d", len(got))
	}
	checkPages(t, s)
	if _, err := s.Delete(ctx, "Patient", "p2", 0); err != nil {
		t.Fatal(err)
	}
	if pg, _ := s.PagePatients(ctx, "", 0, 10); pg.Total != 1 || len(pg.Patients) != 1 {
		t.Errorf("after deleting p2: %+v", pg)
	}
	checkPages(t, s)
	if _, err := s.Patient(ctx, "nope"); err == nil {
		t.Error("unknown patient: no error")
	}
	if !s.ResourceExists(ctx, "Observation/o1") || s.ResourceExists(ctx, "Observation/zz") || s.ResourceExists(ctx, "garbage") {
		t.Error("ResourceExists wrong")
	}
	if prov, _ := s.Get("Provenance", "prov3"); prov.Patient != "p2" {
		t.Errorf("Provenance of o3 is in compartment %q, want p2", prov.Patient)
	}
}

// TestPersistence: writes, updates and deletes survive reopening the data
// directory, overlaid on the same fixtures, with their history.
func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s := openWorld(t, db)
	r, _ := s.Parse("Observation", fhirtest.Observation("ignored", "p1", "laboratory", "2345-7", "Glucose", "2025-01-01"))
	created, err := s.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	upd, _ := s.Parse("Patient", fhirtest.Patient("p1", "Amelia", "Shaw", "female", "1987-02-20", "MRN-001"))
	if _, _, err := s.Update(ctx, upd, 1); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Update(ctx, upd, 1); err != ErrConflict {
		t.Fatalf("stale If-Match: %v, want ErrConflict", err)
	}
	if _, err := s.Delete(ctx, "Observation", "o2", 0); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db2, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	s2 := openWorld(t, db2)
	if got, ok := s2.Get("Observation", created.ID); !ok || got.Deleted || got.Version != 1 || got.Patient != "p1" {
		t.Errorf("created Observation after reopen: %+v %v", got, ok)
	}
	if got := search(t, s2, "Observation", "patient=p1&code=2345-7"); !slices.Equal(got, []string{created.ID}) {
		t.Errorf("created Observation not indexed after reopen: %v", got)
	}
	p1, _ := s2.Get("Patient", "p1")
	if p1.Version != 2 || p1.ETag != `W/"2"` {
		t.Errorf("Patient p1 after reopen: version %d etag %s", p1.Version, p1.ETag)
	}
	if got := search(t, s2, "Patient", "given=amelia"); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("updated name not indexed: %v", got)
	}
	if got := search(t, s2, "Patient", "given=amy"); got != nil {
		t.Errorf("old name still indexed: %v", got)
	}
	if h := mustHistory(t, s2, "Patient", "p1"); len(h) != 2 || h[0].Version != 2 || h[1].Version != 1 {
		t.Errorf("history after reopen: %d versions", len(h))
	}
	if o2, ok := s2.Get("Observation", "o2"); !ok || !o2.Deleted || o2.Version != 2 || o2.Patient != "p1" {
		t.Errorf("deleted o2 after reopen: %+v", o2)
	}
	if got := search(t, s2, "Observation", "patient=p1"); slices.Contains(got, "o2") {
		t.Errorf("deleted o2 still searchable: %v", got)
	}
}

func benchStore(b *testing.B, patients int) *Store {
	s, err := Open(context.Background(), Options{Fixtures: fhirtest.Generate(patients)})
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// BenchmarkSearch shows search cost does not grow with the data set
// (docs/architecture.md, performance targets): compare patients=100 with
// 10000.
func BenchmarkSearch(b *testing.B) {
	for _, n := range []int{100, 10000} {
		s := benchStore(b, n)
		for _, c := range []struct{ name, typ, q string }{
			{"observation-vitals", "Observation", "patient=gp42&category=vital-signs"},
			{"patient-name", "Patient", "name=patel-00042"},
		} {
			v, _ := url.ParseQuery(c.q)
			b.Run(c.name+"/patients="+strconv.Itoa(n), func(b *testing.B) {
				for b.Loop() {
					q, err := ParseQuery(c.typ, v, false)
					if err != nil {
						b.Fatal(err)
					}
					if len(s.Search(q)) == 0 {
						b.Fatal("no results")
					}
				}
			})
		}
	}
}

// checkPages: PagePatients' pages, joined, are SearchPatients' list, and
// each page counts all of it, for queries matching many, one and none.
func checkPages(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{"", "a", "pat", "19", "zzz"} {
		all, _ := s.SearchPatients(ctx, q, 0)
		for _, size := range []int{1, 2, 7} {
			var joined []smart.PersonSummary
			for off := 0; ; off += size {
				pg, err := s.PagePatients(ctx, q, off, size)
				if err != nil {
					t.Fatal(err)
				}
				if pg.Total != len(all) {
					t.Fatalf("PagePatients(%q, %d, %d).Total = %d, want %d", q, off, size, pg.Total, len(all))
				}
				if len(pg.Patients) > size {
					t.Fatalf("PagePatients(%q, %d, %d) gave %d", q, off, size, len(pg.Patients))
				}
				joined = append(joined, pg.Patients...)
				if len(pg.Patients) < size {
					break
				}
			}
			if fmt.Sprint(joined) != fmt.Sprint(all) {
				t.Errorf("pages of %d for %q:\n %v\n want %v", size, q, joined, all)
			}
		}
		if pg, _ := s.PagePatients(ctx, q, -5, 0); fmt.Sprint(pg.Patients) != fmt.Sprint(all) {
			t.Errorf("PagePatients(%q, -5, 0) is not the whole list", q)
		}
	}
}

func mustHistory(t testing.TB, s *Store, typ, id string) []*Resource {
	t.Helper()
	h, err := s.History(context.Background(), typ, id)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// Memory does not grow with the number of writes: a resource updated many
// times keeps only its current version and its fixture original in memory;
// every earlier version is read back from the database, in order, with its
// own content, before and after a restart, deletions included.
func TestHistoryIsReadFromTheBackend(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	s := openWorld(t, db)
	const updates = 40
	for i := 1; i <= updates; i++ {
		upd, _ := s.Parse("Patient", fhirtest.Patient("p1", fmt.Sprint("Given", i), "Shaw", "female", "1987-02-20", "MRN-001"))
		if _, _, err := s.Update(ctx, upd, 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Delete(ctx, "Patient", "p1", 0); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store, when string) {
		t.Helper()
		if n := len(s.hist[rkey{"Patient", "p1"}]); n != 1 {
			t.Errorf("%s: %d earlier versions held in memory, want 1 (the fixture original)", when, n)
		}
		h := mustHistory(t, s, "Patient", "p1")
		if len(h) != updates+2 {
			t.Fatalf("%s: %d versions, want %d", when, len(h), updates+2)
		}
		for i, v := range h {
			want := updates + 2 - i
			if v.Version != want {
				t.Fatalf("%s: entry %d is version %d, want %d", when, i, v.Version, want)
			}
			switch {
			case i == 0:
				if !v.Deleted {
					t.Errorf("%s: newest version is not the deletion", when)
				}
			case want == 1:
				if !bytes.Contains(v.Raw, []byte(`"Amy"`)) {
					t.Errorf("%s: version 1 is not the fixture original: %s", when, v.Raw)
				}
			default:
				if !bytes.Contains(v.Raw, []byte(fmt.Sprintf(`"Given%d"`, want-1))) || !bytes.Contains(v.Raw, []byte(fmt.Sprintf(`"versionId":"%d"`, want))) {
					t.Errorf("%s: version %d has the wrong content: %s", when, want, v.Raw)
				}
			}
		}
	}
	check(s, "before restart")
	db.Close()
	db2, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	check(openWorld(t, db2), "after restart")
}
