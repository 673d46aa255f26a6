package inspect

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/internal/pgtest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// storeBackends gives, per implementation, a function opening another
// instance (its own *store.DB and Store, through NewStore) on one fresh
// shared database.
func storeBackends() map[string]func(t *testing.T) func() Store {
	open := func(t *testing.T, dir, u string) Store {
		ctx := context.Background()
		db, err := store.OpenPostgres(ctx, dir, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		st, err := NewStore(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		switch st.(type) {
		case *PostgresStore:
			if u == "" {
				t.Fatal("NewStore chose PostgreSQL without a database URL")
			}
		case *SQLiteStore:
			if u != "" {
				t.Fatal("NewStore chose SQLite with a PostgreSQL database")
			}
		default:
			t.Fatalf("NewStore returned a %T", st)
		}
		return st
	}
	return map[string]func(t *testing.T) func() Store{
		"sqlite": func(t *testing.T) func() Store {
			dir := t.TempDir()
			return func() Store { return open(t, dir, "") }
		},
		"postgres": func(t *testing.T) func() Store {
			u := pgtest.URL(t)
			return func() Store { return open(t, t.TempDir(), u) }
		},
	}
}

// forEachStore runs test against each implementation with a function
// opening further instances on one shared database.
func forEachStore(t *testing.T, test func(t *testing.T, open func() Store)) {
	for name, backend := range storeBackends() {
		t.Run(name, func(t *testing.T) {
			test(t, backend(t))
		})
	}
}

var t0 = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

func ev(launch, client string, at time.Duration, summary string) Event {
	return Event{LaunchID: launch, ClientID: client, At: t0.Add(at), Kind: KindFHIR, Summary: summary}
}

func summaries(evs []Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.Summary
	}
	return out
}

// TestStoreContractAppendEvents: Events returns a launch's events oldest
// first whatever order they were appended in, events of one instant in the
// order written, every field back as saved (a NUL an app sent included),
// and nothing for an unknown launch; another instance reads the same.
func TestStoreContractAppendEvents(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		if evs, err := a.Events(ctx, "nope"); err != nil || len(evs) != 0 {
			t.Fatalf("Events of an unknown launch = %v, %v", evs, err)
		}
		full := ev("L1", "app", 2*time.Second, "authorize with a NUL\x00 in it")
		full.Kind, full.Status, full.Error = KindAuthorize, 302, "invalid_scope: no"
		full.Request = map[string]string{"state": "s\x00t", "scope": "launch patient/*.rs"}
		full.Response = map[string]string{"location": "https://app.example/cb?error=invalid_scope"}
		full.Check(RuleStateMissing, true, "no state")
		full.Check(RulePKCEMissing, false, "")
		if err := a.Append(ctx, []Event{ev("L1", "app", 3*time.Second, "third"), full}); err != nil {
			t.Fatal(err)
		}
		if err := a.Append(ctx, []Event{ev("L1", "app", time.Second, "first"),
			ev("L1", "app", 3*time.Second, "third, same instant, written later"), ev("L2", "app", 0, "other launch")}); err != nil {
			t.Fatal(err)
		}
		for name, s := range map[string]Store{"writer": a, "other instance": b} {
			evs, err := s.Events(ctx, "L1")
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"first", full.Summary, "third", "third, same instant, written later"}
			if got := summaries(evs); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("%s: Events(L1) = %q, want %q", name, got, want)
			}
			got := evs[1]
			if !got.At.Equal(full.At) || got.Kind != KindAuthorize || got.Status != 302 || got.Error != full.Error ||
				got.ClientID != "app" || got.LaunchID != "L1" || got.Request["state"] != "s\x00t" ||
				got.Response["location"] != full.Response["location"] || len(got.Diagnostics) != 1 ||
				got.Diagnostics[0].Rule != RuleStateMissing || got.Diagnostics[0].SpecURL == "" || len(got.Checked) != 2 {
				t.Fatalf("%s: event read back %+v, saved %+v", name, got, full)
			}
		}
		// A client id the app sent with bytes PostgreSQL's TEXT refuses is
		// saved, and found again under the same id.
		odd := "app\x00\xff"
		if err := b.Append(ctx, []Event{ev("L3", odd, 0, "odd client")}); err != nil {
			t.Fatalf("Append with an odd client id: %v", err)
		}
		if ids, err := a.ClientLaunches(ctx, odd, 5); err != nil || fmt.Sprint(ids) != "[L3]" {
			t.Fatalf("ClientLaunches(odd) = %v, %v", ids, err)
		}
		if evs, err := a.Events(ctx, "L3"); err != nil || len(evs) != 1 {
			t.Fatalf("Events(L3) = %v, %v", evs, err)
		}
	})
}

// TestStoreContractClientLaunches: a client's launches, newest (latest
// event) first, at most limit, without other clients' launches.
func TestStoreContractClientLaunches(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		if ids, err := a.ClientLaunches(ctx, "app", 5); err != nil || len(ids) != 0 {
			t.Fatalf("ClientLaunches with no events = %v, %v", ids, err)
		}
		// L1 starts first but has the latest event; L2 and L3 follow.
		if err := a.Append(ctx, []Event{ev("L1", "app", 0, "a"), ev("L2", "app", time.Second, "b"),
			ev("X", "other", 5*time.Second, "c"), ev("L3", "app", 2*time.Second, "d")}); err != nil {
			t.Fatal(err)
		}
		if err := b.Append(ctx, []Event{ev("L1", "app", 10*time.Second, "e")}); err != nil {
			t.Fatal(err)
		}
		ids, err := b.ClientLaunches(ctx, "app", 10)
		if err != nil || fmt.Sprint(ids) != "[L1 L3 L2]" {
			t.Fatalf("ClientLaunches(app) = %v, %v; want [L1 L3 L2]", ids, err)
		}
		if ids, err := a.ClientLaunches(ctx, "app", 2); err != nil || fmt.Sprint(ids) != "[L1 L3]" {
			t.Fatalf("ClientLaunches(app, 2) = %v, %v", ids, err)
		}
		if ids, err := a.ClientLaunches(ctx, "other", 10); err != nil || fmt.Sprint(ids) != "[X]" {
			t.Fatalf("ClientLaunches(other) = %v, %v", ids, err)
		}
	})
}

// TestStoreContractRecent: recent launches, newest (first event) first,
// with their client, start, event count and diagnostics counted.
func TestStoreContractRecent(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		if list, err := a.Recent(ctx, 10); err != nil || len(list) != 0 {
			t.Fatalf("Recent with no events = %v, %v", list, err)
		}
		bad := ev("L2", "app", 3*time.Second, "bad")
		bad.Check(RuleStateMissing, true, "no state") // an error
		bad.Check(RuleScopeV1, true, "v1 scope")      // a warning
		worse := ev("L2", "app", 4*time.Second, "worse")
		worse.Check(RuleStateMissing, true, "no state")
		if err := a.Append(ctx, []Event{ev("L1", "app", 0, "one"), ev("L1", "app", 20*time.Second, "late"),
			ev("L2", "app", 2*time.Second, "two"), bad}); err != nil {
			t.Fatal(err)
		}
		if err := b.Append(ctx, []Event{worse, ev("L3", "", 5*time.Second, "no client")}); err != nil {
			t.Fatal(err)
		}
		list, err := a.Recent(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 3 || list[0].LaunchID != "L3" || list[1].LaunchID != "L2" || list[2].LaunchID != "L1" {
			t.Fatalf("Recent = %+v, want L3, L2, L1", list)
		}
		l2 := list[1]
		if l2.ClientID != "app" || !l2.Started.Equal(t0.Add(2*time.Second)) || l2.Events != 3 || l2.Errors != 2 || l2.Warnings != 1 {
			t.Fatalf("Recent's L2 = %+v, want app, started at +2s, 3 events, 2 errors, 1 warning", l2)
		}
		if l1 := list[2]; l1.Events != 2 || l1.Errors != 0 || !l1.Started.Equal(t0) {
			t.Fatalf("Recent's L1 = %+v", l1)
		}
		if list[0].ClientID != "" || list[0].Events != 1 {
			t.Fatalf("Recent's L3 = %+v", list[0])
		}
		if list, err := b.Recent(ctx, 1); err != nil || len(list) != 1 || list[0].LaunchID != "L3" {
			t.Fatalf("Recent(1) = %+v, %v", list, err)
		}
	})
}

// TestStoreContractPrune: Prune keeps every event of the newest keep
// launches (by latest event) and nothing of the others, for every
// instance.
func TestStoreContractPrune(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a, b := open(), open()
		if err := a.Prune(ctx, 2); err != nil {
			t.Fatalf("Prune of nothing: %v", err)
		}
		// L1 starts first but is touched last; L2 is the oldest by its
		// latest event.
		if err := a.Append(ctx, []Event{ev("L1", "app", 0, "a"), ev("L2", "app", time.Second, "b"),
			ev("L3", "app", 2*time.Second, "c"), ev("L3", "app", 3*time.Second, "c2"), ev("L1", "app", 4*time.Second, "a2")}); err != nil {
			t.Fatal(err)
		}
		if err := b.Prune(ctx, 2); err != nil {
			t.Fatal(err)
		}
		for id, want := range map[string]int{"L1": 2, "L2": 0, "L3": 2} {
			if evs, err := a.Events(ctx, id); err != nil || len(evs) != want {
				t.Fatalf("after Prune(2), %s has %d events (%v), want %d", id, len(evs), err, want)
			}
		}
		if err := a.Prune(ctx, 0); err != nil {
			t.Fatal(err)
		}
		if list, err := b.Recent(ctx, 10); err != nil || len(list) != 0 {
			t.Fatalf("after Prune(0), Recent = %+v, %v", list, err)
		}
	})
}

// TestStoreContractConcurrentAppend: two instances (each its own *store.DB
// on one database) append batches to one launch at once; every event is
// saved once, each batch's events stay in their order, and both instances
// read the same timeline.
func TestStoreContractConcurrentAppend(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		stores := []Store{open(), open()}
		const writers, batches, per = 4, 10, 5
		var wg sync.WaitGroup
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s := stores[w%2]
				for i := range batches {
					batch := make([]Event, per)
					for j := range per {
						// One instant per batch: order within it is the
						// order written.
						batch[j] = ev("L", "app", time.Duration(i)*time.Millisecond, fmt.Sprintf("w%d b%d e%d", w, i, j))
					}
					if err := s.Append(ctx, batch); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		var first []string
		for k, s := range stores {
			evs, err := s.Events(ctx, "L")
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != writers*batches*per {
				t.Fatalf("%d events read, want %d", len(evs), writers*batches*per)
			}
			seen := map[string]bool{}
			next := map[string]int{} // writer and batch → next event index
			for i, e := range evs {
				if seen[e.Summary] {
					t.Fatalf("event %q saved twice", e.Summary)
				}
				seen[e.Summary] = true
				if i > 0 && e.At.Before(evs[i-1].At) {
					t.Fatalf("events out of time order at %d: %v after %v", i, e.At, evs[i-1].At)
				}
				var w, b, j int
				fmt.Sscanf(e.Summary, "w%d b%d e%d", &w, &b, &j)
				key := fmt.Sprint(w, b)
				if j != next[key] {
					t.Fatalf("batch w%d b%d read with e%d where e%d was due", w, b, j, next[key])
				}
				next[key]++
			}
			if k == 0 {
				first = summaries(evs)
			} else if fmt.Sprint(summaries(evs)) != fmt.Sprint(first) {
				t.Fatal("the two instances read different timelines")
			}
		}
	})
}

// TestStoreContractRecordersShareTimelines: recorders of two instances,
// each on its own *store.DB: what one records and flushes, the other
// reads (timeline, recent list, client launches), numbered from 1.
func TestStoreContractRecordersShareTimelines(t *testing.T) {
	forEachStore(t, func(t *testing.T, open func() Store) {
		ctx := context.Background()
		a := NewRecorder(Options{Store: open()})
		b := NewRecorder(Options{Store: open()})
		a.Record(Event{LaunchID: "L1", ClientID: "app", Kind: KindLaunchMinted, Summary: "minted on A"})
		e := Event{LaunchID: "L1", Kind: KindAuthorize, Summary: "authorize on A"}
		e.Check(RuleStateMissing, true, "no state")
		a.Record(e)
		a.Flush(ctx) // what Run does in the background
		evs, err := b.Events(ctx, "L1")
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].Summary != "minted on A" || evs[1].Seq != 2 || evs[1].ClientID != "app" {
			t.Fatalf("B reads %+v", evs)
		}
		if list, err := b.Recent(ctx, 5); err != nil || len(list) != 1 || list[0].Errors != 1 {
			t.Fatalf("B's recent list %+v, %v", list, err)
		}
		if launches, err := b.ClientLaunches(ctx, "app", 5); err != nil || len(launches) != 1 || len(launches[0]) != 2 {
			t.Fatalf("B's client launches %+v, %v", launches, err)
		}
	})
}

// blockingStore holds each Append until release is closed.
type blockingStore struct {
	Store
	entered chan struct{}
	release chan struct{}
}

func (s *blockingStore) Append(ctx context.Context, events []Event) error {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.Append(ctx, events)
}

// A read waits for the batch the background writer took but has not saved
// yet, so it never misses an event recorded before it.
func TestRecorderReadWaitsForTheBatchBeingWritten(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	st, err := NewSQLiteStore(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	bs := &blockingStore{Store: st, entered: make(chan struct{}, 1), release: make(chan struct{})}
	r := NewRecorder(Options{Store: bs})
	r.Record(Event{LaunchID: "L1", Kind: KindLaunchMinted})
	flushed := make(chan struct{})
	go func() { r.Flush(ctx); close(flushed) }() // the background writer
	<-bs.entered                                 // it took the batch
	read := make(chan []Event)
	go func() {
		evs, _ := r.Events(ctx, "L1")
		read <- evs
	}()
	select {
	case evs := <-read:
		t.Fatalf("Events returned %d events while the batch was being written", len(evs))
	case <-time.After(50 * time.Millisecond):
	}
	close(bs.release)
	if evs := <-read; len(evs) != 1 {
		t.Fatalf("Events after the write = %d events, want 1", len(evs))
	}
	<-flushed
}
