package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/ehrsim/ehrsim/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// backends opens, for each implementation, a fresh database and returns a
// function opening another *DB on the same data (a second instance).
func backends() map[string]func(t *testing.T) func() *DB {
	return map[string]func(t *testing.T) func() *DB{
		"sqlite": func(t *testing.T) func() *DB {
			dir := t.TempDir()
			return func() *DB { return openT(t, dir, "") }
		},
		"postgres": func(t *testing.T) func() *DB {
			u := pgtest.URL(t)
			return func() *DB { return openT(t, t.TempDir(), u) }
		},
	}
}

func openT(t *testing.T, dir, u string) *DB {
	t.Helper()
	db, err := OpenPostgres(context.Background(), dir, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestSecretStoreContract is the one contract of SecretStore, run against
// SQLite and PostgreSQL.
func TestSecretStoreContract(t *testing.T) {
	for name, newBackend := range backends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := newBackend(t)
			a, b := open(), open()
			s := a.Secrets()
			if _, err := s.Get(ctx, "k"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("Get of a missing secret: %v, want ErrNotFound", err)
			}
			v, err := s.Create(ctx, "k", []byte("first"))
			if err != nil || string(v) != "first" {
				t.Fatalf("Create = %q, %v", v, err)
			}
			v, err = b.Secrets().Create(ctx, "k", []byte("second"))
			if err != nil || string(v) != "first" {
				t.Fatalf("second Create = %q, %v; want the first writer's value", v, err)
			}
			if err := b.Secrets().Set(ctx, "k", []byte("rotated")); err != nil {
				t.Fatal(err)
			}
			if v, err := s.Get(ctx, "k"); err != nil || string(v) != "rotated" {
				t.Fatalf("Get after Set on the other instance = %q, %v", v, err)
			}
			bin := []byte{0, 1, 2, 0xff, 0}
			if err := s.Set(ctx, "bin", bin); err != nil {
				t.Fatal(err)
			}
			if v, err := b.Secrets().Get(ctx, "bin"); err != nil || !bytes.Equal(v, bin) {
				t.Fatalf("binary secret = %x, %v", v, err)
			}

			// Concurrent first use through two instances: one value wins
			// everywhere.
			var wg sync.WaitGroup
			got := make([][]byte, 8)
			for i := range got {
				wg.Add(1)
				go func() {
					defer wg.Done()
					db := a
					if i%2 == 1 {
						db = b
					}
					v, err := db.Secret(ctx, "race", func() ([]byte, error) { return []byte(fmt.Sprint(i)), nil })
					if err != nil {
						t.Error(err)
					}
					got[i] = v
				}()
			}
			wg.Wait()
			for i := range got {
				if !bytes.Equal(got[i], got[0]) {
					t.Fatalf("instances disagree on a secret: %q vs %q", got[i], got[0])
				}
			}
			// A reopened instance reads the stored value, not a new one.
			c := open()
			v, err = c.Secret(ctx, "race", nil)
			if err != nil || !bytes.Equal(v, got[0]) {
				t.Fatalf("reopened Secret = %q, %v; want %q", v, err, got[0])
			}
		})
	}
}

// TestMigrateRegisteredPostgres: an owner's registered PostgreSQL steps run
// once, also when two instances migrate at the same moment.
func TestMigrateRegisteredPostgres(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	RegisterPostgres("storetest", []string{
		`CREATE TABLE storetest (v TEXT)`,
		`INSERT INTO storetest VALUES ('a')`,
	})
	sqliteSteps := []string{`CREATE TABLE storetest (v TEXT)`}
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db := openT(t, t.TempDir(), u)
			if err := db.Migrate(ctx, "storetest", sqliteSteps); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	db := openT(t, t.TempDir(), u)
	var n int
	if err := db.PG.QueryRow(`SELECT count(*) FROM storetest`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("rows = %d, %v; want 1 (a step applied twice or not at all)", n, err)
	}
}

func TestOpenPostgresErrors(t *testing.T) {
	ctx := context.Background()
	for _, u := range []string{"mysql://x@localhost/db", "postgres://x@[::1/db", "postgres://x@localhost:notaport/db"} {
		if _, err := OpenPostgres(ctx, t.TempDir(), u); !errors.Is(err, ErrDatabaseURL) {
			t.Errorf("OpenPostgres(%q) = %v, want ErrDatabaseURL", u, err)
		}
	}
	// Nothing listens on port 1 of loopback: refused at once.
	_, err := OpenPostgres(ctx, t.TempDir(), "postgres://u:hunter2@127.0.0.1:1/db?connect_timeout=2")
	if err == nil || errors.Is(err, ErrDatabaseURL) {
		t.Fatalf("unreachable server: %v, want a connection error", err)
	}
	if bytes.Contains([]byte(err.Error()), []byte("hunter2")) {
		t.Fatalf("the error shows the password: %v", err)
	}
}

// TestPostgresSchemaThroughURL: search_path in the URL puts ehrsim's tables
// in a schema of their own (docs/deploying.md).
func TestPostgresSchemaThroughURL(t *testing.T) {
	ctx := context.Background()
	u := pgtest.URL(t)
	plain := openT(t, t.TempDir(), u)
	if _, err := plain.PG.Exec(`CREATE SCHEMA ehrsim`); err != nil {
		t.Fatal(err)
	}
	sep := "?"
	if strings.Contains(u, "?") {
		sep = "&"
	}
	db := openT(t, t.TempDir(), u+sep+"search_path=ehrsim")
	if _, err := db.Secret(ctx, "k", nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := plain.PG.QueryRow(`SELECT count(*) FROM information_schema.tables WHERE table_schema = 'ehrsim' AND table_name IN ('secrets', 'ehrsim_migrations')`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("tables in schema ehrsim: %d, %v; want secrets and ehrsim_migrations", n, err)
	}
}
