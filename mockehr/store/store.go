package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the database file inside the data directory.
const FileName = "ehrsim.db"

// DB is the shared database handle. Use SQL for queries; it is safe for
// concurrent use.
type DB struct {
	SQL  *sql.DB
	Path string
	// PG is the shared PostgreSQL database when one was configured
	// (OpenPostgres), nil otherwise. Domains with a PostgreSQL
	// implementation keep their state there; the others stay in SQL.
	PG *sql.DB

	secretStore SecretStore
	mu          sync.Mutex
	secrets     map[string][]byte
}

// ErrNotFound is what a store's Get answers for a missing name.
var ErrNotFound = errors.New("store: not found")

// SecretStore keeps named secrets. Its SQLite and PostgreSQL implementations
// pass one contract test (secrets_contract_test.go).
type SecretStore interface {
	// Get returns the secret named name, or ErrNotFound.
	Get(ctx context.Context, name string) ([]byte, error)
	// Create stores value under name unless a secret of that name exists
	// (one statement: the first writer wins, on every instance sharing the
	// database) and returns the stored value.
	Create(ctx context.Context, name string, value []byte) ([]byte, error)
	// Set replaces (or creates) the secret named name.
	Set(ctx context.Context, name string, value []byte) error
}

// Secrets returns the database's SecretStore: PostgreSQL's when one is
// configured, else SQLite's.
func (d *DB) Secrets() SecretStore { return d.secretStore }

// Postgres reports whether a shared PostgreSQL database is configured.
func (d *DB) Postgres() bool { return d.PG != nil }

// Open creates dir if needed and opens (creating on first use) the database
// in it, in WAL mode with a busy timeout so concurrent writers wait rather
// than fail.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	dsn := "file:" + path + "?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	// One connection: SQLite has one writer at a time anyway, and when
	// several pooled connections race for the write lock the losers sleep in
	// SQLite's busy handler (1, 2, 5, 10… ms), which put 20–30 ms tails on
	// the token endpoint under load. Queueing in Go costs microseconds.
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	d := &DB{SQL: db, Path: path, secrets: map[string][]byte{}, secretStore: sqliteSecrets{db}}
	if err := d.Migrate(ctx, "store", []string{
		`CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL, created_at INTEGER NOT NULL DEFAULT (unixepoch()))`,
	}); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// Ping checks that the databases answer (for /readyz).
func (d *DB) Ping(ctx context.Context) error {
	if err := d.SQL.PingContext(ctx); err != nil {
		return err
	}
	if d.PG != nil {
		return d.PG.PingContext(ctx)
	}
	return nil
}

// Close closes the database (both, with PostgreSQL).
func (d *DB) Close() error {
	var err error
	if d.PG != nil {
		err = d.PG.Close()
	}
	return errors.Join(d.SQL.Close(), err)
}

// Migrate applies, in order, the SQLite statements of owner that have not
// been applied yet and, when PostgreSQL is configured and owner registered
// PostgreSQL steps (RegisterPostgres), those too. Statements are
// append-only: never edit or reorder one that has shipped; add a new one
// instead.
func (d *DB) Migrate(ctx context.Context, owner string, stmts []string) error {
	if err := d.migrateSQLite(ctx, owner, stmts); err != nil {
		return err
	}
	if d.PG == nil {
		return nil
	}
	pgSchemaMu.Lock()
	steps, ok := pgSchemas[owner]
	pgSchemaMu.Unlock()
	if !ok {
		return nil
	}
	return d.migratePostgres(ctx, owner, steps)
}

func (d *DB) migrateSQLite(ctx context.Context, owner string, stmts []string) error {
	if _, err := d.SQL.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (owner TEXT NOT NULL, step INTEGER NOT NULL, PRIMARY KEY (owner, step))`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	for i, stmt := range stmts {
		tx, err := d.SQL.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var done int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM migrations WHERE owner = ? AND step = ?`, owner, i).Scan(&done); err != nil {
			tx.Rollback()
			return err
		}
		if done > 0 {
			tx.Rollback()
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			tx.Rollback()
			return fmt.Errorf("migrate %s step %d: %w", owner, i, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (owner, step) VALUES (?, ?)`, owner, i); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Secret returns the secret stored under name, creating it on first use with
// gen (or, when gen is nil, 32 random bytes). Two instances sharing a database
// agree: the first insert wins and both read it back. Secrets are cached in
// memory once read.
func (d *DB) Secret(ctx context.Context, name string, gen func() ([]byte, error)) ([]byte, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if v, ok := d.secrets[name]; ok {
		return v, nil
	}
	v, err := d.secretStore.Get(ctx, name)
	if errors.Is(err, ErrNotFound) {
		if gen == nil {
			gen = func() ([]byte, error) { b := make([]byte, 32); _, err := rand.Read(b); return b, err }
		}
		nv, gerr := gen()
		if gerr != nil {
			return nil, fmt.Errorf("secret %s: %w", name, gerr)
		}
		v, err = d.secretStore.Create(ctx, name, nv)
	}
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	d.secrets[name] = v
	return v, nil
}

// SetSecret replaces the secret stored under name (used by key rotation).
func (d *DB) SetSecret(ctx context.Context, name string, value []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := d.secretStore.Set(ctx, name, value); err != nil {
		return fmt.Errorf("secret %s: %w", name, err)
	}
	d.secrets[name] = value
	return nil
}

// sqliteSecrets is the SQLite SecretStore.
type sqliteSecrets struct{ db *sql.DB }

func (s sqliteSecrets) Get(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return v, err
}

func (s sqliteSecrets) Create(ctx context.Context, name string, value []byte) ([]byte, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT(name) DO NOTHING`, name, value); err != nil {
		return nil, err
	}
	return s.Get(ctx, name)
}

func (s sqliteSecrets) Set(ctx context.Context, name string, value []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}
