package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// ErrDatabaseURL wraps every problem with a --database-url that is the
// setting's fault (not a postgres:// URL, or one pgx cannot parse).
var ErrDatabaseURL = errors.New("database URL")

// ErrUnreachable wraps a failure to connect to the PostgreSQL server at
// start-up (refused, timed out, authentication failed, no such database).
var ErrUnreachable = errors.New("cannot connect to the database")

// migrateLockKey is the advisory lock every instance takes while migrating,
// so two instances starting at once apply each step once.
const migrateLockKey = 0x65687273696d // "ehrsim"

var (
	pgSchemaMu sync.Mutex
	pgSchemas  = map[string][]string{}
)

// RegisterPostgres declares the PostgreSQL migrations of owner, the
// counterpart of the SQLite steps the owner passes to Migrate. Owners call it
// from a package-level var so it is in place before any Migrate. It returns
// nil so it can initialize a blank var. Append-only, like Migrate's steps.
func RegisterPostgres(owner string, steps []string) struct{} {
	pgSchemaMu.Lock()
	defer pgSchemaMu.Unlock()
	pgSchemas[owner] = steps
	return struct{}{}
}

// CheckDatabaseURL reports whether u is a PostgreSQL URL ehrsim can use,
// without connecting. The error wraps ErrDatabaseURL.
func CheckDatabaseURL(u string) error {
	_, err := parsePostgresURL(u)
	return err
}

func parsePostgresURL(u string) (*pgx.ConnConfig, error) {
	pu, err := url.Parse(u)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, password and all
		}
		return nil, fmt.Errorf("%w: %v", ErrDatabaseURL, err)
	}
	if pu.Scheme != "postgres" && pu.Scheme != "postgresql" {
		return nil, fmt.Errorf("%w: want postgres://user:password@host:port/database, got scheme %q", ErrDatabaseURL, pu.Scheme)
	}
	cfg, err := pgx.ParseConfig(u)
	if err != nil {
		// pgx's message may quote the URL with its password; keep the
		// reason only.
		msg := err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return nil, fmt.Errorf("%w: %s", ErrDatabaseURL, msg)
	}
	return cfg, nil
}

// Redact returns u with its password replaced, for messages and logs.
func Redact(u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.User == nil {
		return u
	}
	if _, ok := pu.User.Password(); ok {
		pu.User = url.UserPassword(pu.User.Username(), "xxxxx")
	}
	return pu.String()
}

// OpenPostgres opens the local SQLite database in dir (Open) and the shared
// PostgreSQL database at databaseURL, which holds every domain that has a
// PostgreSQL implementation (see the package doc). An empty databaseURL is
// Open. The connection is checked before it returns: an unreachable server
// is an error naming the host, never a hang (10 s connect timeout unless
// the URL sets connect_timeout).
func OpenPostgres(ctx context.Context, dir, databaseURL string) (*DB, error) {
	if databaseURL == "" {
		return Open(ctx, dir)
	}
	cfg, err := parsePostgresURL(databaseURL)
	if err != nil {
		return nil, err
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	pg := stdlib.OpenDB(*cfg)
	pg.SetMaxOpenConns(32)
	pg.SetMaxIdleConns(32)
	pg.SetConnMaxIdleTime(5 * time.Minute)
	if err := pg.PingContext(ctx); err != nil {
		pg.Close()
		return nil, fmt.Errorf("%w %s: %v", ErrUnreachable, Redact(databaseURL), err)
	}
	d, err := Open(ctx, dir)
	if err != nil {
		pg.Close()
		return nil, err
	}
	d.PG = pg
	d.secretStore = postgresSecrets{pg}
	if err := d.migratePostgres(ctx, "store", storePostgres); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

var storePostgres = []string{
	`CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value BYTEA NOT NULL, created_at BIGINT NOT NULL DEFAULT (extract(epoch FROM now())::bigint))`,
}

// migratePostgres applies owner's steps not applied yet, all in one
// transaction under an advisory lock, so concurrent instances neither apply
// a step twice nor see half a schema.
func (d *DB) migratePostgres(ctx context.Context, owner string, steps []string) error {
	tx, err := d.PG.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", owner, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockKey)); err != nil {
		return fmt.Errorf("migrate %s: lock: %w", owner, err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS ehrsim_migrations (owner TEXT NOT NULL, step INTEGER NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(), PRIMARY KEY (owner, step))`); err != nil {
		return fmt.Errorf("migrations table: %w", err)
	}
	done := map[int]bool{}
	rows, err := tx.QueryContext(ctx, `SELECT step FROM ehrsim_migrations WHERE owner = $1`, owner)
	if err != nil {
		return err
	}
	for rows.Next() {
		var s int
		if err := rows.Scan(&s); err != nil {
			rows.Close()
			return err
		}
		done[s] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for i, stmt := range steps {
		if done[i] {
			continue
		}
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("migrate %s step %d (postgres): %w", owner, i, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO ehrsim_migrations (owner, step) VALUES ($1, $2)`, owner, i); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// postgresSecrets is the PostgreSQL SecretStore.
type postgresSecrets struct{ db *sql.DB }

func (s postgresSecrets) Get(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.db.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = $1`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return v, err
}

func (s postgresSecrets) Create(ctx context.Context, name string, value []byte) ([]byte, error) {
	if _, err := s.db.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING`, name, value); err != nil {
		return nil, err
	}
	return s.Get(ctx, name)
}

func (s postgresSecrets) Set(ctx context.Context, name string, value []byte) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}
