package store

import (
	"bytes"
	"context"
	"testing"
)

func TestOpenMigrateAndSecretsSurviveReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	steps := []string{`CREATE TABLE t (v TEXT)`, `INSERT INTO t VALUES ('a')`}
	if err := db.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	s1, err := db.Secret(ctx, "k", nil)
	if err != nil || len(s1) != 32 {
		t.Fatalf("secret: %v %d", err, len(s1))
	}
	db.Close()

	db, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Re-running the same migrations must not apply them twice.
	if err := db.Migrate(ctx, "test", steps); err != nil {
		t.Fatal(err)
	}
	var n int
	db.SQL.QueryRow(`SELECT count(*) FROM t`).Scan(&n)
	if n != 1 {
		t.Fatalf("rows = %d, want 1 (migration re-applied)", n)
	}
	s2, err := db.Secret(ctx, "k", func() ([]byte, error) { return []byte("other"), nil })
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatalf("secret changed across reopen: %x vs %x (%v)", s1, s2, err)
	}
	var mode string
	db.SQL.QueryRow(`PRAGMA journal_mode`).Scan(&mode)
	if mode != "wal" {
		t.Fatalf("journal_mode = %q, want wal", mode)
	}
}
