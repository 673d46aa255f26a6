package fhirstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
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
	ErrGone     = errors.New("resource deleted")
	// ErrConflict: If-Match named a version that is not the current one.
	ErrConflict = errors.New("version conflict")
)

// Options configure Open.
type Options struct {
	// DB persists writes; nil keeps them in memory only (tests).
	DB *store.DB
	// Fixtures are the read-only resources (or Bundles of them) loaded first.
	Fixtures []json.RawMessage
	Now      func() time.Time
	Logger   *slog.Logger
}

type rkey struct{ typ, id string }

// Store is the in-memory FHIR store. It is safe for concurrent use.
type Store struct {
	db     *store.DB
	now    func() time.Time
	logger *slog.Logger

	writeMu sync.Mutex // serialises writers (version numbers, DB order)

	mu   sync.RWMutex
	cur  map[rkey]*Resource   // current version, tombstones included
	hist map[rkey][]*Resource // earlier versions, oldest first
	ix   *indexes
	// slots[seq] is the current version of the resource with that seq
	// (index posting lists hold seqs, not ids).
	slots []*Resource
}

// Open loads the fixtures, then overlays the writes stored in the
// database, so writes and deletes survive a restart.
func Open(ctx context.Context, o Options) (*Store, error) {
	s := &Store{db: o.DB, now: o.Now, logger: o.Logger, cur: map[rkey]*Resource{}, hist: map[rkey][]*Resource{}, ix: newIndexes(), slots: []*Resource{nil}}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logger == nil {
		s.logger = slog.Default()
	}
	loaded := s.now().UTC()
	skipped := 0
	if err := s.loadFixtures(o.Fixtures, loaded, &skipped); err != nil {
		return nil, err
	}
	if skipped > 0 {
		s.logger.Warn("fhirstore: skipped fixture resources of unsupported types", "count", skipped)
	}
	if s.db != nil {
		if err := s.db.Migrate(ctx, "fhirstore", migrations); err != nil {
			return nil, err
		}
		if err := s.overlay(ctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

var migrations = []string{
	`CREATE TABLE IF NOT EXISTS fhir_versions (
		type TEXT NOT NULL,
		id TEXT NOT NULL,
		version INTEGER NOT NULL,
		last_updated INTEGER NOT NULL,
		deleted INTEGER NOT NULL,
		body BLOB,
		PRIMARY KEY (type, id, version))`,
}

// loadFixtures decodes and indexes fixtures on every core, then publishes
// them in order (cold start is dominated by JSON decoding).
func (s *Store) loadFixtures(raws []json.RawMessage, loaded time.Time, skipped *int) error {
	var flat []json.RawMessage
	for _, raw := range raws {
		if err := expandBundles(raw, &flat); err != nil {
			return err
		}
	}
	out := make([]*Resource, len(flat))
	errs := make([]error, len(flat))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range max(1, min(runtime.GOMAXPROCS(0), len(flat)/64)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(flat) {
					return
				}
				out[i], errs[i] = prepareFixture(flat[i], loaded)
			}
		}()
	}
	wg.Wait()
	for i, r := range out {
		if errs[i] != nil {
			return fmt.Errorf("fixture resource %d: %w", i, errs[i])
		}
		if r == nil {
			*skipped++
			continue
		}
		r.resolveTargets(s.lookupPatientLocked)
		s.publish(r, nil)
	}
	return nil
}

// expandBundles appends raw, or the resources of a Bundle, to out.
func expandBundles(raw json.RawMessage, out *[]json.RawMessage) error {
	if !bytes.HasPrefix(raw, []byte(`{"resourceType":"Bundle"`)) && bytes.HasPrefix(raw, []byte(`{"resourceType":"`)) {
		*out = append(*out, raw)
		return nil
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource json.RawMessage `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return fmt.Errorf("fixture is not JSON: %w", err)
	}
	if head.ResourceType != "Bundle" {
		*out = append(*out, raw)
		return nil
	}
	for _, e := range head.Entry {
		if len(e.Resource) > 0 {
			if err := expandBundles(e.Resource, out); err != nil {
				return err
			}
		}
	}
	return nil
}

// prepareFixture parses and finishes one fixture resource as version 1;
// nil for an unsupported type.
func prepareFixture(raw []byte, loaded time.Time) (*Resource, error) {
	var typ string
	if rest, ok := bytes.CutPrefix(raw, []byte(`{"resourceType":"`)); ok {
		if i := bytes.IndexByte(rest, '"'); i > 0 {
			typ = string(rest[:i])
		}
	}
	if typ == "" {
		var head struct{ ResourceType string }
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, err
		}
		typ = head.ResourceType
	}
	if types[typ] == nil {
		return nil, nil
	}
	r, err := Parse(typ, raw)
	if err != nil {
		return nil, err
	}
	if r.ID == "" {
		return nil, fmt.Errorf("%s without id", r.Type)
	}
	r.Version, r.LastUpdated = 1, loaded
	if meta, ok := r.doc["meta"].(map[string]any); ok {
		if lu, _ := meta["lastUpdated"].(string); lu != "" {
			if t, err := time.Parse(time.RFC3339Nano, lu); err == nil {
				r.LastUpdated = t.UTC()
			}
		}
	}
	return r, r.finish(nil)
}

func (s *Store) overlay(ctx context.Context) error {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT type, id, version, last_updated, deleted, body FROM fhir_versions ORDER BY rowid`)
	if err != nil {
		return fmt.Errorf("fhirstore: load writes: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var typ, id string
		var version int
		var lu int64
		var deleted bool
		var body []byte
		if err := rows.Scan(&typ, &id, &version, &lu, &deleted, &body); err != nil {
			return err
		}
		prev := s.cur[rkey{typ, id}]
		var r *Resource
		if deleted {
			r = tombstone(prev, typ, id)
		} else {
			if r, err = s.Parse(typ, body); err != nil {
				s.logger.Warn("fhirstore: skipping unreadable stored version", "type", typ, "id", id, "version", version, "err", err)
				continue
			}
		}
		r.ID, r.Version, r.LastUpdated = id, version, time.Unix(0, lu).UTC()
		if !deleted {
			if err := r.finish(s.lookupPatientLocked); err != nil {
				return err
			}
		} else {
			r.finishTombstone()
		}
		s.publish(r, prev)
		n++
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if n > 0 {
		s.logger.Info("fhirstore: overlaid stored writes", "versions", n)
	}
	return nil
}

// lookupPatientLocked resolves a reference's compartment; callers must not
// hold s.mu for writing (they hold nothing, or writeMu).
func (s *Store) lookupPatientLocked(key string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	typ, id, _ := cutKey(key)
	if r := s.cur[rkey{typ, id}]; r != nil {
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
	k := rkey{r.Type, r.ID}
	if prev == nil {
		prev = s.cur[k]
	}
	if prev != nil {
		if !prev.Deleted {
			s.ix.remove(prev)
		}
		s.hist[k] = append(s.hist[k], prev)
		r.seq = prev.seq
	} else {
		r.seq = int64(len(s.slots))
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
	return r, r != nil
}

// History returns every version of typ/id, newest first.
func (s *Store) History(typ, id string) []*Resource {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k := rkey{typ, id}
	cur := s.cur[k]
	if cur == nil {
		return nil
	}
	h := s.hist[k]
	out := make([]*Resource, 0, len(h)+1)
	out = append(out, cur)
	for i := len(h) - 1; i >= 0; i-- {
		out = append(out, h[i])
	}
	return out
}

// Search returns the live resources matching q, sorted (q.Sort, then load
// order). Paging is the caller's.
func (s *Store) Search(q *Query) []*Resource {
	s.mu.RLock()
	ids, _ := s.ix.candidates(q, s.slotOfLocked)
	out := make([]*Resource, 0, len(ids))
	for n := range ids {
		if r := s.slots[n]; q.Match(r) {
			out = append(out, r)
		}
	}
	s.mu.RUnlock()
	sortResources(out, q.Sort)
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
		return a.seq < b.seq
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
	defer s.mu.RUnlock()
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
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if (a.Type == "Patient") != (b.Type == "Patient") {
			return a.Type == "Patient"
		}
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		return a.seq < b.seq
	})
	return out
}

// Create stores r (from Parse) under a new server-assigned id, version 1.
func (s *Store) Create(ctx context.Context, r *Resource) (*Resource, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	for {
		b := make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		r.ID = hex.EncodeToString(b)
		if _, taken := s.Get(r.Type, r.ID); !taken {
			break
		}
	}
	return r, s.commit(ctx, r, nil)
}

// Update stores r (from Parse, with its id) as the next version, creating
// it when absent (update-as-create). ifMatch > 0 requires the current
// version to be ifMatch (ErrConflict otherwise).
func (s *Store) Update(ctx context.Context, r *Resource, ifMatch int) (res *Resource, created bool, err error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	prev, _ := s.Get(r.Type, r.ID)
	if ifMatch > 0 && (prev == nil || prev.Deleted || prev.Version != ifMatch) {
		return nil, false, ErrConflict
	}
	return r, prev == nil || prev.Deleted, s.commit(ctx, r, prev)
}

// Delete records a deletion of typ/id.
func (s *Store) Delete(ctx context.Context, typ, id string, ifMatch int) (*Resource, error) {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	prev, _ := s.Get(typ, id)
	if prev == nil {
		return nil, ErrNotFound
	}
	if ifMatch > 0 && (prev.Deleted || prev.Version != ifMatch) {
		return nil, ErrConflict
	}
	if prev.Deleted {
		return prev, nil // already deleted: idempotent (FHIR R4 http §delete)
	}
	r := tombstone(prev, typ, id)
	return r, s.commit(ctx, r, prev)
}

// commit versions r after prev, persists it and publishes it. Callers
// hold writeMu.
func (s *Store) commit(ctx context.Context, r, prev *Resource) error {
	r.Version = 1
	if prev != nil {
		r.Version = prev.Version + 1
	}
	r.LastUpdated = s.now().UTC().Truncate(time.Microsecond)
	if prev != nil && !r.LastUpdated.After(prev.LastUpdated) {
		r.LastUpdated = prev.LastUpdated.Add(time.Microsecond) // keep history ordered under a frozen test clock
	}
	if r.Deleted {
		r.finishTombstone()
	} else if err := r.finish(s.lookupPatientLocked); err != nil {
		return err
	}
	if s.db != nil {
		var body []byte
		if !r.Deleted {
			body = bytes.Clone(r.Raw)
		}
		if _, err := s.db.SQL.ExecContext(ctx, `INSERT INTO fhir_versions (type, id, version, last_updated, deleted, body) VALUES (?, ?, ?, ?, ?, ?)`,
			r.Type, r.ID, r.Version, r.LastUpdated.UnixNano(), r.Deleted, body); err != nil {
			return fmt.Errorf("fhirstore: persist %s/%s: %w", r.Type, r.ID, err)
		}
	}
	s.publish(r, prev)
	return nil
}
