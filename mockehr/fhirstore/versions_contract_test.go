package fhirstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/internal/pgtest"
	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// versionBackends gives, per implementation, a function opening another
// instance (its own *store.DB, migrated) on one fresh shared database.
func versionBackends() map[string]func(t *testing.T) func() *store.DB {
	open := func(t *testing.T, dir, u string) *store.DB {
		db, err := store.OpenPostgres(context.Background(), dir, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(context.Background(), "fhirstore", migrations); err != nil {
			t.Fatal(err)
		}
		return db
	}
	return map[string]func(t *testing.T) func() *store.DB{
		"sqlite": func(t *testing.T) func() *store.DB {
			dir := t.TempDir()
			return func() *store.DB { return open(t, dir, "") }
		},
		"postgres": func(t *testing.T) func() *store.DB {
			u := pgtest.URL(t)
			return func() *store.DB { return open(t, t.TempDir(), u) }
		},
	}
}

func collect(t *testing.T, f func(fn func(StoredVersion) error) error) []string {
	t.Helper()
	var out []string
	if err := f(func(v StoredVersion) error {
		out = append(out, fmt.Sprintf("%s/%s/%d/%v/%s/%d", v.Type, v.ID, v.Version, v.Deleted, v.Body, v.LastUpdated.UnixNano()))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVersionStoreContract is the one contract of VersionStore, run
// against SQLite and PostgreSQL through two instances sharing the data.
func TestVersionStoreContract(t *testing.T) {
	for name, backend := range versionBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := backend(t)
			a, b := versionStoreFor(open()), versionStoreFor(open())
			t0 := time.Date(2025, 1, 2, 3, 4, 5, 123456000, time.UTC)
			put := func(s VersionStore, typ, id string, ver int, deleted bool, body string, at time.Duration) error {
				var bb []byte
				if !deleted {
					bb = []byte(body)
				}
				return s.AppendVersion(ctx, StoredVersion{Type: typ, ID: id, Version: ver, LastUpdated: t0.Add(at), Deleted: deleted, Body: bb})
			}
			if got := collect(t, func(fn func(StoredVersion) error) error { return a.Versions(ctx, fn) }); got != nil {
				t.Fatalf("Versions of an empty store: %v", got)
			}
			steps := []struct {
				s       VersionStore
				typ, id string
				ver     int
				del     bool
				body    string
			}{
				{a, "Patient", "p1", 1, false, `{"v":1}`},
				{b, "Observation", "o1", 1, false, `{"o":1}`},
				{a, "Patient", "p1", 2, false, `{"v":2}`},
				{b, "Observation", "o2", 1, false, `{"o":2}`},
				{a, "Observation", "o1", 2, true, ""},
			}
			for i, st := range steps {
				if err := put(st.s, st.typ, st.id, st.ver, st.del, st.body, time.Duration(i)*time.Microsecond); err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
			}
			// The same version again (another instance wrote it first).
			if err := put(b, "Patient", "p1", 2, false, `{"v":"other"}`, time.Hour); err == nil {
				t.Fatal("a second write of one version succeeded")
			} else if name == "postgres" && !errors.Is(err, ErrConflict) {
				t.Fatalf("a second write of one version: %v, want ErrConflict", err)
			}
			ns := func(i int) int64 { return t0.Add(time.Duration(i) * time.Microsecond).UnixNano() }
			want := []string{
				fmt.Sprintf(`Patient/p1/2/false/{"v":2}/%d`, ns(2)),
				fmt.Sprintf(`Observation/o2/1/false/{"o":2}/%d`, ns(3)),
				fmt.Sprintf(`Observation/o1/2/true//%d`, ns(4)),
			}
			if got := collect(t, func(fn func(StoredVersion) error) error { return b.Versions(ctx, fn) }); !slices.Equal(got, want) {
				t.Fatalf("Versions =\n%v\nwant latest versions in write order\n%v", got, want)
			}
			hist := collect(t, func(fn func(StoredVersion) error) error { return b.History(ctx, "Patient", "p1", fn) })
			if want := []string{fmt.Sprintf(`Patient/p1/1/false/{"v":1}/%d`, ns(0)), fmt.Sprintf(`Patient/p1/2/false/{"v":2}/%d`, ns(2))}; !slices.Equal(hist, want) {
				t.Fatalf("History = %v, want %v", hist, want)
			}
			if h := collect(t, func(fn func(StoredVersion) error) error { return a.History(ctx, "Patient", "nope", fn) }); h != nil {
				t.Fatalf("History of an unwritten resource: %v", h)
			}
			// Since walks every version in write order, from any point;
			// LastSeq is the last one's number.
			var seqs []int64
			var since []string
			if err := a.Since(ctx, 0, 100, func(seq int64, v StoredVersion) error {
				seqs = append(seqs, seq)
				since = append(since, fmt.Sprintf("%s/%s/%d", v.Type, v.ID, v.Version))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if want := []string{"Patient/p1/1", "Observation/o1/1", "Patient/p1/2", "Observation/o2/1", "Observation/o1/2"}; !slices.Equal(since, want) {
				t.Fatalf("Since(0) = %v, want %v", since, want)
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Fatalf("sequence numbers %v are not increasing", seqs)
				}
			}
			if last, err := b.LastSeq(ctx); err != nil || last < seqs[4] {
				t.Fatalf("LastSeq = %d, %v; want at least %d", last, err, seqs[4])
			}
			var tail []string
			b.Since(ctx, seqs[2], 1, func(_ int64, v StoredVersion) error {
				tail = append(tail, fmt.Sprintf("%s/%s/%d", v.Type, v.ID, v.Version))
				return nil
			})
			if !slices.Equal(tail, []string{"Observation/o2/1"}) {
				t.Fatalf("Since(third, limit 1) = %v", tail)
			}
			// fn's error stops the walk and comes back.
			stop := errors.New("stop")
			if err := a.Versions(ctx, func(StoredVersion) error { return stop }); !errors.Is(err, stop) {
				t.Fatalf("Versions with a failing fn: %v", err)
			}
		})
	}
}

// TestStoreOnPostgresSurvivesRestart: FHIR writes of a store on PostgreSQL
// are there, indexed, with their history, for a store started later on
// another data directory (another instance).
func TestStoreOnPostgresSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	open := func() *store.DB {
		db, err := store.OpenPostgres(ctx, t.TempDir(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	s := openWorld(t, open())
	r, _ := s.Parse("Observation", fhirtest.Observation("ignored", "p1", "laboratory", "2345-7", "Glucose", "2025-01-01"))
	created, err := s.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	upd, _ := s.Parse("Patient", fhirtest.Patient("p1", "Amelia", "Shaw", "female", "1987-02-20", "MRN-001"))
	if _, _, err := s.Update(ctx, upd, 1); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, "Observation", "o2", 0); err != nil {
		t.Fatal(err)
	}

	s2 := openWorld(t, open())
	if got, ok := s2.Get("Observation", created.ID); !ok || got.Deleted || got.Version != 1 {
		t.Errorf("created Observation on the second instance: %+v %v", got, ok)
	}
	if got := search(t, s2, "Patient", "given=amelia"); !slices.Equal(got, []string{"p1"}) {
		t.Errorf("updated name not indexed on the second instance: %v", got)
	}
	if h := mustHistory(t, s2, "Patient", "p1"); len(h) != 2 || h[0].Version != 2 || h[1].Version != 1 {
		t.Errorf("history on the second instance: %d versions", len(h))
	}
	if o2, ok := s2.Get("Observation", "o2"); !ok || !o2.Deleted || o2.Version != 2 {
		t.Errorf("deleted o2 on the second instance: %+v", o2)
	}
	// Both now hold Patient p1 at version 2; the second instance's update
	// to version 3 makes the first one's (stale) version 3 a conflict.
	upd2, _ := s2.Parse("Patient", fhirtest.Patient("p1", "Amelia", "Shaw", "female", "1987-02-20", "MRN-002"))
	if _, _, err := s2.Update(ctx, upd2, 2); err != nil {
		t.Fatal(err)
	}
	upd1, _ := s.Parse("Patient", fhirtest.Patient("p1", "Stale", "Shaw", "female", "1987-02-20", "MRN-001"))
	if _, _, err := s.Update(ctx, upd1, 0); !errors.Is(err, ErrConflict) {
		t.Fatalf("an update built on a version another instance replaced: %v, want ErrConflict", err)
	}
}

// TestWritesFollowedAcrossInstances: on PostgreSQL, a write on one
// instance reaches another instance's memory (indexes included) through
// its follower, and versions it already has are not published again.
func TestWritesFollowedAcrossInstances(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	open := func() *Store {
		db, err := store.OpenPostgres(ctx, t.TempDir(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s := openWorld(t, db)
		t.Cleanup(func() { s.Close() })
		return s
	}
	a, b := open(), open()
	if a.follow == nil || b.follow == nil {
		t.Fatal("no follower on a store sharing PostgreSQL")
	}
	r, _ := a.Parse("Observation", fhirtest.Observation("ignored", "p1", "laboratory", "2345-7", "Glucose", "2025-01-01"))
	created, err := a.Create(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	upd, _ := a.Parse("Patient", fhirtest.Patient("p1", "Amelia", "Shaw", "female", "1987-02-20", "MRN-001"))
	if _, _, err := a.Update(ctx, upd, 1); err != nil {
		t.Fatal(err)
	}
	// One poll, called directly: no waiting on the ticker.
	if err := b.follow.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got, ok := b.Get("Observation", created.ID); !ok || got.Version != 1 {
		t.Fatalf("B after a poll: %+v %v; want A's new Observation", got, ok)
	}
	if got := search(t, b, "Patient", "given=amelia"); !slices.Equal(got, []string{"p1"}) {
		t.Fatalf("A's update not indexed on B: %v", got)
	}
	gen := a.gen.Load()
	if err := a.follow.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if a.gen.Load() != gen {
		t.Fatal("A published its own writes again")
	}
	// B deletes; A's ticker (not a direct poll) brings it within a few
	// polls. The deadline is generous: it only bounds a broken follower.
	if _, err := b.Delete(ctx, "Observation", created.ID, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if got, _ := a.Get("Observation", created.ID); got != nil && got.Deleted {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("A never learned of B's deletion")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// fakeFeed is a VersionStore whose rows a test commits out of order.
type fakeFeed struct {
	VersionStore // only Since is used
	rows         map[int64]StoredVersion
}

func (f *fakeFeed) Since(_ context.Context, after int64, limit int, fn func(int64, StoredVersion) error) error {
	var seqs []int64
	for seq := range f.rows {
		if seq > after {
			seqs = append(seqs, seq)
		}
	}
	slices.Sort(seqs)
	for i, seq := range seqs {
		if i == limit {
			break
		}
		if err := fn(seq, f.rows[seq]); err != nil {
			return err
		}
	}
	return nil
}

// TestFollowerWaitsForGaps: a number that commits after a higher one is
// still read (the high-water mark stays below the gap).
func TestFollowerWaitsForGaps(t *testing.T) {
	ctx := context.Background()
	s := openWorld(t, nil)
	patient := func(id, given string, ver int) StoredVersion {
		return StoredVersion{Type: "Patient", ID: id, Version: ver, LastUpdated: time.Unix(int64(ver), 0),
			Body: fhirtest.Patient(id, given, "Shaw", "female", "1987-02-20", "MRN-9"+id)}
	}
	feed := &fakeFeed{rows: map[int64]StoredVersion{
		1: patient("n1", "One", 1),
		3: patient("n3", "Three", 1), // 2 has not committed yet
	}}
	f := newFollower(s, feed, 0)
	if err := f.poll(ctx); err != nil {
		t.Fatal(err)
	}
	if f.hw != 1 {
		t.Fatalf("high-water mark %d after a gap at 2, want 1", f.hw)
	}
	feed.rows[2] = patient("n2", "Two", 1)
	if err := f.poll(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"n1", "n2", "n3"} {
		if _, ok := s.Get("Patient", id); !ok {
			t.Errorf("Patient %s not followed", id)
		}
	}
	if f.hw != 3 || len(f.gaps) != 0 {
		t.Fatalf("high-water mark %d, gaps %v; want 3 and none", f.hw, f.gaps)
	}
	if got := search(t, s, "Patient", "given=two"); !slices.Equal(got, []string{"n2"}) {
		t.Fatalf("late version not indexed: %v", got)
	}
}
