package authz

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/internal/pgtest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// keyBackends gives, per implementation, a function opening another
// instance (its own *store.DB, migrated) on one fresh shared database.
func keyBackends() map[string]func(t *testing.T) func() *store.DB {
	open := func(t *testing.T, dir, u string) *store.DB {
		db, err := store.OpenPostgres(context.Background(), dir, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := migrate(context.Background(), db); err != nil {
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

// TestKeyStoreContract is the one contract of KeyStore, run against SQLite
// and PostgreSQL through two instances sharing the data.
func TestKeyStoreContract(t *testing.T) {
	for name, backend := range keyBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := backend(t)
			a, b := keyStoreFor(open()), keyStoreFor(open())
			if ks, err := a.Published(ctx, 0); err != nil || len(ks) != 0 {
				t.Fatalf("Published on an empty store = %v, %v", ks, err)
			}
			// Concurrent first keys on both instances: exactly one lands.
			var wg sync.WaitGroup
			var mu sync.Mutex
			added := 0
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := a
					if i%2 == 1 {
						s = b
					}
					ok, err := s.AddFirst(ctx, "k1-"+string(rune('a'+i)), []byte{byte(i), 0, 1}, 10)
					if err != nil {
						t.Error(err)
					}
					if ok {
						mu.Lock()
						added++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if added != 1 {
				t.Fatalf("%d concurrent AddFirst calls added a key, want 1", added)
			}
			ks, err := b.Published(ctx, 0)
			if err != nil || len(ks) != 1 || ks[0].Retired {
				t.Fatalf("Published = %+v, %v", ks, err)
			}
			first := ks[0].Kid
			if ok, _ := b.AddFirst(ctx, "late", []byte{9}, 11); ok {
				t.Fatal("AddFirst added a key while one is active")
			}
			// Two rotations in the same second: the later one is active.
			der := []byte{0, 0xff, 0x10, 0}
			if err := a.Rotate(ctx, "k2", der, 100); err != nil {
				t.Fatal(err)
			}
			if err := b.Rotate(ctx, "k3", []byte{3}, 100); err != nil {
				t.Fatal(err)
			}
			ks, err = a.Published(ctx, 0)
			if err != nil || len(ks) != 3 {
				t.Fatalf("Published after rotations = %+v, %v", ks, err)
			}
			if ks[0].Kid != "k3" || ks[0].Retired || ks[1].Kid != "k2" || !ks[1].Retired || ks[2].Kid != first || !ks[2].Retired {
				t.Fatalf("Published order/retirement = %+v; want k3 active, then k2, %s retired", ks, first)
			}
			if !bytes.Equal(ks[1].DER, der) {
				t.Fatalf("DER = %x, want %x", ks[1].DER, der)
			}
			// Keys retired at or before retiredAfter are no longer published.
			if ks, _ := b.Published(ctx, 100); len(ks) != 1 || ks[0].Kid != "k3" {
				t.Fatalf("Published(100) = %+v; want k3 only", ks)
			}
		})
	}
}

// TestKeyRotationAcrossInstances: `ehrsim keys rotate` against one instance's
// database makes another instance publish the new key within keyReload and
// sign with it within keyActivation + keyReload, never before every
// instance publishes it, the old key staying published.
func TestKeyRotationAcrossInstances(t *testing.T) {
	for name, backend := range keyBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := backend(t)
			now := time.Now()
			clk := func() time.Time { return now }
			dbA, dbB := open(), open()
			ra, err := newKeyRing(ctx, dbA, clk)
			if err != nil {
				t.Fatal(err)
			}
			rb, err := newKeyRing(ctx, dbB, clk)
			if err != nil {
				t.Fatal(err)
			}
			old := ra.current(ctx).ID()
			if rb.current(ctx).ID() != old {
				t.Fatal("two instances started with different active keys")
			}
			if err := RotateKeys(ctx, dbA); err != nil {
				t.Fatal(err)
			}
			// Published everywhere before it signs anywhere: after
			// keyReload both publish the new key and still sign with the old.
			rotated := time.Now()
			now = rotated.Add(keyReload + time.Millisecond)
			for _, r := range []*keyRing{ra, rb} {
				if r.current(ctx).ID() != old {
					t.Fatal("a rotated key signs before keyActivation, when another instance may not publish it yet")
				}
				if ks := r.keySet(ctx); len(ks) != 2 {
					t.Fatalf("%d keys published after keyReload, want the old and the new", len(ks))
				}
			}
			now = rotated.Add(keyActivation + keyReload + time.Second)
			cur := rb.current(ctx).ID()
			if cur == old {
				t.Fatal("instance B still signs with the rotated-out key after keyActivation + keyReload")
			}
			if ra.current(ctx).ID() != cur {
				t.Fatal("instances disagree on the active key")
			}
			ids := map[string]bool{}
			for _, k := range rb.keySet(ctx) {
				ids[k.ID()] = true
			}
			if !ids[old] || !ids[cur] || len(ids) != 2 {
				t.Fatalf("B publishes %v; want the old key %s and the new %s", ids, old, cur)
			}
		})
	}
}

// PrepareKeys, run by instances starting at once on an empty database,
// leaves one signing key, which a key ring then signs with; run again, it
// adds none.
func TestPrepareKeysMakesOneKey(t *testing.T) {
	for name, backend := range keyBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := backend(t)
			dbs := []*store.DB{open(), open(), open()}
			var wg sync.WaitGroup
			for _, db := range dbs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := PrepareKeys(ctx, db); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if err := PrepareKeys(ctx, dbs[0]); err != nil {
				t.Fatal(err)
			}
			ks, err := keyStoreFor(dbs[1]).Published(ctx, 0)
			if err != nil || len(ks) != 1 || ks[0].Retired {
				t.Fatalf("keys after PrepareKeys = %+v, %v; want one active key", ks, err)
			}
			kr, err := newKeyRing(ctx, dbs[2], time.Now)
			if err != nil || kr.current(ctx).ID() != ks[0].Kid {
				t.Fatalf("the key ring signs with %v (%v), want the prepared key %s", kr, err, ks[0].Kid)
			}
		})
	}
}
