package fhirstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// VersionStore keeps the written FHIR versions (creates, updates,
// deletions) and their history: the part of a Backend that must be shared
// by instances sharing a database. Its SQLite and PostgreSQL
// implementations pass one contract test (versions_contract_test.go). The
// imported --fixtures set is not in it: it is derived from files every
// instance has, and stays in the data directory.
type VersionStore interface {
	// AppendVersion persists one version. A version of typ/id that is
	// already stored (another instance wrote it first) is ErrConflict.
	AppendVersion(ctx context.Context, v StoredVersion) error
	// Versions calls fn for the latest version of every written resource,
	// in the order those latest versions were written.
	Versions(ctx context.Context, fn func(StoredVersion) error) error
	// History calls fn for every version of typ/id, oldest first.
	History(ctx context.Context, typ, id string, fn func(StoredVersion) error) error
	// LastSeq returns the write sequence number of the newest version (0
	// when none). Numbers grow with every write; a write that failed may
	// leave one unused.
	LastSeq(ctx context.Context) (int64, error)
	// Since calls fn, in sequence order, for at most limit versions whose
	// sequence number is above after: how an instance learns of versions
	// other instances wrote.
	Since(ctx context.Context, after int64, limit int, fn func(seq int64, v StoredVersion) error) error
}

// versionStoreFor returns db's VersionStore: PostgreSQL's when configured,
// else SQLite's.
func versionStoreFor(db *store.DB) VersionStore {
	if db.PG != nil {
		return postgresVersions{db.PG}
	}
	return sqliteVersions{db.SQL}
}

// postgresMigrations are the owner "fhirstore"'s PostgreSQL tables (append
// only). seq keeps the order of writes across instances.
var postgresMigrations = []string{
	`CREATE TABLE IF NOT EXISTS fhir_versions (
		seq BIGSERIAL NOT NULL,
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		version INTEGER NOT NULL,
		last_updated BIGINT NOT NULL,
		deleted BOOLEAN NOT NULL,
		body BYTEA,
		PRIMARY KEY (type, id, version))`,
	`CREATE INDEX IF NOT EXISTS fhir_versions_seq ON fhir_versions (seq)`,
}

var _ = store.RegisterPostgres("fhirstore", postgresMigrations)

// sqliteVersions is the SQLite VersionStore (table fhir_versions of the
// shared database).
type sqliteVersions struct{ db *sql.DB }

func (s sqliteVersions) AppendVersion(ctx context.Context, v StoredVersion) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO fhir_versions (type, id, version, last_updated, deleted, body) VALUES (?, ?, ?, ?, ?, ?)`,
		v.Type, v.ID, v.Version, v.LastUpdated.UnixNano(), v.Deleted, v.Body)
	return err
}

func (s sqliteVersions) Versions(ctx context.Context, fn func(StoredVersion) error) error {
	// Read them all first: fn may read imported rows, and the shared
	// connection is a single one.
	rows, err := s.db.QueryContext(ctx, `SELECT type, id, version, last_updated, deleted, body FROM fhir_versions v
		WHERE version = (SELECT max(version) FROM fhir_versions w WHERE w.type = v.type AND w.id = v.id) ORDER BY rowid`)
	if err != nil {
		return err
	}
	return scanVersions(rows, fn)
}

func (s sqliteVersions) History(ctx context.Context, typ, id string, fn func(StoredVersion) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT type, id, version, last_updated, deleted, body FROM fhir_versions
		WHERE type = ? AND id = ? ORDER BY version`, typ, id)
	if err != nil {
		return err
	}
	return scanVersions(rows, fn)
}

func (s sqliteVersions) LastSeq(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(rowid), 0) FROM fhir_versions`).Scan(&n)
	return n, err
}

func (s sqliteVersions) Since(ctx context.Context, after int64, limit int, fn func(int64, StoredVersion) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT rowid, type, id, version, last_updated, deleted, body FROM fhir_versions
		WHERE rowid > ? ORDER BY rowid LIMIT ?`, after, limit)
	if err != nil {
		return err
	}
	return scanSeqVersions(rows, fn)
}

// postgresVersions is the PostgreSQL VersionStore.
type postgresVersions struct{ db *sql.DB }

func (s postgresVersions) AppendVersion(ctx context.Context, v StoredVersion) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO fhir_versions (type, id, version, last_updated, deleted, body) VALUES ($1, $2, $3, $4, $5, $6)`,
		v.Type, v.ID, v.Version, v.LastUpdated.UnixNano(), v.Deleted, v.Body)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "23505" { // unique_violation
		return fmt.Errorf("%w: %s/%s version %d was written by another instance", ErrConflict, v.Type, v.ID, v.Version)
	}
	return err
}

func (s postgresVersions) Versions(ctx context.Context, fn func(StoredVersion) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT type, id, version, last_updated, deleted, body FROM (
			SELECT DISTINCT ON (type, id) seq, type, id, version, last_updated, deleted, body
			FROM fhir_versions ORDER BY type, id, version DESC) v
		ORDER BY seq`)
	if err != nil {
		return err
	}
	return scanVersions(rows, fn)
}

func (s postgresVersions) History(ctx context.Context, typ, id string, fn func(StoredVersion) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT type, id, version, last_updated, deleted, body FROM fhir_versions
		WHERE type = $1 AND id = $2 ORDER BY version`, typ, id)
	if err != nil {
		return err
	}
	return scanVersions(rows, fn)
}

func (s postgresVersions) LastSeq(ctx context.Context) (int64, error) {
	var n int64
	err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(seq), 0) FROM fhir_versions`).Scan(&n)
	return n, err
}

func (s postgresVersions) Since(ctx context.Context, after int64, limit int, fn func(int64, StoredVersion) error) error {
	rows, err := s.db.QueryContext(ctx, `SELECT seq, type, id, version, last_updated, deleted, body FROM fhir_versions
		WHERE seq > $1 ORDER BY seq LIMIT $2`, after, limit)
	if err != nil {
		return err
	}
	return scanSeqVersions(rows, fn)
}

// scanSeqVersions reads every row first, then calls fn.
func scanSeqVersions(rows *sql.Rows, fn func(int64, StoredVersion) error) error {
	type sv struct {
		seq int64
		v   StoredVersion
	}
	var vs []sv
	for rows.Next() {
		var x sv
		var lu int64
		if err := rows.Scan(&x.seq, &x.v.Type, &x.v.ID, &x.v.Version, &lu, &x.v.Deleted, &x.v.Body); err != nil {
			rows.Close()
			return err
		}
		x.v.LastUpdated = time.Unix(0, lu).UTC()
		vs = append(vs, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, x := range vs {
		if err := fn(x.seq, x.v); err != nil {
			return err
		}
	}
	return nil
}

// scanVersions reads every row first, then calls fn: fn may read imported
// rows, and the shared SQLite connection is a single one.
func scanVersions(rows *sql.Rows, fn func(StoredVersion) error) error {
	var vs []StoredVersion
	for rows.Next() {
		var v StoredVersion
		var lu int64
		if err := rows.Scan(&v.Type, &v.ID, &v.Version, &lu, &v.Deleted, &v.Body); err != nil {
			rows.Close()
			return err
		}
		v.LastUpdated = time.Unix(0, lu).UTC()
		vs = append(vs, v)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, v := range vs {
		if err := fn(v); err != nil {
			return err
		}
	}
	return nil
}
