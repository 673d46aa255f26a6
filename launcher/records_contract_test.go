package launcher

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/internal/pgtest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// recordBackends gives, per implementation, a function opening another
// instance (its own *store.DB) on one fresh shared database.
func recordBackends() map[string]func(t *testing.T) func() *store.DB {
	open := func(t *testing.T, dir, u string) *store.DB {
		db, err := store.OpenPostgres(context.Background(), dir, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(context.Background(), "launcher", migrations); err != nil {
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

func recordsOf(db *store.DB) RecordStore { return (&Service{db: db}).records() }

// TestRecordStoreContract is the one contract of RecordStore, run against
// SQLite and PostgreSQL, each time through two instances sharing the data.
func TestRecordStoreContract(t *testing.T) {
	for name, backend := range recordBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := backend(t)
			a, b := recordsOf(open()), recordsOf(open())
			t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)

			if _, _, err := a.Get(ctx, "nope"); !errors.Is(err, errNoRecord) {
				t.Fatalf("Get unknown: %v, want errNoRecord", err)
			}
			if err := a.Put(ctx, "old", purposeLaunch, "sealed-old", t0); err != nil {
				t.Fatal(err)
			}
			if err := a.Put(ctx, "new", purposeScenario, "sealed-new", t0.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := b.Put(ctx, "new", purposeLaunch, "other", t0); err == nil {
				t.Fatal("a second Put of one id succeeded")
			}
			p, s, err := b.Get(ctx, "new")
			if err != nil || p != purposeScenario || s != "sealed-new" {
				t.Fatalf("Get on the other instance = %q %q %v", p, s, err)
			}

			// Consume: exactly one winner among concurrent calls on both
			// instances.
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins := 0
			for i := range 12 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := a
					if i%2 == 1 {
						r = b
					}
					first, err := r.Consume(ctx, "new", t0.Add(time.Hour))
					if err != nil {
						t.Error(err)
					}
					if first {
						mu.Lock()
						wins++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if wins != 1 {
				t.Fatalf("%d concurrent Consumes won, want 1", wins)
			}
			for _, c := range []struct {
				id   string
				want bool
			}{{"new", true}, {"old", false}, {"nope", false}} {
				if got, err := a.Consumed(ctx, c.id); err != nil || got != c.want {
					t.Fatalf("Consumed(%s) = %v, %v; want %v", c.id, got, err, c.want)
				}
			}
			if first, err := b.Consume(ctx, "old", t0); err != nil || !first {
				t.Fatalf("Consume(old) = %v, %v", first, err)
			}

			// Prune drops what expired at or before now, nothing else.
			if err := b.Prune(ctx, t0); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.Get(ctx, "old"); !errors.Is(err, errNoRecord) {
				t.Fatalf("expired launch after Prune: %v", err)
			}
			if used, _ := a.Consumed(ctx, "old"); used {
				t.Fatal("expired consumed id kept by Prune")
			}
			if _, _, err := a.Get(ctx, "new"); err != nil {
				t.Fatalf("live launch pruned: %v", err)
			}
			if used, _ := a.Consumed(ctx, "new"); !used {
				t.Fatal("live consumed id pruned")
			}
		})
	}
}

// TestServiceOnPostgresTwoInstances: two launcher Services with their own
// data directories on one PostgreSQL database share the sealing key, the
// launch records and launch_once.
func TestServiceOnPostgresTwoInstances(t *testing.T) {
	u := pgtest.URL(t)
	svc := func() *Service {
		db, err := store.OpenPostgres(ctx, t.TempDir(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		s, err := New(ctx, Options{BaseURL: testBase, DB: db, Directory: fakeDir(), Clients: newFakeClients("sample-app")})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b := svc(), svc()
	res, _, err := a.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1", LaunchOnce: true})
	if err != nil {
		t.Fatal(err)
	}
	lb, err := b.Lookup(ctx, res.ID)
	if err != nil {
		t.Fatalf("instance B looking up A's launch by id: %v", err)
	}
	la, err := a.Open(ctx, res.Launch)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Consume(ctx, la); err != nil {
		t.Fatal(err)
	}
	if err := b.Consume(ctx, lb); !errors.Is(err, ErrLaunchUsed) {
		t.Fatalf("Consume on B after A: %v, want ErrLaunchUsed", err)
	}
	if used, err := b.Used(ctx, lb); err != nil || !used {
		t.Fatalf("Used on B = %v, %v", used, err)
	}
}
