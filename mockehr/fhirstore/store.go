package fhirstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// Errors of reads and writes.
var (
	ErrNotFound = errors.New("resource not found")
	// ErrConflict: If-Match named a version that is not the current one.
	ErrConflict = errors.New("version conflict")
)

// Options configure Open.
type Options struct {
	// DB persists writes and the imported set (through NewSQLite); nil
	// keeps writes in memory only and loads Import into memory (tests).
	DB *store.DB
	// Backend replaces NewSQLite(DB) (another database, tests).
	Backend Backend
	// Fixtures are the read-only resources (or Bundles of them) held in
	// memory: the demo set.
	Fixtures []json.RawMessage
	// Import is user data kept in the database: imported at the first
	// start, and again only when its fingerprint changes.
	Import Source
	// CacheBytes bounds the memory of decoded imported resources
	// (DefaultCacheBytes when zero).
	CacheBytes int64
	Now        func() time.Time
	Logger     *slog.Logger
}

// Stats describes the store's data and memory, for logs, benchmarks and
// tests.
type Stats struct {
	Memory   int // current versions in the memory tier
	Imported int // resources in the imported tier
	// ImportSkipped is true when Open found the imported set current in
	// the database and did not read the source at all.
	ImportSkipped bool
	ImportTook    time.Duration // a full import done by Open
	IndexBytes    int64         // the imported tier's in-memory index
	CacheBytes    int64         // decoded imported resources held
	CacheLimit    int64
	CacheHits     uint64
	CacheMisses   uint64
}

type rkey struct{ typ, id string }

// Store is the in-memory FHIR store. It is safe for concurrent use.
type Store struct {
	be      Backend // nil: writes stay in memory
	ownsBe  bool
	imp     *imported // nil: no imported set
	cache   *recordCache
	stats   Stats
	ordBase int64 // added to the slot of a new resource: 0 while loading fixtures
	now     func() time.Time
	logger  *slog.Logger

	writeMu sync.Mutex // serialises writers (version numbers, DB order)

	mu   sync.RWMutex
	cur  map[rkey]*Resource   // current version, tombstones included
	hist map[rkey][]*Resource // earlier versions, oldest first
	ix   *indexes
	// slots[seq] is the current version of the resource with that seq
	// (index posting lists hold seqs, not ids).
	slots []*Resource

	// gen counts published versions; the directory's summary cache is valid
	// for one generation (see summaries.go).
	gen       atomic.Uint64
	summaries summaryCache

	follow *follower // nil unless other instances share the writes (follow.go)
}

// Open loads the fixtures into memory, makes the imported set current
// (see the package doc), then overlays the writes stored in the database,
// so writes and deletes survive a restart. Close releases the backend.
func Open(ctx context.Context, o Options) (*Store, error) {
	s := &Store{be: o.Backend, now: o.Now, logger: o.Logger, cur: map[rkey]*Resource{}, hist: map[rkey][]*Resource{}, ix: newIndexes(), slots: []*Resource{nil}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	s.cache = newRecordCache(o.CacheBytes)
	s.stats.CacheLimit = s.cache.totalLimit
	loaded := s.now().UTC()
	skipped := 0
	if err := s.loadFixtures(o.Fixtures, loaded, &skipped); err != nil {
		return nil, err
	}
	if s.be == nil && o.DB != nil {
		be, err := NewSQLite(ctx, o.DB)
		if err != nil {
			return nil, err
		}
		s.be, s.ownsBe = be, true
	}
	fail := func(err error) (*Store, error) {
		s.Close()
		return nil, err
	}
	if o.Import != nil {
		if s.be != nil {
			imp, err := s.importSource(ctx, o.Import, loaded)
			if err != nil {
				return fail(err)
			}
			s.imp = imp
		} else {
			var raws []json.RawMessage
			if err := o.Import.Each(ctx, func(raw []byte, _ string) error { raws = append(raws, raw); return nil }); err != nil {
				return fail(err)
			}
			if err := s.loadFixtures(raws, loaded, &skipped); err != nil {
				return fail(err)
			}
		}
	}
	if skipped > 0 {
		s.logger.Warn("fhirstore: skipped fixture resources of unsupported types", "count", skipped)
	}
	s.ordBase = createdOrdBase
	var shared VersionStore
	var from int64
	if sq, ok := s.be.(*SQLite); ok {
		if shared = sq.shared(); shared != nil {
			// Before the overlay: what is written meanwhile is seen again
			// by the follower, and skipped when the overlay had it.
			var err error
			if from, err = shared.LastSeq(ctx); err != nil {
				return fail(fmt.Errorf("fhirstore: %w", err))
			}
		}
	}
	if s.be != nil {
		if err := s.overlay(ctx); err != nil {
			return fail(err)
		}
	}
	if shared != nil {
		s.follow = newFollower(s, shared, from)
		go s.follow.run()
	}
	return s, nil
}

// Close releases the backend Open created (not Options.DB or Backend).
func (s *Store) Close() error {
	if s.follow != nil {
		s.follow.stop()
	}
	if s.ownsBe {
		return s.be.Close()
	}
	return nil
}

// Stats reports the store's sizes and cache use.
func (s *Store) Stats() Stats {
	st := s.stats
	s.mu.RLock()
	st.Memory = len(s.cur)
	s.mu.RUnlock()
	if s.imp != nil {
		st.Imported = int(s.imp.count())
		st.IndexBytes = s.imp.x.bytes()
	}
	st.CacheBytes = s.cache.bytes()
	st.CacheHits, st.CacheMisses = s.cache.hits.Load(), s.cache.miss.Load()
	return st
}

// lookupPatientLocked resolves a reference's compartment; callers must not
// hold s.mu for writing (they hold nothing, or writeMu).
func (s *Store) lookupPatientLocked(key string) string {
	typ, id, _ := cutKey(key)
	s.mu.RLock()
	r := s.cur[rkey{typ, id}]
	s.mu.RUnlock()
	if r == nil && s.imp != nil {
		r = s.imp.get(typ, id)
	}
	if r != nil {
		return r.Patient
	}
	return ""
}

func cutKey(key string) (string, string, bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return key, "", false
}

// Parse decodes and indexes a resource body of type typ without storing
// it (see the package-level Parse); Provenance compartments resolve
// against this store.
func (s *Store) Parse(typ string, body []byte) (*Resource, error) {
	r, err := Parse(typ, body)
	if err != nil {
		return nil, err
	}
	r.index(s.lookupPatientLocked)
	return r, nil
}

func tombstone(prev *Resource, typ, id string) *Resource {
	r := &Resource{Type: typ, ID: id, Deleted: true, td: types[typ]}
	if prev != nil {
		r.Patient = prev.Patient // keeps compartment checks on a deleted id
	}
	return r
}

func (r *Resource) finishTombstone() {
	r.ETag = `W/"` + fmt.Sprint(r.Version) + `"`
	r.LastModified = r.LastUpdated.UTC().Format(httpTime)
}

// publish makes r the current version, replacing prev.
func (s *Store) publish(r, prev *Resource) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen.Add(1)
	k := rkey{r.Type, r.ID}
	if prev == nil {
		prev = s.cur[k]
	}
	switch {
	case prev != nil && prev.bseq != 0: // an imported resource: shadow its row
		s.imp.setShadow(prev.bseq)
		s.hist[k] = append(s.hist[k], prev)
		r.seq, r.ord = int64(len(s.slots)), prev.ord
		s.slots = append(s.slots, nil)
	case prev != nil:
		if !prev.Deleted {
			s.ix.remove(prev)
		}
		if !prev.persisted { // a persisted version is read back from the backend
			s.hist[k] = append(s.hist[k], prev)
		}
		r.seq, r.ord = prev.seq, prev.ord
	default:
		r.seq = int64(len(s.slots))
		r.ord = s.ordBase + r.seq
		s.slots = append(s.slots, nil)
	}
	s.slots[r.seq] = r
	s.cur[k] = r
	if !r.Deleted {
		s.ix.add(r)
	}
}

// slotOfLocked returns the seq of typ/id; callers hold s.mu.
func (s *Store) slotOfLocked(typ, id string) (int32, bool) {
	if r := s.cur[rkey{typ, id}]; r != nil {
		return int32(r.seq), true
	}
	return 0, false
}

// Get returns the current version of typ/id (possibly a tombstone).
func (s *Store) Get(typ, id string) (*Resource, bool) {
	s.mu.RLock()
	r := s.cur[rkey{typ, id}]
	s.mu.RUnlock()
	if r == nil && s.imp != nil {
		if r = s.imp.get(typ, id); r == nil {
			// A write may have shadowed the imported row meanwhile.
			s.mu.RLock()
			r = s.cur[rkey{typ, id}]
			s.mu.RUnlock()
		}
	}
	return r, r != nil
}

// History returns every version of typ/id, newest first. Versions written
// through a backend are read back from it; memory holds only the current
// version and the one a resource had before its first write (the fixture
// or imported original, which the backend does not store).
func (s *Store) History(ctx context.Context, typ, id string) ([]*Resource, error) {
	k := rkey{typ, id}
	s.mu.RLock()
	cur := s.cur[k]
	if cur == nil {
		s.mu.RUnlock()
		if s.imp != nil { // never written: its one imported version
			if r := s.imp.get(typ, id); r != nil {
				return []*Resource{r}, nil
			}
		}
		return nil, nil
	}
	base := slices.Clone(s.hist[k])
	s.mu.RUnlock()
	if cur.persisted {
		var prev *Resource
		if len(base) > 0 {
			prev = base[len(base)-1]
		}
		err := s.be.History(ctx, typ, id, func(v StoredVersion) error {
			if v.Version >= cur.Version {
				return nil
			}
			r, err := s.fromStored(v, prev)
			if err != nil {
				return err
			}
			base, prev = append(base, r), r
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("fhirstore: history of %s/%s: %w", typ, id, err)
		}
	}
	out := make([]*Resource, 0, len(base)+1)
	out = append(out, cur)
	for i := len(base) - 1; i >= 0; i-- {
		out = append(out, base[i])
	}
	return out, nil
}

// Search returns the live resources matching q, sorted (q.Sort, then load
// order). Paging is the caller's.
func (s *Store) Search(q *Query) []*Resource {
	out := s.memorySearch(q)
	if s.imp != nil {
		out = append(out, s.imp.search(q)...)
	}
	sortResources(out, q.Sort)
	return out
}

// memorySearch returns the memory tier's matches of q, unsorted.
func (s *Store) memorySearch(q *Query) []*Resource {
	s.mu.RLock()
	ids, _ := s.ix.candidates(q, s.slotOfLocked)
	out := make([]*Resource, 0, len(ids))
	for n := range ids {
		if r := s.slots[n]; q.Match(r) {
			out = append(out, r)
		}
	}
	s.mu.RUnlock()
	return out
}

func sortResources(rs []*Resource, keys []SortKey) {
	sort.Slice(rs, func(i, j int) bool {
		a, b := rs[i], rs[j]
		for _, k := range keys {
			var c int
			switch k.Param {
			case "_lastUpdated":
				c = a.LastUpdated.Compare(b.LastUpdated)
			case "_id":
				c = cmpString(a.ID, b.ID)
			default:
				c = cmpInt(a.dateKey(k.Param), b.dateKey(k.Param))
			}
			if k.Desc {
				c = -c
			}
			if c != 0 {
				return c < 0
			}
		}
		return a.ord < b.ord
	})
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (r *Resource) dateKey(param string) int64 {
	if r.td.DateParam == param {
		return r.sortKey
	}
	return r.minDate(param)
}

// minDate is the earliest start of param's values (minInstant if none).
func (r *Resource) minDate(param string) int64 {
	k := int64(minInstant)
	pi, ok := r.pi(param)
	if !ok {
		return k
	}
	first := true
	for i := range r.entries {
		if e := &r.entries[i]; e.pi == pi && (first || e.rng.Lo < k) {
			k, first = e.rng.Lo, false
		}
	}
	return k
}

// References returns the "Type/id" values of r's reference param.
func (r *Resource) References(param string) []string {
	pi, ok := r.pi(param)
	if !ok || r.td.plist[pi].Kind != KindReference {
		return nil
	}
	var out []string
	for i := range r.entries {
		if e := &r.entries[i]; e.pi == pi {
			out = append(out, r.val(e))
		}
	}
	return out
}

// Referencing returns the live resources of type src whose param
// references target ("Type/id").
func (s *Store) Referencing(target string, src *TypeDef, param *ParamDef) []*Resource {
	s.mu.RLock()
	var out []*Resource
	for n := range s.ix.revRefs[target] {
		r := s.slots[n]
		if r.Type != src.Name || r.Deleted {
			continue
		}
		if slices.Contains(r.References(param.Name), target) {
			out = append(out, r)
		}
	}
	s.mu.RUnlock()
	if s.imp != nil {
		out = append(out, s.imp.referencing(target, src, param)...)
	}
	sortResources(out, nil)
	return out
}

// Compartment returns the live resources in patient's compartment (the
// Patient first, then by type and load order).
func (s *Store) Compartment(patient string) []*Resource {
	s.mu.RLock()
	var out []*Resource
	for _, ids := range s.ix.byPatient[patient] {
		for n := range ids {
			if r := s.slots[n]; !r.Deleted {
				out = append(out, r)
			}
		}
	}
	s.mu.RUnlock()
	if s.imp != nil {
		out = append(out, s.imp.compartment(patient)...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Type == "Patient") != (b.Type == "Patient") {
			return a.Type == "Patient"
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.ord < b.ord
	})
	return out
}
