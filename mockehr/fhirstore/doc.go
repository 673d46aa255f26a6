// Package fhirstore is the mock EHR's FHIR R4 resource store: fixture
// resources loaded into memory at start, indexed for search, with writes
// (create, update, delete, history) persisted to SQLite through
// mockehr/store and overlaid on the fixtures at the next start. It also
// implements smart.Directory (people and encounters for pickers and
// banners).
//
// It owns the tables created under the "fhirstore" migration owner and
// nothing else: no HTTP, no scope decisions (mockehr/fhir does those, using
// Query and Resource from here so that access filters and search share one
// matcher).
//
// Design choices:
//   - Every stored version is immutable once published; the JSON bytes
//     served to clients are encoded once at write/load time, so a read never
//     re-marshals.
//   - Indexes map (type, param, value) to id sets; the patient compartment
//     index maps patient → type → ids. A search picks the most selective
//     index (compartment, _id, token code, name prefix, reference) and then
//     checks every clause, so stale or coarse index hits are harmless and
//     search cost depends on the matching set, not on the data set size.
//   - The index holds no pointers where it is large: posting sets are
//     keyed by int32 slot numbers and a resource's index entries are
//     offsets into one string, so a heap of a million resources stays cheap
//     for the garbage collector and search latency does not grow with it.
//   - One RWMutex guards the maps; writers serialise on a second mutex and
//     hold the RWMutex only to swap the in-memory state after the database
//     write, so readers never wait on SQLite.
package fhirstore
