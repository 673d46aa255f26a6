package fhirstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// migrations of the "fhirstore" owner in the shared SQLite database
// (append-only, see store.Migrate; postgresMigrations in versions.go are the
// PostgreSQL counterpart of fhir_versions).
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS fhir_versions (
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		version INTEGER NOT NULL,
		last_updated INTEGER NOT NULL,
		deleted INTEGER NOT NULL,
		body BLOB,
		PRIMARY KEY (type, id, version))`,
	// Steps 1 to 3 held the imported set in this database for a day; it
	// now has a file of its own (ImportedFileName), and 4 to 6 drop them.
	`CREATE TABLE IF NOT EXISTS fhir_import (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		fingerprint TEXT NOT NULL,
		status TEXT NOT NULL,
		resources INTEGER NOT NULL DEFAULT 0,
		started INTEGER NOT NULL,
		finished INTEGER)`,
	`CREATE TABLE IF NOT EXISTS fhir_imported (
		seq INTEGER PRIMARY KEY,
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		record BLOB NOT NULL,
		body BLOB NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS fhir_imported_index (part INTEGER PRIMARY KEY, data BLOB NOT NULL)`,
	`DROP TABLE IF EXISTS fhir_import`,
	`DROP TABLE IF EXISTS fhir_imported`,
	`DROP TABLE IF EXISTS fhir_imported_index`,
}

// ImportedFileName is the SQLite file of the imported set, in the data
// directory beside store.FileName.
const ImportedFileName = "fhir-imported.db"

// importedSchema is the imported set's file: its state, its rows and the
// snapshot of its index.
var importedSchema = []string{
	`CREATE TABLE fhir_import (
		fingerprint TEXT NOT NULL,
		status TEXT NOT NULL,
		resources INTEGER NOT NULL,
		started INTEGER NOT NULL,
		finished INTEGER,
		index_nonce BLOB,
		index_size INTEGER)`,
	`CREATE TABLE fhir_imported (
		seq INTEGER PRIMARY KEY,
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		record BLOB NOT NULL,
		body BLOB NOT NULL)`,
}

// The index snapshot is a file beside the rows (ImportedFileName + ".idx"):
// a 16-byte nonce, then the snapshot. A restart reads it with one read
// (700 MB at 100,000 patients: a second, where SQLite's overflow pages took
// several); the nonce and size recorded in fhir_import tie it to its rows.
const (
	indexSuffix = ".idx"
	nonceSize   = 16
)

// SQLite is the Backend on ehrsim's data directory. Written versions go to
// the shared database (store.DB). The imported set lives in a file of its
// own, ImportedFileName: it is derived data (the fixture files are the
// source), so it is written without a journal (three times faster than the
// shared database's WAL) into a temporary file renamed into place once
// complete, and read through a read-only, lock-free ("immutable") pool.
// A kill during an import leaves only the temporary file, removed at the
// next import; the shared database never grows by gigabytes nor waits on
// an import.
type SQLite struct {
	db       *store.DB
	versions VersionStore
	path     string // the imported set's file

	mu    sync.Mutex
	rd    *sql.DB // read pool over path; nil when closed or absent
	pt    *sql.Stmt
	rng   *sql.Stmt
	unmap []func() error // index files mapped by IndexSnapshot
}

var _ Backend = (*SQLite)(nil)

// NewSQLite migrates the fhirstore tables of db; the imported set's file
// sits beside db's.
func NewSQLite(ctx context.Context, db *store.DB) (*SQLite, error) {
	if err := db.Migrate(ctx, "fhirstore", migrations); err != nil {
		return nil, err
	}
	return &SQLite{db: db, versions: versionStoreFor(db), path: filepath.Join(filepath.Dir(db.Path), ImportedFileName)}, nil
}

// reader opens (once) the read pool over the imported set's file; nil when
// there is no file.
func (b *SQLite) reader(ctx context.Context) (*sql.DB, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rd != nil {
		return b.rd, nil
	}
	if _, err := os.Stat(b.path); err != nil {
		return nil, nil
	}
	rd, err := sql.Open("sqlite", "file:"+b.path+"?mode=ro&immutable=1&_pragma=cache_size(-4000)")
	if err != nil {
		return nil, fmt.Errorf("fhirstore: open %s: %w", b.path, err)
	}
	rd.SetMaxOpenConns(4)
	rd.SetMaxIdleConns(4)
	pt, err := rd.PrepareContext(ctx, `SELECT seq, record, body FROM fhir_imported WHERE seq = ?`)
	var rng *sql.Stmt
	if err == nil {
		rng, err = rd.PrepareContext(ctx, `SELECT seq, record, body FROM fhir_imported WHERE seq BETWEEN ? AND ? ORDER BY seq`)
	}
	if err != nil {
		rd.Close()
		return nil, fmt.Errorf("fhirstore: read %s: %w", b.path, err)
	}
	b.rd, b.pt, b.rng = rd, pt, rng
	return rd, nil
}

func (b *SQLite) closeReader() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.rd == nil {
		return nil
	}
	err := b.rd.Close()
	b.rd, b.pt, b.rng = nil, nil, nil
	return err
}

// Close closes the read pool and unmaps the index (the shared database is
// the caller's). Nothing read from the backend may be used after it.
func (b *SQLite) Close() error {
	err := b.closeReader()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, u := range b.unmap {
		if uerr := u(); err == nil {
			err = uerr
		}
	}
	b.unmap = nil
	return err
}

// shared returns the VersionStore when other instances may write to it
// (PostgreSQL), nil for the instance's own SQLite.
func (b *SQLite) shared() VersionStore {
	if b.db.PG != nil {
		return b.versions
	}
	return nil
}

// AppendVersion, Versions and History go to the VersionStore of the
// shared database (SQLite, or PostgreSQL when configured).
func (b *SQLite) AppendVersion(ctx context.Context, v StoredVersion) error {
	return b.versions.AppendVersion(ctx, v)
}

func (b *SQLite) Versions(ctx context.Context, fn func(StoredVersion) error) error {
	return b.versions.Versions(ctx, fn)
}

func (b *SQLite) History(ctx context.Context, typ, id string, fn func(StoredVersion) error) error {
	return b.versions.History(ctx, typ, id, fn)
}

// ImportState reads the imported set's file; an unreadable file (a kill
// during a rename-less era, a disk problem) counts as no import.
func (b *SQLite) ImportState(ctx context.Context) (ImportState, error) {
	var st ImportState
	if _, err := os.Stat(b.path + ".tmp"); err == nil {
		st.Status = ImportRunning // a killed import; BeginImport removes it
	}
	rd, err := b.reader(ctx)
	if err != nil || rd == nil {
		return st, nil
	}
	var started int64
	var finished sql.NullInt64
	err = rd.QueryRowContext(ctx, `SELECT fingerprint, status, resources, started, finished FROM fhir_import`).
		Scan(&st.Fingerprint, &st.Status, &st.Resources, &started, &finished)
	if err != nil {
		return ImportState{Status: st.Status}, nil
	}
	st.Started = time.Unix(0, started).UTC()
	if finished.Valid {
		st.Finished = time.Unix(0, finished.Int64).UTC()
	}
	return st, nil
}

func (b *SQLite) IndexSnapshot(ctx context.Context) ([]byte, error) {
	rd, err := b.reader(ctx)
	if err != nil {
		return nil, err
	}
	if rd == nil {
		return nil, errors.New("fhirstore: no imported set")
	}
	var nonce []byte
	var size int
	if err := rd.QueryRowContext(ctx, `SELECT index_nonce, index_size FROM fhir_import`).Scan(&nonce, &size); err != nil {
		return nil, err
	}
	buf, unmap, err := mapFile(b.path + indexSuffix) // the index then uses it in place
	if err != nil {
		return nil, err
	}
	if len(buf) != nonceSize+size || len(nonce) != nonceSize || !bytes.Equal(buf[:nonceSize], nonce) {
		unmap()
		return nil, errors.New("fhirstore: the index file does not belong to the imported set")
	}
	b.mu.Lock()
	b.unmap = append(b.unmap, unmap)
	b.mu.Unlock()
	return buf[nonceSize:], nil
}

// maxGap is the largest distance between two wanted seqs still read with
// one range query (reading a few unwanted rows beats another query).
const maxGap = 8

func (b *SQLite) ReadImported(ctx context.Context, seqs []uint32, fn func(seq uint32, record, body []byte) error) error {
	if len(seqs) == 0 {
		return nil
	}
	rd, err := b.reader(ctx)
	if err != nil || rd == nil {
		return err
	}
	b.mu.Lock()
	pt, rng := b.pt, b.rng
	b.mu.Unlock()
	return readRows(ctx, pt, rng, seqs, fn)
}

// readRows reads the sorted seqs, a range query for each run of close
// ones, a point query for the others.
func readRows(ctx context.Context, pt, rng *sql.Stmt, seqs []uint32, fn func(seq uint32, record, body []byte) error) error {
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1]-seqs[j] <= maxGap {
			j++
		}
		var err error
		if j == i {
			err = scanRows(pt.QueryContext(ctx, seqs[i]))(seqs[i:i+1], fn)
		} else {
			err = scanRows(rng.QueryContext(ctx, seqs[i], seqs[j]))(seqs[i:j+1], fn)
		}
		if err != nil {
			return err
		}
		i = j + 1
	}
	return nil
}

// scanRows hands fn the wanted rows of a query ordered by seq. The record
// is the driver's buffer (fn decodes it at once); the body is copied once,
// for fn to keep.
func scanRows(rows *sql.Rows, err error) func(want []uint32, fn func(seq uint32, record, body []byte) error) error {
	return func(want []uint32, fn func(seq uint32, record, body []byte) error) error {
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
				if err := fn(seq, rec, bytes.Clone(body)); err != nil {
					return err
				}
			}
		}
		return rows.Err()
	}
}

// importBatch is the number of rows per import transaction.
const importBatch = 16384

type sqliteImport struct {
	b       *SQLite
	tmp     string
	w       *sql.DB
	tx      *sql.Tx
	ins     *sql.Stmt
	n       int
	started time.Time
}

// BeginImport removes the imported set (and any killed import) and starts
// writing a new one into a temporary file.
func (b *SQLite) BeginImport(ctx context.Context, fingerprint string) (ImportWriter, error) {
	if err := b.closeReader(); err != nil {
		return nil, err
	}
	tmp := b.path + ".tmp"
	for _, p := range []string{b.path, tmp, b.path + indexSuffix, tmp + indexSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("fhirstore: remove %s: %w", p, err)
		}
	}
	w, err := sql.Open("sqlite", "file:"+tmp+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=locking_mode(EXCLUSIVE)&_pragma=cache_size(-16000)")
	if err != nil {
		return nil, fmt.Errorf("fhirstore: create %s: %w", tmp, err)
	}
	w.SetMaxOpenConns(1)
	imp := &sqliteImport{b: b, tmp: tmp, w: w, started: time.Now()}
	for _, q := range importedSchema {
		if _, err := w.ExecContext(ctx, q); err != nil {
			imp.close()
			return nil, fmt.Errorf("fhirstore: create %s: %w", tmp, err)
		}
	}
	if _, err := w.ExecContext(ctx, `INSERT INTO fhir_import (fingerprint, status, resources, started) VALUES (?, ?, 0, ?)`,
		fingerprint, ImportRunning, imp.started.UnixNano()); err != nil {
		imp.close()
		return nil, err
	}
	return imp, nil
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

func (imp *sqliteImport) ReadBack(ctx context.Context, seqs []uint32, fn func(seq uint32, record, body []byte) error) error {
	if err := imp.commit(); err != nil {
		return err
	}
	pt, err := imp.w.PrepareContext(ctx, `SELECT seq, record, body FROM fhir_imported WHERE seq = ?`)
	if err != nil {
		return err
	}
	defer pt.Close()
	rng, err := imp.w.PrepareContext(ctx, `SELECT seq, record, body FROM fhir_imported WHERE seq BETWEEN ? AND ? ORDER BY seq`)
	if err != nil {
		return err
	}
	defer rng.Close()
	return readRows(ctx, pt, rng, seqs, fn)
}

// Finish commits the index and the status, syncs the file and renames it
// into place: the imported set exists whole or not at all.
func (imp *sqliteImport) Finish(ctx context.Context, writeIndex func(put func([]byte) error) error, resources int) error {
	defer imp.close()
	if err := imp.begin(ctx); err != nil {
		return err
	}
	nonce := make([]byte, nonceSize)
	rand.Read(nonce)
	size, err := writeIndexFile(imp.tmp+indexSuffix, nonce, writeIndex)
	if err != nil {
		return err
	}
	if _, err := imp.tx.ExecContext(ctx, `UPDATE fhir_import SET status = ?, resources = ?, finished = ?, index_nonce = ?, index_size = ?`,
		ImportDone, resources, time.Now().UnixNano(), nonce, size); err != nil {
		return err
	}
	if err := imp.commit(); err != nil {
		return err
	}
	if err := imp.w.Close(); err != nil {
		return err
	}
	if err := syncFile(imp.tmp); err != nil {
		return err
	}
	// The index first: rows renamed into place with another set's index
	// (a kill between the renames) would be refused by the nonce.
	if err := os.Rename(imp.tmp+indexSuffix, imp.b.path+indexSuffix); err != nil {
		return fmt.Errorf("fhirstore: %w", err)
	}
	if err := os.Rename(imp.tmp, imp.b.path); err != nil {
		return fmt.Errorf("fhirstore: %w", err)
	}
	return syncFile(filepath.Dir(imp.b.path))
}

// writeIndexFile writes nonce and the snapshot to path, synced; it returns
// the snapshot's size.
func writeIndexFile(path string, nonce []byte, writeIndex func(put func([]byte) error) error) (int, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("fhirstore: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(nonce); err != nil {
		return 0, err
	}
	size := 0
	if err := writeIndex(func(p []byte) error {
		size += len(p)
		_, err := f.Write(p)
		return err
	}); err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, fmt.Errorf("fhirstore: sync %s: %w", path, err)
	}
	return size, f.Close()
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("fhirstore: sync %s: %w", path, err)
	}
	return nil
}

// Abort drops what this import wrote.
func (imp *sqliteImport) Abort(context.Context) error {
	imp.close()
	for _, p := range []string{imp.tmp, imp.tmp + indexSuffix} {
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return nil
}

func (imp *sqliteImport) close() {
	if imp.tx != nil {
		imp.ins.Close()
		imp.tx.Rollback()
		imp.tx = nil
	}
	imp.w.Close()
}
