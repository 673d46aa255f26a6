package fhirstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// migrations of the "fhirstore" owner (append-only, see store.Migrate).
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS fhir_versions (
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		version INTEGER NOT NULL,
		last_updated INTEGER NOT NULL,
		deleted INTEGER NOT NULL,
		body BLOB,
		PRIMARY KEY (type, id, version))`,
	`CREATE TABLE IF NOT EXISTS fhir_import (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		fingerprint TEXT NOT NULL,
		status TEXT NOT NULL,
		resources INTEGER NOT NULL DEFAULT 0,
		started INTEGER NOT NULL,
		finished INTEGER)`,
	createImported,
	`CREATE TABLE IF NOT EXISTS fhir_imported_index (part INTEGER PRIMARY KEY, data BLOB NOT NULL)`,
}

// createImported is also run by BeginImport after dropping the table
// (dropping is much faster than deleting a million rows).
const createImported = `CREATE TABLE IF NOT EXISTS fhir_imported (
		seq INTEGER PRIMARY KEY,
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		record BLOB NOT NULL,
		body BLOB NOT NULL)`

// SQLite is the Backend on ehrsim's database. Written versions go through
// the shared connection; the imported set has its own connections (a
// writer while importing, a small read pool), so that an import's long
// transactions and many concurrent row reads never queue behind, or in
// front of, the rest of ehrsim on the shared single connection.
type SQLite struct {
	db  *store.DB
	rd  *sql.DB
	pt  *sql.Stmt // one row
	rng *sql.Stmt // a range of rows
}

var _ Backend = (*SQLite)(nil)

// NewSQLite migrates the fhirstore tables and opens the read pool.
func NewSQLite(ctx context.Context, db *store.DB) (*SQLite, error) {
	if err := db.Migrate(ctx, "fhirstore", migrations); err != nil {
		return nil, err
	}
	rd, err := sql.Open("sqlite", "file:"+db.Path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=cache_size(-4000)")
	if err != nil {
		return nil, fmt.Errorf("fhirstore: open read pool: %w", err)
	}
	rd.SetMaxOpenConns(4)
	rd.SetMaxIdleConns(4)
	b := &SQLite{db: db, rd: rd}
	if b.pt, err = rd.PrepareContext(ctx, `SELECT seq, record, body FROM fhir_imported WHERE seq = ?`); err == nil {
		b.rng, err = rd.PrepareContext(ctx, `SELECT seq, record, body FROM fhir_imported WHERE seq BETWEEN ? AND ? ORDER BY seq`)
	}
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("fhirstore: prepare reads: %w", err)
	}
	return b, nil
}

func (b *SQLite) Close() error { return b.rd.Close() }

func (b *SQLite) AppendVersion(ctx context.Context, v StoredVersion) error {
	_, err := b.db.SQL.ExecContext(ctx, `INSERT INTO fhir_versions (type, id, version, last_updated, deleted, body) VALUES (?, ?, ?, ?, ?, ?)`,
		v.Type, v.ID, v.Version, v.LastUpdated.UnixNano(), v.Deleted, v.Body)
	return err
}

func (b *SQLite) Versions(ctx context.Context, fn func(StoredVersion) error) error {
	// Read them all first: fn may read imported rows, and the shared
	// connection is a single one.
	rows, err := b.db.SQL.QueryContext(ctx, `SELECT type, id, version, last_updated, deleted, body FROM fhir_versions ORDER BY rowid`)
	if err != nil {
		return err
	}
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

func (b *SQLite) ImportState(ctx context.Context) (ImportState, error) {
	var st ImportState
	var started int64
	var finished sql.NullInt64
	err := b.db.SQL.QueryRowContext(ctx, `SELECT fingerprint, status, resources, started, finished FROM fhir_import WHERE id = 1`).
		Scan(&st.Fingerprint, &st.Status, &st.Resources, &started, &finished)
	if errors.Is(err, sql.ErrNoRows) {
		return ImportState{}, nil
	}
	if err != nil {
		return st, err
	}
	st.Started = time.Unix(0, started).UTC()
	if finished.Valid {
		st.Finished = time.Unix(0, finished.Int64).UTC()
	}
	return st, nil
}

func (b *SQLite) IndexSnapshot(ctx context.Context) ([][]byte, error) {
	rows, err := b.rd.QueryContext(ctx, `SELECT data FROM fhir_imported_index ORDER BY part`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var parts [][]byte
	for rows.Next() {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	return parts, rows.Err()
}

// maxGap is the largest distance between two wanted seqs still read with
// one range query (reading a few unwanted rows beats another query).
const maxGap = 8

func (b *SQLite) ReadImported(ctx context.Context, seqs []uint32, fn func(seq uint32, record, body []byte) error) error {
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1]-seqs[j] <= maxGap {
			j++
		}
		if j == i {
			var seq uint32
			var rec, body []byte
			err := b.pt.QueryRowContext(ctx, seqs[i]).Scan(&seq, &rec, &body)
			switch {
			case errors.Is(err, sql.ErrNoRows):
			case err != nil:
				return err
			default:
				if err := fn(seq, rec, body); err != nil {
					return err
				}
			}
			i++
			continue
		}
		if err := b.readRange(ctx, seqs[i:j+1], fn); err != nil {
			return err
		}
		i = j + 1
	}
	return nil
}

func (b *SQLite) readRange(ctx context.Context, want []uint32, fn func(seq uint32, record, body []byte) error) error {
	rows, err := b.rng.QueryContext(ctx, want[0], want[len(want)-1])
	if err != nil {
		return err
	}
	defer rows.Close()
	k := 0
	for rows.Next() {
		var seq uint32
		var rec, body sql.RawBytes
		if err := rows.Scan(&seq, &rec, &body); err != nil {
			return err
		}
		for k < len(want) && want[k] < seq {
			k++
		}
		if k < len(want) && want[k] == seq {
			if err := fn(seq, append([]byte(nil), rec...), append([]byte(nil), body...)); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

// importBatch is the number of rows per import transaction.
const importBatch = 4096

type sqliteImport struct {
	b   *SQLite
	w   *sql.DB
	tx  *sql.Tx
	ins *sql.Stmt
	n   int
}

func (b *SQLite) BeginImport(ctx context.Context, fingerprint string) (ImportWriter, error) {
	w, err := sql.Open("sqlite", "file:"+b.db.Path+"?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-16000)")
	if err != nil {
		return nil, fmt.Errorf("fhirstore: open import writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	imp := &sqliteImport{b: b, w: w}
	if err := imp.reset(ctx, fingerprint); err != nil {
		w.Close()
		return nil, err
	}
	return imp, nil
}

// reset drops the imported set; with a fingerprint it records a new,
// running import.
func (imp *sqliteImport) reset(ctx context.Context, fingerprint string) error {
	tx, err := imp.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmts := []string{`DELETE FROM fhir_import`, `DROP TABLE IF EXISTS fhir_imported`, createImported, `DELETE FROM fhir_imported_index`}
	for _, q := range stmts {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("fhirstore: reset imported set: %w", err)
		}
	}
	if fingerprint != "" {
		if _, err := tx.ExecContext(ctx, `INSERT INTO fhir_import (id, fingerprint, status, resources, started) VALUES (1, ?, ?, 0, ?)`,
			fingerprint, ImportRunning, time.Now().UnixNano()); err != nil {
			return err
		}
	}
	return tx.Commit()
}

func (imp *sqliteImport) begin(ctx context.Context) error {
	if imp.tx != nil {
		return nil
	}
	tx, err := imp.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO fhir_imported (seq, type, id, record, body) VALUES (?, ?, ?, ?, ?)`)
	if err != nil {
		tx.Rollback()
		return err
	}
	imp.tx, imp.ins, imp.n = tx, ins, 0
	return nil
}

func (imp *sqliteImport) commit() error {
	if imp.tx == nil {
		return nil
	}
	imp.ins.Close()
	err := imp.tx.Commit()
	imp.tx, imp.ins = nil, nil
	return err
}

func (imp *sqliteImport) Put(ctx context.Context, row ImportedRow) error {
	if err := imp.begin(ctx); err != nil {
		return err
	}
	if _, err := imp.ins.ExecContext(ctx, row.Seq, row.Type, row.ID, row.Record, row.Body); err != nil {
		return fmt.Errorf("fhirstore: import %s/%s: %w", row.Type, row.ID, err)
	}
	if imp.n++; imp.n >= importBatch {
		return imp.commit()
	}
	return nil
}

func (imp *sqliteImport) SetRecord(ctx context.Context, seq uint32, record []byte) error {
	if err := imp.begin(ctx); err != nil {
		return err
	}
	_, err := imp.tx.ExecContext(ctx, `UPDATE fhir_imported SET record = ? WHERE seq = ?`, record, seq)
	return err
}

// Flush commits the rows put so far (Provenance resolution reads them
// back through the read pool).
func (imp *sqliteImport) Flush(context.Context) error { return imp.commit() }

func (imp *sqliteImport) Finish(ctx context.Context, index [][]byte, resources int) error {
	defer imp.close()
	if err := imp.begin(ctx); err != nil {
		return err
	}
	for i, p := range index {
		if _, err := imp.tx.ExecContext(ctx, `INSERT INTO fhir_imported_index (part, data) VALUES (?, ?)`, i, p); err != nil {
			return err
		}
	}
	if _, err := imp.tx.ExecContext(ctx, `UPDATE fhir_import SET status = ?, resources = ?, finished = ? WHERE id = 1`,
		ImportDone, resources, time.Now().UnixNano()); err != nil {
		return err
	}
	if err := imp.commit(); err != nil {
		return err
	}
	_, err := imp.w.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func (imp *sqliteImport) Abort(ctx context.Context) error {
	defer imp.close()
	if imp.tx != nil {
		imp.ins.Close()
		imp.tx.Rollback()
		imp.tx = nil
	}
	if err := imp.reset(context.WithoutCancel(ctx), ""); err != nil {
		return err
	}
	_, err := imp.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func (imp *sqliteImport) close() {
	if imp.tx != nil {
		imp.ins.Close()
		imp.tx.Rollback()
		imp.tx = nil
	}
	imp.w.Close()
}
