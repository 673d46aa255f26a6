package clients

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ehrsim/ehrsim/internal/pgtest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// clientBackends gives, per implementation, a function opening another
// instance (its own *store.DB, migrated) on one fresh shared database.
func clientBackends() map[string]func(t *testing.T) func() *store.DB {
	open := func(t *testing.T, dir, u string) *store.DB {
		ctx := context.Background()
		db, err := store.OpenPostgres(ctx, dir, u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		if err := db.Migrate(ctx, "clients", migrations); err != nil {
			t.Fatal(err)
		}
		if err := db.Migrate(ctx, "launch_clients", launchMigrations); err != nil {
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

// TestClientStoreContract is the one contract of ClientStore, run against
// SQLite and PostgreSQL through two instances sharing the data.
func TestClientStoreContract(t *testing.T) {
	for name, backend := range clientBackends() {
		t.Run(name, func(t *testing.T) {
			open := backend(t)
			a, b := newClientStore(open()), newClientStore(open())
			t.Run("registered", func(t *testing.T) { testRegisteredContract(t, a, b) })
			t.Run("launch-defined", func(t *testing.T) { testLaunchDefinedContract(t, a, b) })
			t.Run("jti", func(t *testing.T) { testJTIContract(t, a, b) })
		})
	}
}

func testRegisteredContract(t *testing.T, a, b ClientStore) {
	ctx := context.Background()
	if _, err := a.Get(ctx, "x"); !errors.Is(err, errNoRow) {
		t.Fatalf("Get missing: %v", err)
	}
	if _, _, err := a.Secret(ctx, "x"); !errors.Is(err, errNoRow) {
		t.Fatalf("Secret missing: %v", err)
	}
	salt, hash := []byte{1, 2, 0, 3}, bytes.Repeat([]byte{0xab}, 32)
	if ok, err := a.Insert(ctx, clientRow{ID: "x", Data: `{"type":"confidential-symmetric"}`, Created: 100, Updated: 100}, salt, hash); err != nil || !ok {
		t.Fatalf("Insert = %v, %v", ok, err)
	}
	if ok, err := b.Insert(ctx, clientRow{ID: "x", Data: `{}`, Created: 1, Updated: 1}, nil, nil); err != nil || ok {
		t.Fatalf("Insert of a taken id = %v, %v; want false", ok, err)
	}
	if ok, err := b.Insert(ctx, clientRow{ID: "a", Data: `{"type":"public"}`, Created: 5, Updated: 6}, nil, nil); err != nil || !ok {
		t.Fatalf("Insert a = %v, %v", ok, err)
	}
	got, err := b.Get(ctx, "x")
	if err != nil || got != (clientRow{ID: "x", Data: `{"type":"confidential-symmetric"}`, HasSecret: true, Created: 100, Updated: 100}) {
		t.Fatalf("Get = %+v, %v", got, err)
	}
	s, h, err := b.Secret(ctx, "x")
	if err != nil || !bytes.Equal(s, salt) || !bytes.Equal(h, hash) {
		t.Fatalf("Secret = %x %x %v", s, h, err)
	}
	list, err := a.List(ctx)
	if err != nil || len(list) != 2 || list[0].ID != "a" || list[1].ID != "x" || list[0].HasSecret {
		t.Fatalf("List = %+v, %v", list, err)
	}

	// Keeping the secret: only for a client that has one.
	if ok, err := a.UpdateKeepSecret(ctx, "x", `{"v":2}`, 200); err != nil || !ok {
		t.Fatalf("UpdateKeepSecret = %v, %v", ok, err)
	}
	if s, h, _ := b.Secret(ctx, "x"); !bytes.Equal(s, salt) || !bytes.Equal(h, hash) {
		t.Fatal("UpdateKeepSecret changed the secret")
	}
	if ok, err := a.UpdateKeepSecret(ctx, "a", `{}`, 200); err != nil || ok {
		t.Fatalf("UpdateKeepSecret of a client without a secret = %v, %v; want false", ok, err)
	}
	if ok, err := a.UpdateKeepSecret(ctx, "nope", `{}`, 200); err != nil || ok {
		t.Fatalf("UpdateKeepSecret missing = %v, %v", ok, err)
	}
	// Update drops or sets the secret.
	if ok, err := b.Update(ctx, "x", `{"v":3}`, nil, nil, 300); err != nil || !ok {
		t.Fatalf("Update = %v, %v", ok, err)
	}
	if got, _ := a.Get(ctx, "x"); got.HasSecret || got.Data != `{"v":3}` || got.Updated != 300 || got.Created != 100 {
		t.Fatalf("after Update: %+v", got)
	}
	if ok, err := b.Update(ctx, "nope", `{}`, nil, nil, 300); err != nil || ok {
		t.Fatalf("Update missing = %v, %v", ok, err)
	}
	if ok, err := a.Delete(ctx, "x"); err != nil || !ok {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if ok, err := b.Delete(ctx, "x"); err != nil || ok {
		t.Fatalf("second Delete = %v, %v", ok, err)
	}
	if _, err := b.Get(ctx, "x"); !errors.Is(err, errNoRow) {
		t.Fatalf("Get after Delete: %v", err)
	}
}

func testLaunchDefinedContract(t *testing.T, a, b ClientStore) {
	ctx := context.Background()
	d1, d2 := []byte("def-1"), []byte("def-2")
	salt, hash := []byte("salt"), bytes.Repeat([]byte{7}, 32)
	if err := a.DefineLaunch(ctx, "app", d1, `{"n":1}`, nil, nil, 1_000, 500); err != nil {
		t.Fatal(err)
	}
	if err := b.DefineLaunch(ctx, "app", d2, `{"n":2}`, salt, hash, 2_000, 400); err != nil {
		t.Fatal(err)
	}
	defs, err := a.LaunchDefs(ctx, "app", 100)
	if err != nil || len(defs) != 2 || defs[0].Data != `{"n":2}` || defs[1].Data != `{"n":1}` {
		t.Fatalf("LaunchDefs = %+v, %v; want newest first", defs, err)
	}
	if !bytes.Equal(defs[0].Salt, salt) || !bytes.Equal(defs[0].Hash, hash) || defs[1].Hash != nil || defs[0].ExpiresAt != 400 {
		t.Fatalf("LaunchDefs secrets/expiry = %+v", defs)
	}
	// Defining def-1 again: newer, and the later expiry stays.
	if err := b.DefineLaunch(ctx, "app", d1, `{"n":1}`, nil, nil, 3_000, 300); err != nil {
		t.Fatal(err)
	}
	defs, _ = a.LaunchDefs(ctx, "app", 100)
	if len(defs) != 2 || defs[0].Data != `{"n":1}` || defs[0].ExpiresAt != 500 {
		t.Fatalf("after redefining: %+v; want def-1 first, expiry 500 kept", defs)
	}
	// Extend: live rows only, never shortening.
	if err := a.ExtendLaunch(ctx, "app", 450, 100); err != nil {
		t.Fatal(err)
	}
	defs, _ = b.LaunchDefs(ctx, "app", 100)
	if defs[0].ExpiresAt != 500 || defs[1].ExpiresAt != 450 {
		t.Fatalf("after ExtendLaunch(450): %+v", defs)
	}
	if err := a.ExtendLaunch(ctx, "app", 900, 460); err != nil { // def-2 expired at 450
		t.Fatal(err)
	}
	defs, _ = b.LaunchDefs(ctx, "app", 460)
	if len(defs) != 1 || defs[0].ExpiresAt != 900 {
		t.Fatalf("after ExtendLaunch at 460: %+v; want only def-1, until 900", defs)
	}
	if defs, _ := b.LaunchDefs(ctx, "other", 0); len(defs) != 0 {
		t.Fatalf("LaunchDefs of an undefined id: %+v", defs)
	}
	if err := b.PruneLaunch(ctx, 900); err != nil {
		t.Fatal(err)
	}
	if defs, _ := a.LaunchDefs(ctx, "app", 0); len(defs) != 0 {
		t.Fatalf("after PruneLaunch: %+v", defs)
	}
}

func testJTIContract(t *testing.T, a, b ClientStore) {
	ctx := context.Background()
	if fresh, err := a.UseJTI(ctx, "iss", "j1", 200, 100); err != nil || !fresh {
		t.Fatalf("first use = %v, %v", fresh, err)
	}
	if fresh, err := b.UseJTI(ctx, "iss", "j1", 250, 150); err != nil || fresh {
		t.Fatalf("replay on the other instance = %v, %v; want refused", fresh, err)
	}
	if fresh, _ := b.UseJTI(ctx, "other-iss", "j1", 250, 150); !fresh {
		t.Fatal("same jti of another issuer refused")
	}
	if fresh, _ := b.UseJTI(ctx, "iss", "j1", 400, 201); !fresh {
		t.Fatal("jti refused after its entry expired")
	}
	if fresh, _ := a.UseJTI(ctx, "iss", "j1", 500, 300); fresh {
		t.Fatal("the taken-over entry was not renewed")
	}
	// Concurrent first uses on both instances: exactly one is fresh.
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := a
			if i%2 == 1 {
				s = b
			}
			ok, err := s.UseJTI(ctx, "iss", "race", 500, 100)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if fresh != 1 {
		t.Fatalf("%d concurrent first uses accepted, want 1", fresh)
	}
	if err := a.PruneJTIs(ctx, 450); err != nil {
		t.Fatal(err)
	}
	// other-iss/j1 (250) is gone: usable again even with a "now" before
	// its old expiry; iss/race (500) is kept.
	if ok, _ := b.UseJTI(ctx, "other-iss", "j1", 600, 100); !ok {
		t.Fatal("a pruned entry still refused")
	}
	if ok, _ := b.UseJTI(ctx, "iss", "race", 600, 100); ok {
		t.Fatal("a live entry was pruned")
	}
}

// TestRegistryOnPostgresTwoInstances: registries and assertion verifiers
// of two instances on one PostgreSQL database see each other's clients at
// once, seed the demo clients once, and refuse a jti used on the other.
func TestRegistryOnPostgresTwoInstances(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	clk := newClock()
	var regs [2]*Registry
	var wg sync.WaitGroup
	for i := range regs {
		db, err := store.OpenPostgres(ctx, t.TempDir(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		wg.Add(1)
		go func() { // both start at the same moment
			defer wg.Done()
			r, err := NewRegistry(ctx, db, RegistryOptions{BaseURL: testBase, Now: clk.Now})
			if err != nil {
				t.Error(err)
			}
			regs[i] = r
		}()
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	a, b := regs[0], regs[1]
	list, err := a.List(ctx)
	if err != nil || len(list) != len(demoClients()) {
		t.Fatalf("demo clients after two concurrent starts: %d, %v; want %d", len(list), err, len(demoClients()))
	}
	if _, err := a.Create(ctx, Client{ID: "shared", Type: TypeSymmetric, RedirectURIs: []string{"https://app.test/cb"}}, "s3cret-s3cret-s3cret"); err != nil {
		t.Fatal(err)
	}
	if !b.CheckSecret(ctx, "shared", "s3cret-s3cret-s3cret") {
		t.Fatal("instance B does not accept the secret of a client created on A")
	}
	if _, err := b.Create(ctx, Client{ID: "shared", Type: TypePublic, RedirectURIs: []string{"https://app.test/cb"}}, ""); !errors.Is(err, ErrExists) {
		t.Fatalf("creating a taken id on B: %v, want ErrExists", err)
	}

	va := &AssertionVerifier{Registry: a, TokenURL: func() string { return testTokenURL }, Now: clk.Now}
	vb := &AssertionVerifier{Registry: b, TokenURL: func() string { return testTokenURL }, Now: clk.Now}
	assertion := sign(t, demoKey(t, DemoKeyES384), jose.ES384, DemoKeyES384, nil, claimsFor(DemoBackend, clk))
	if _, err := va.Verify(ctx, JWTBearerAssertionType, assertion, "", nil); err != nil {
		t.Fatalf("first use on A: %v", err)
	}
	_, err = vb.Verify(ctx, JWTBearerAssertionType, assertion, "", nil)
	if !errors.Is(err, ErrReplayedJTI) {
		t.Fatalf("replay on B: %v, want ErrReplayedJTI", err)
	}
}

// TestCachedClientStaleAtMostCacheTTL: a client changed or deleted through
// one instance is seen changed by another once cacheTTL has passed, never
// later (its cache never serves a stale client beyond the bound).
func TestCachedClientStaleAtMostCacheTTL(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	clk := newClock()
	reg := func() *Registry {
		db, err := store.OpenPostgres(ctx, t.TempDir(), u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		r, err := NewRegistry(ctx, db, RegistryOptions{BaseURL: testBase, Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a, b := reg(), reg()
	c := Client{ID: "cached", Name: "before", Type: TypePublic, RedirectURIs: []string{"https://app.test/cb"}}
	if _, err := a.Create(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "cached"); err != nil || got.Name != "before" {
		t.Fatalf("B: %+v %v", got, err)
	}
	c.Name = "after"
	if _, err := a.Update(ctx, c, nil); err != nil {
		t.Fatal(err)
	}
	clk.Add(cacheTTL)
	if got, err := b.Get(ctx, "cached"); err != nil || got.Name != "after" {
		t.Fatalf("B %v after A's update: %+v %v; want the new name", cacheTTL, got, err)
	}
	if err := a.Delete(ctx, "cached"); err != nil {
		t.Fatal(err)
	}
	clk.Add(cacheTTL)
	if ok, err := b.ClientExists(ctx, "cached"); err != nil || ok {
		t.Fatalf("B %v after A's delete: exists=%v %v", cacheTTL, ok, err)
	}
}
