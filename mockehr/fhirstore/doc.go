// Package fhirstore is the mock EHR's FHIR R4 resource store: the demo set
// and every write held in memory, a large user data set (--fixtures)
// imported once into the data directory's database and served from there,
// one search engine over both, writes (create, update, delete, history)
// persisted and overlaid on whatever they change at the next start. It also
// implements smart.Directory (people and encounters for pickers and
// banners).
//
// It owns the tables created under the "fhirstore" migration owner and
// nothing else: no HTTP, no scope decisions (mockehr/fhir does those, using
// Query and Resource from here so that access filters and search share one
// matcher).
//
// # Two tiers
//
// The memory tier holds the demo set (rebuilt at every start from code,
// dated relative to today, about 6,000 resources) and every written
// version. It is what it always was: parsed, indexed Resources whose JSON
// is encoded once, so the hot paths (a read with its scope check, a
// compartment search of a demo patient) never touch the disk and start-up
// stays well inside 300 ms.
//
// The imported tier holds user data (generated sets of 10,000 or 100,000
// patients, Synthea records). Each resource is stored once, as its served
// JSON bytes plus a small binary record of its search entries (record.go),
// in one database row keyed by an import sequence number, in a SQLite file
// of its own beside ehrsim.db (fhir-imported.db: derived data, written
// without a journal, renamed into place when complete, then read-only). Nothing per
// resource stays parsed in memory. What stays in memory are compact,
// pointer-free indexes (postings.go): sorted arrays of 64-bit hashes with
// sorted posting lists of uint32 sequence numbers, for
//
//   - Type/id → seq (reads, _id, includes),
//   - (patient, type) → seqs (the patient compartment: patient/ scopes,
//     patient= searches, $everything),
//   - (type, param, token code or reference) → seqs (other searches,
//     _revinclude, Referencing), and (type) → seqs (a scan of one type);
//     a code matching over half of its type (status=final) is dropped, as
//     it would not narrow a search (which then treats the clause as
//     unindexed), and subject=Patient/x is the compartment's,
//   - sorted lowercased strings per (type, param) for name prefix search.
//
// That is about 50 bytes per resource, against 1 to 2 KB of JSON. A hash
// only ever widens a candidate set: every candidate is checked against its
// decoded record with the same Query.Match as the memory tier, so a
// collision costs a row read, never a wrong answer.
//
// A search asks both tiers for candidates: the imported tier takes the most
// selective index, intersects the other indexed clauses' postings (binary
// search, still no disk), then decodes the survivors from a bounded cache
// or the database (one range read when their sequence numbers are close,
// which they are for a patient's records) and matches them. Results of both
// tiers are merged and sorted on one order key: demo set, then imported set
// in file order, then resources created at run time (the order the loader
// used to give them).
//
// A write to an imported resource goes to the memory tier like any other:
// the new version shadows the imported one (a bitset over sequence numbers
// keeps the imported row out of searches) and the imported version becomes
// the first entry of its history. Imported rows are never modified, so the
// in-memory index of the imported tier is immutable and lock-free.
//
// # Memory is bounded by configuration
//
// Decoded imported resources (record and JSON, about 2.5 KB each) are kept
// in a CLOCK cache bounded in bytes (Options.CacheBytes, ehrsim's
// --fhir-cache-mb, 128 MB by default); the rest stays in the database and
// in the operating system's page cache, which is not part of ehrsim's
// resident memory. The indexes grow with the data (about 50 bytes a
// resource: 80 MB for 10,000 generated patients); nothing else does.
//
// # Import and restart
//
// Options.Import is a Source (fixtures.Dir implements it): a fingerprint of
// the files (paths, sizes, modification times, load mode) and a stream of
// resources that it validates in full before the store keeps any (every
// problem named with file and line or entry, as before). Open compares the
// fingerprint with the one recorded in the database:
//
//   - the same and the import finished: the saved index snapshot is read
//     (a few blobs, no JSON parsed) and the import is skipped (Stats
//     counts it, and it is logged), so a restart takes seconds;
//   - different, missing or an import that never finished (a kill): the
//     imported tier is dropped and imported again from scratch, streaming:
//     one goroutine reads, every core parses and indexes, one writer
//     commits rows in batches. Memory stays flat whatever the file sizes;
//     only the index under construction grows (a soft limit of the Go
//     heap, 1.5 GB, keeps garbage from doubling it at 100,000 patients). A progress line is logged
//     every few seconds. The rows, the index snapshot and the status
//     "done" go to temporary files renamed into place last, so a killed
//     import is never mistaken for a finished one, and a failed one (a
//     bad file) leaves nothing behind.
//
// The snapshot is a file beside the rows (fhir-imported.db.idx, tied to
// them by a nonce) whose arrays are 8-byte aligned: the store maps it
// read-only and uses the posting arrays in place, after an import as after
// a restart (which takes well under a second, even at 100,000 patients).
// Kept out of the Go heap, the index neither slows the collector nor
// makes it let the heap grow by the index's size between collections.
//
// The database part sits behind Backend (backend.go): written versions,
// imported rows by sequence number, the index snapshot and the import
// state. sqlite.go implements it in the data directory (the imported set
// in its own file, read by a small pool of its own) and hands the written
// versions to a VersionStore (versions.go): the shared ehrsim.db, or with
// --database-url PostgreSQL, one contract test covering both. On
// PostgreSQL other instances write too: a follower (follow.go) polls for
// their versions four times a second and publishes the new ones as the
// start-up overlay does, so a write on one instance is readable on the
// others well within a second; two instances writing the same version of
// one resource cannot both succeed (the second gets ErrConflict). The
// imported set stays per instance: it is derived from files each has.
//
// # Why fastjson.go stays
//
// Every demo resource at every start and every imported resource once is
// decoded into map[string]any to compute its search entries; the
// reflection-free decoder does that at twice the speed of encoding/json,
// which matters for both the 300 ms start-up and the import budget. Reads
// never decode: they serve the stored bytes.
//
// # Other design choices
//
//   - Every stored version is immutable once published; the JSON bytes
//     served to clients are encoded once at write/load/import time, so a
//     read never re-marshals.
//   - The memory tier's indexes map (type, param, value) to slot sets; the
//     patient compartment index maps patient → type → slots. A search picks
//     the most selective index and then checks every clause, so stale or
//     coarse index hits are harmless and search cost depends on the
//     matching set, not on the data set size.
//   - The memory tier's index holds no pointers where it is large: posting
//     sets are keyed by int32 slot numbers and a resource's index entries
//     are offsets into one string, so the garbage collector has little to
//     scan.
//   - One RWMutex guards the memory tier's maps; writers serialise on a
//     second mutex and hold the RWMutex only to swap the in-memory state
//     after the database write, so readers never wait on SQLite.
package fhirstore
