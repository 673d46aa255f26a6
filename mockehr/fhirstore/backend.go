package fhirstore

import (
	"context"
	"time"
)

// Backend is the on-disk half of the store: written versions, the rows of
// the imported set with the snapshot of its index, and the import state.
// The store keeps everything else (indexes of the memory tier, the cache)
// itself, so an implementation is a handful of statements. NewSQLite is the
// one ehrsim uses.
type Backend interface {
	// AppendVersion persists one written version (Body nil for a deletion).
	AppendVersion(ctx context.Context, v StoredVersion) error
	// Versions calls fn for the latest persisted version of every written
	// resource, in the order those were written (what a start overlays).
	Versions(ctx context.Context, fn func(StoredVersion) error) error
	// History calls fn for every persisted version of typ/id, oldest first.
	// Earlier versions are read from here, not kept in memory, so memory
	// does not grow with the number of writes.
	History(ctx context.Context, typ, id string, fn func(StoredVersion) error) error

	// ImportState returns the state of the imported set (zero when none).
	ImportState(ctx context.Context) (ImportState, error)
	// BeginImport drops the imported set and starts an empty one for
	// fingerprint, with the status "running".
	BeginImport(ctx context.Context, fingerprint string) (ImportWriter, error)
	// IndexSnapshot returns the parts ImportWriter.Finish saved, joined,
	// 8-byte aligned, valid until Close (it may be a read-only mapping).
	IndexSnapshot(ctx context.Context) ([]byte, error)
	// ReadImported calls fn for each of the sorted seqs that has a row.
	// fn may keep body; record is only valid during the call.
	ReadImported(ctx context.Context, seqs []uint32, fn func(seq uint32, record, body []byte) error) error

	// Close releases what the backend opened (not the database it was given).
	Close() error
}

// ImportWriter receives the rows of one import.
type ImportWriter interface {
	// Put adds a row; rows are committed in batches.
	Put(ctx context.Context, row ImportedRow) error
	// SetRecord replaces the record of a row already put.
	SetRecord(ctx context.Context, seq uint32, record []byte) error
	// ReadBack is ReadImported over the rows put so far.
	ReadBack(ctx context.Context, seqs []uint32, fn func(seq uint32, record, body []byte) error) error
	// Finish commits the remaining rows, the index snapshot (the parts
	// writeIndex puts, in order; put may not keep a part) and the status
	// "done" in one transaction.
	Finish(ctx context.Context, writeIndex func(put func(part []byte) error) error, resources int) error
	// Abort drops everything this import wrote.
	Abort(ctx context.Context) error
}

// StoredVersion is one written version as persisted.
type StoredVersion struct {
	Type, ID    string
	Version     int
	LastUpdated time.Time
	Deleted     bool
	Body        []byte
}

// ImportedRow is one resource of the imported set: its served JSON and its
// record (record.go).
type ImportedRow struct {
	Seq      uint32
	Type, ID string
	Record   []byte
	Body     []byte
}

// ImportState describes the imported set recorded in the database.
type ImportState struct {
	Fingerprint string
	Status      string // "", "running" or "done"
	Resources   int
	Started     time.Time
	Finished    time.Time
}

// Import statuses.
const (
	ImportRunning = "running"
	ImportDone    = "done"
)
