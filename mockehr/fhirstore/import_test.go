package fhirstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/fixtures"
	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// memSource is a Source over resources held in memory.
type memSource struct {
	fp    string
	raws  []json.RawMessage
	fail  error // returned by Each after handing out every resource
	calls int   // Each calls
}

func (m *memSource) Fingerprint() string                { return m.fp }
func (m *memSource) Check(context.Context) (int, error) { return len(m.raws), nil }
func (m *memSource) Each(ctx context.Context, fn func([]byte, string) error) error {
	m.calls++
	for i, r := range m.raws {
		if err := fn(bytes.Clone(r), fmt.Sprintf("mem.ndjson: line %d", i+1)); err != nil {
			return err
		}
	}
	return m.fail
}

var importRef = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// scaleData is the generator's output for n patients plus the hand-made
// world, so both shapes meet every search feature.
func scaleData(t testing.TB, n int) []json.RawMessage {
	t.Helper()
	out := fhirtest.World()
	err := fixtures.Generate(fixtures.GenerateOptions{Patients: n, Seed: 7, Ref: importRef}, func(m json.RawMessage) error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func openDB(t testing.TB, dir string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func fixedClock() func() time.Time {
	clock := importRef
	return func() time.Time { clock = clock.Add(time.Second); return clock }
}

func openImported(t testing.TB, db *store.DB, src Source, cache int64) *Store {
	t.Helper()
	s, err := Open(context.Background(), Options{DB: db, Import: src, Now: fixedClock(), CacheBytes: cache, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// importQueries exercise every index and matcher path.
func importQueries(data []json.RawMessage) [][2]string {
	qs := [][2]string{
		{"Observation", "patient=p1"},
		{"Observation", "patient=Patient/p1&category=vital-signs"},
		{"Observation", "subject=Patient/p2"},
		{"Observation", "category=" + fhirtest.ObsCategory + "|vital-signs&_count=5"},
		{"Observation", "code=8867-4,4548-4&patient=p2"},
		{"Observation", "date=ge2024-02-01&date=lt2024-05-01"},
		{"Observation", "_id=o2,o4,obs-g00003-2"},
		{"Observation", "code:not=8867-4&patient=p1"},
		{"Observation", "_sort=-date&patient=pat-g00002"},
		{"Observation", "patient=pat-g00002&category=laboratory&_sort=date,_id"},
		{"Observation", "patient=pat-g00004&date=ge2024-01-01&_sort=-_lastUpdated"},
		{"Observation", "encounter=Encounter/enc-g00001-1"},
		{"Observation", "performer:missing=false&patient=pat-g00001"},
		{"Observation", "_lastUpdated=ge2020-01-01&patient=pat-g00005"},
		{"Condition", "patient=pat-g00003&clinical-status=active"},
		{"Encounter", "patient=pat-g00006&status=in-progress"},
		{"Encounter", "participant=Practitioner/prac-gen-01,Practitioner/prac-gen-02,Practitioner/prac-gen-07&_sort=date"},
		{"Encounter", "class=AMB&date=ge2025"},
		{"Patient", "name=am"},
		{"Patient", "family=jon"},
		{"Patient", "name:contains=son"},
		{"Patient", "name:exact=shaw"},
		{"Patient", "gender=female&birthdate=lt1990"},
		{"Patient", "_sort=birthdate"},
		{"Patient", ""},
		{"Practitioner", "name=a"},
		{"PractitionerRole", "practitioner=Practitioner/prac-gen-02"},
		{"MedicationRequest", "status=active"},
		{"Immunization", "patient=pat-g00008&_sort=-date"},
		{"DiagnosticReport", "encounter=Encounter/enc-g00001-1"},
		{"DiagnosticReport", "category=LAB&patient=pat-g00001"},
		{"AllergyIntolerance", "patient=pat-g00009"},
	}
	for _, raw := range data {
		var r struct{ ResourceType, ID string }
		json.Unmarshal(raw, &r)
		if r.ResourceType == "Patient" {
			qs = append(qs, [2]string{"Observation", "patient=" + r.ID}, [2]string{"Condition", "patient=" + r.ID + "&_sort=-onset-date"},
				[2]string{"Encounter", "subject=Patient/" + r.ID + "&_sort=-date"})
		}
	}
	return qs
}

func query(t testing.TB, typ, raw string, compartment string) *Query {
	t.Helper()
	v, err := url.ParseQuery(raw)
	if err != nil {
		t.Fatal(err)
	}
	q, err := ParseQuery(typ, v, false)
	if err != nil {
		t.Fatalf("%s?%s: %v", typ, raw, err)
	}
	q.Compartment = compartment
	return q
}

func keys(rs []*Resource) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key() + "@" + r.ETag
	}
	return out
}

// sameAnswers checks that two stores answer every query, read, history,
// compartment, reverse reference and directory call alike.
func sameAnswers(t *testing.T, want, got *Store, data []json.RawMessage) {
	t.Helper()
	for _, c := range importQueries(data) {
		for _, comp := range []string{"", "pat-g00002"} {
			w, g := keys(want.Search(query(t, c[0], c[1], comp))), keys(got.Search(query(t, c[0], c[1], comp)))
			if !slices.Equal(w, g) {
				t.Errorf("%s?%s (compartment %q):\n memory   %v\n imported %v", c[0], c[1], comp, w, g)
			}
		}
	}
	for _, raw := range data {
		var r struct{ ResourceType, ID string }
		json.Unmarshal(raw, &r)
		wr, wok := want.Get(r.ResourceType, r.ID)
		gr, gok := got.Get(r.ResourceType, r.ID)
		if wok != gok || (wok && (!bytes.Equal(wr.Raw, gr.Raw) || wr.Patient != gr.Patient || wr.ETag != gr.ETag || wr.LastModified != gr.LastModified || wr.Version != gr.Version)) {
			t.Fatalf("Get %s/%s differs:\n memory   %v %s\n imported %v %s", r.ResourceType, r.ID, wok, wr.Raw, gok, gr.Raw)
		}
		if !slices.Equal(keys(mustHistory(t, want, r.ResourceType, r.ID)), keys(mustHistory(t, got, r.ResourceType, r.ID))) {
			t.Errorf("History %s/%s differs", r.ResourceType, r.ID)
		}
		if r.ResourceType == "Patient" {
			if w, g := keys(want.Compartment(r.ID)), keys(got.Compartment(r.ID)); !slices.Equal(w, g) {
				t.Errorf("Compartment %s differs: %d vs %d", r.ID, len(w), len(g))
			}
		}
	}
	for _, target := range []string{"Practitioner/prac-gen-01", "Patient/pat-g00001", "Encounter/enc-g00001-1", "Medication/med-gen-metformin"} {
		for _, td := range Types() {
			for _, inc := range td.Includes {
				w := keys(want.Referencing(target, td, td.Params[inc]))
				g := keys(got.Referencing(target, td, td.Params[inc]))
				if !slices.Equal(w, g) {
					t.Errorf("Referencing(%s, %s:%s): %v vs %v", target, td.Name, inc, w, g)
				}
			}
		}
	}
	ctx := context.Background()
	for _, q := range []string{"", "am", "pat", "19", "mrn", "zzz"} {
		w, _ := want.SearchPatients(ctx, q, 20)
		g, _ := got.SearchPatients(ctx, q, 20)
		if fmt.Sprint(w) != fmt.Sprint(g) {
			t.Errorf("SearchPatients(%q):\n %v\n %v", q, w, g)
		}
	}
	checkPages(t, want)
	checkPages(t, got)
	w, _ := want.Encounters(ctx, "pat-g00003")
	g, _ := got.Encounters(ctx, "pat-g00003")
	if fmt.Sprint(w) != fmt.Sprint(g) {
		t.Errorf("Encounters differ")
	}
	wp, _ := want.Practitioners(ctx)
	gp, _ := got.Practitioners(ctx)
	if fmt.Sprint(wp) != fmt.Sprint(gp) {
		t.Errorf("Practitioners differ:\n %v\n %v", wp, gp)
	}
}

// TestImportedTierAnswersLikeMemory: a data set imported into the database
// answers every search, read and directory call exactly as the same set
// held in memory, cold and from the cache, and after a restart that skips
// the import.
func TestImportedTierAnswersLikeMemory(t *testing.T) {
	data := scaleData(t, 12)
	mem, err := Open(context.Background(), Options{Fixtures: data, Now: fixedClock(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := &memSource{fp: "v1", raws: data}
	imp := openImported(t, openDB(t, dir), src, 0)
	if st := imp.Stats(); st.Imported != len(data) || st.ImportSkipped || st.Memory != 0 {
		t.Fatalf("stats after import: %+v", st)
	}
	sameAnswers(t, mem, imp, data) // cold
	sameAnswers(t, mem, imp, data) // cached
	imp.Close()

	// A restart with the same fingerprint does not read the source.
	again := openImported(t, openDB(t, dir), src, 1) // a cache of one byte: every read goes to the database
	if st := again.Stats(); !st.ImportSkipped || st.Imported != len(data) || src.calls != 1 {
		t.Fatalf("restart: stats %+v, Each called %d times", st, src.calls)
	}
	sameAnswers(t, mem, again, data)
	if st := again.Stats(); st.CacheBytes > 1 {
		t.Errorf("cache holds %d bytes over its limit of 1", st.CacheBytes)
	}

	// With a low threshold many keys are wide (dropped from the index):
	// the answers stay the same.
	defer func(v int) { wideMin = v }(wideMin)
	wideMin = 20
	wide := openImported(t, openDB(t, t.TempDir()), &memSource{fp: "wide", raws: data}, 0)
	if len(wide.imp.x.toks.wide) < 10 {
		t.Fatalf("only %d wide keys", len(wide.imp.x.toks.wide))
	}
	sameAnswers(t, mem, wide, data)
}

// Writes to imported resources behave as writes to memory ones: versions,
// history, search (the imported row is shadowed) and restart (overlay).
func TestWritesOverImportedResources(t *testing.T) {
	ctx := context.Background()
	data := scaleData(t, 3)
	dir := t.TempDir()
	src := &memSource{fp: "v1", raws: data}
	s := openImported(t, openDB(t, dir), src, 0)
	mem, err := Open(ctx, Options{DB: openDB(t, t.TempDir()), Fixtures: data, Now: fixedClock(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range []*Store{mem, s} {
		cur, ok := st.Get("Observation", "obs-g00001-1")
		if !ok {
			t.Fatal("missing obs-g00001-1")
		}
		changed := strings.Replace(string(cur.Raw), `"status":"final"`, `"status":"amended"`, 1)
		r, err := st.Parse("Observation", []byte(changed))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Update(ctx, r, 1); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Delete(ctx, "Condition", "cond-g00002-1", 0); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Delete(ctx, "Patient", "pat-g00002", 0); err != nil {
			t.Fatal(err)
		}
		moved, _ := st.Get("Encounter", "enc-g00003-1")
		r, err = st.Parse("Encounter", bytes.Replace(moved.Raw, []byte("Patient/pat-g00003"), []byte("Patient/pat-g00001"), -1))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.Update(ctx, r, 0); err != nil {
			t.Fatal(err)
		}
	}
	check := func(s *Store) {
		t.Helper()
		sameAnswers(t, mem, s, data)
		if h := mustHistory(t, s, "Observation", "obs-g00001-1"); len(h) != 2 || h[0].Version != 2 || h[1].Version != 1 {
			t.Errorf("history: %v", keys(h))
		}
		if got := ids(s.Search(query(t, "Observation", "status=amended", ""))); !slices.Equal(got, []string{"obs-g00001-1"}) {
			t.Errorf("status=amended: %v", got)
		}
		if r, ok := s.Get("Condition", "cond-g00002-1"); !ok || !r.Deleted {
			t.Errorf("deleted condition: %v %v", ok, r)
		}
		if got := ids(s.Search(query(t, "Encounter", "patient=pat-g00003&_id=enc-g00003-1", ""))); len(got) != 0 {
			t.Errorf("the moved encounter is still in its old compartment: %v", got)
		}
		wp, _ := mem.PagePatients(ctx, "", 0, 0)
		gp, _ := s.PagePatients(ctx, "", 0, 0)
		if fmt.Sprint(wp) != fmt.Sprint(gp) || strings.Contains(fmt.Sprint(gp), "pat-g00002") {
			t.Errorf("patients after a delete:\n %v\n %v", wp, gp)
		}
		checkPages(t, s)
	}
	check(s)
	s.Close()
	// Restart: the import is skipped, the writes are overlaid on it.
	again := openImported(t, openDB(t, dir), src, 0)
	if !again.Stats().ImportSkipped {
		t.Fatal("import not skipped")
	}
	check(again)
}

// A source with a problem leaves nothing behind, and an import that never
// finished (a kill) is done again from scratch at the next start.
func TestImportFailsCleanlyAndRestartsAfterAKill(t *testing.T) {
	ctx := context.Background()
	data := scaleData(t, 2)
	dir := t.TempDir()
	db := openDB(t, dir)
	bad := &memSource{fp: "bad", raws: data, fail: errors.New("Observation.ndjson: line 3: dangling reference Patient/x")}
	if _, err := Open(ctx, Options{DB: db, Import: bad, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("err = %v", err)
	}
	be, err := NewSQLite(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer be.Close()
	if st, _ := be.ImportState(ctx); st.Status != "" {
		t.Fatalf("a failed import left state %+v", st)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ImportedFileName+"*")); len(left) > 0 {
		t.Fatalf("a failed import left %v", left)
	}

	// An unparsable resource is reported with where it came from.
	broken := &memSource{fp: "broken", raws: append(slices.Clone(data[:3]), json.RawMessage(`{"resourceType":"Patient","id":"x","birthDate":`))}
	if _, err := Open(ctx, Options{DB: db, Import: broken, Logger: quietLogger()}); err == nil || !strings.Contains(err.Error(), "mem.ndjson: line 4") {
		t.Fatalf("err = %v", err)
	}

	// A kill in the middle: rows written, status still running.
	w, err := be.BeginImport(ctx, "v1")
	if err != nil {
		t.Fatal(err)
	}
	w.Put(ctx, ImportedRow{Seq: 1, Type: "Patient", ID: "ghost", Record: []byte{1}, Body: []byte(`{}`)})
	w.(*sqliteImport).close() // killed: no Finish, no Abort
	if st, _ := be.ImportState(ctx); st.Status != ImportRunning {
		t.Fatalf("state after a kill: %+v", st)
	}
	src := &memSource{fp: "v1", raws: data}
	s := openImported(t, db, src, 0)
	if st := s.Stats(); st.ImportSkipped || st.Imported != len(data) || src.calls != 1 {
		t.Fatalf("after a kill: %+v (Each %d)", st, src.calls)
	}
	if _, ok := s.Get("Patient", "ghost"); ok {
		t.Fatal("a row of the killed import survived")
	}
	s.Close()
	// A lost or foreign index file: imported again, not trusted.
	os.Remove(filepath.Join(dir, ImportedFileName+indexSuffix))
	src1 := &memSource{fp: "v1", raws: data}
	s1 := openImported(t, db, src1, 0)
	if st := s1.Stats(); st.ImportSkipped || src1.calls != 1 {
		t.Fatalf("without its index file: %+v", st)
	}
	s1.Close()
	// A changed fingerprint imports again.
	src2 := &memSource{fp: "v2", raws: data[:len(data)-1]}
	s2 := openImported(t, db, src2, 0)
	if st := s2.Stats(); st.ImportSkipped || st.Imported != len(data)-1 || src2.calls != 1 {
		t.Fatalf("changed data: %+v", st)
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A Synthea-shaped record (one patient, thousands of resources, urn:uuid
// and conditional references, claims) imports beside the demo set; the
// patient is in the pickers with its encounters, and the types ehrsim does
// not serve (Claim, ExplanationOfBenefit) are skipped, not an error.
func TestSyntheaRecordImported(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pid, n, err := fixtures.WriteSyntheaLike(dir, 3, 150)
	if err != nil {
		t.Fatal(err)
	}
	def, err := fixtures.Default(importRef)
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, raw := range def {
		var r struct{ ResourceType, ID string }
		json.Unmarshal(raw, &r)
		known[r.ResourceType+"/"+r.ID] = true
	}
	src, err := fixtures.OpenDir(dir, func(ref string) bool { return known[ref] })
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, Options{DB: openDB(t, t.TempDir()), Fixtures: def, Import: src, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st := s.Stats(); st.Imported != n-2*150 { // all but the claims and EOBs
		t.Errorf("imported %d of %d resources", st.Imported, n)
	}
	pats, _ := s.SearchPatients(ctx, "rosalind", 10)
	if len(pats) != 1 || pats[0].ID != pid {
		t.Fatalf("picker search: %+v", pats)
	}
	encs, _ := s.Encounters(ctx, pid)
	if len(encs) != 150 || encs[0].Start.Before(encs[len(encs)-1].Start) {
		t.Errorf("%d encounters, most recent first: %v", len(encs), encs[0].Start)
	}
	if got := len(s.Search(query(t, "Observation", "patient="+pid+"&category=vital-signs", ""))); got != 150*7 {
		t.Errorf("%d vital signs", got)
	}
	all, _ := s.SearchPatients(ctx, "", 0)
	if len(all) != 29 {
		t.Errorf("%d patients listed, want the demo set's 28 and the record's", len(all))
	}
}

// spliceMeta (fixtures without meta) gives the JSON encodeResource would.
func TestSpliceMetaMatchesEncode(t *testing.T) {
	meta := map[string]any{"versionId": "1", "lastUpdated": "2025-06-01T12:00:00Z"}
	for _, body := range []string{
		`{"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":"Patient/p"}}`,
		`{"resourceType":"Patient","id":"p"}`,
	} {
		got, ok := spliceMeta([]byte(body), strings.Split(strings.Split(body, `"id":"`)[1], `"`)[0], meta)
		if !ok {
			t.Fatalf("no splice for %s", body)
		}
		want, err := encodeResource([]byte(body), strings.Split(strings.Split(body, `"id":"`)[1], `"`)[0], meta)
		if err != nil {
			t.Fatal(err)
		}
		var a, b any
		json.Unmarshal(got, &a)
		json.Unmarshal(want, &b)
		if fmt.Sprint(a) != fmt.Sprint(b) || !strings.HasPrefix(string(got), `{"resourceType":`) {
			t.Errorf("splice %s\n encode %s", got, want)
		}
	}
	if _, ok := spliceMeta([]byte(`{"resourceType":"Patient","id":"p","meta":{}}`), "q", meta); ok {
		t.Error("spliced with another id")
	}
}

// Without a database an Import source is loaded into memory (tests).
func TestImportWithoutDatabaseLoadsIntoMemory(t *testing.T) {
	data := scaleData(t, 2)
	s, err := Open(context.Background(), Options{Import: &memSource{fp: "x", raws: data}, Now: fixedClock(), Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Memory != len(data) || st.Imported != 0 {
		t.Fatalf("stats %+v", st)
	}
	if _, ok := s.Get("Patient", "pat-g00001"); !ok {
		t.Fatal("patient missing")
	}
}
