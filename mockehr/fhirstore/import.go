package fhirstore

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"time"
)

// Source is a set of user resources to import once into the database
// (fixtures.Dir implements it).
type Source interface {
	// Fingerprint identifies the data and how it is loaded; it must change
	// whenever either does (ehrsim's: paths, sizes and modification times of
	// the files, and the load mode).
	Fingerprint() string
	// Check validates the whole set without keeping it and returns how many
	// resources it holds, or every problem found (each naming its file and
	// line or entry).
	Check(ctx context.Context) (int, error)
	// Each calls fn for every resource, in a stable order. raw is fn's to
	// keep; where names the file and line or entry. It returns every
	// problem found (then the caller keeps nothing), or fn's error.
	Each(ctx context.Context, fn func(raw []byte, where string) error) error
}

// importBallast is the virtual allocation that keeps the collector from
// running too often during an import (see runImport).
const importBallast = 64 << 20

// importMemoryLimit is the soft limit of the Go heap during an import.
const importMemoryLimit = 1536 << 20

// maxImportProblems bounds the problems one failed import reports.
const maxImportProblems = 100

// importSource makes the imported tier current for src: it loads the
// saved index when the database already holds src's data, and imports it
// otherwise.
func (s *Store) importSource(ctx context.Context, src Source, loaded time.Time) (*imported, error) {
	fp := src.Fingerprint()
	st, err := s.be.ImportState(ctx)
	if err != nil {
		return nil, fmt.Errorf("fhirstore: import state: %w", err)
	}
	if st.Status == ImportDone && st.Fingerprint == fp {
		t0 := time.Now()
		buf, err := s.be.IndexSnapshot(ctx)
		var x *importedIndex
		if err == nil {
			x, err = decodeIndex(buf)
		}
		if err == nil {
			s.stats.ImportSkipped = true
			s.logger.Info("fhirstore: imported set is current, import skipped", "resources", st.Resources, "imported", st.Finished.Format(time.RFC3339), "took", time.Since(t0).Round(time.Millisecond))
			return newImported(x, s.be, s.cache, s.logger), nil
		}
		s.logger.Warn("fhirstore: importing again", "err", err)
	} else if st.Status == ImportRunning {
		s.logger.Warn("fhirstore: the last import did not finish (killed?); importing again")
	} else if st.Status == ImportDone {
		s.logger.Info("fhirstore: fixture files changed; importing again")
	}
	return s.runImport(ctx, src, fp, loaded)
}

type importJob struct {
	seq   uint32
	raw   []byte
	where string
}

type importResult struct {
	seq   uint32
	r     *Resource // nil: unsupported type
	rec   []byte
	where string
	err   error
}

func (s *Store) runImport(ctx context.Context, src Source, fp string, loaded time.Time) (*imported, error) {
	t0 := time.Now()
	total, err := src.Check(ctx)
	if err != nil {
		return nil, err
	}
	s.logger.Info("fhirstore: importing fixtures into the database", "resources", total, "checked_in", time.Since(t0).Round(time.Millisecond))
	w, err := s.be.BeginImport(ctx, fp)
	if err != nil {
		return nil, fmt.Errorf("fhirstore: begin import: %w", err)
	}
	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Decoding allocates a lot of short-lived garbage while the live heap is
	// small, which would make the collector run every few megabytes; a
	// ballast (never touched, so never resident) spaces the collections.
	ballast := make([]byte, importBallast)
	defer runtime.KeepAlive(ballast)
	// And when the index under construction is large (100,000 patients),
	// a soft memory limit makes the collector work harder instead of
	// letting garbage double the heap. The caller's limit, if lower, wins.
	if prev := debug.SetMemoryLimit(-1); prev > importMemoryLimit {
		debug.SetMemoryLimit(importMemoryLimit)
		defer debug.SetMemoryLimit(prev)
	}

	jobs := make(chan importJob, 512)
	results := make(chan importResult, 512)
	var wg sync.WaitGroup
	for range max(1, runtime.GOMAXPROCS(0)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				res := importResult{seq: j.seq, where: j.where}
				res.r, res.err = prepareFixture(j.raw, loaded)
				if res.r != nil && res.err == nil {
					res.rec = encodeRecord(res.r)
				}
				results <- res
			}
		}()
	}
	var eachErr error
	var seq uint32
	go func() {
		eachErr = src.Each(ictx, func(raw []byte, where string) error {
			seq++
			select {
			case jobs <- importJob{seq: seq, raw: raw, where: where}:
				return nil
			case <-ictx.Done():
				return ictx.Err()
			}
		})
		close(jobs)
		wg.Wait()
		close(results)
	}()

	b := newIndexBuilder()
	var problems []error
	var pending []*Resource // Provenance to place in a compartment once all rows are in
	var fatal error
	count, skipped := 0, 0
	lastLog := time.Now()
	// The index is built beside the writer, which is the one serial stage.
	toIndex := make(chan *Resource, 1024)
	indexed := make(chan struct{})
	go func() {
		defer close(indexed)
		for r := range toIndex {
			b.add(r.bseq, r)
		}
	}()
	for res := range results {
		switch {
		case fatal != nil:
			continue // drain
		case res.err != nil:
			if len(problems) < maxImportProblems {
				problems = append(problems, fmt.Errorf("%s: %w", res.where, res.err))
			}
			continue
		case res.r == nil:
			skipped++
			continue
		case len(problems) > 0:
			continue
		}
		r := res.r
		if err := w.Put(ictx, ImportedRow{Seq: res.seq, Type: r.Type, ID: r.ID, Record: res.rec, Body: r.Raw}); err != nil {
			fatal = err
			cancel()
			continue
		}
		r.bseq = res.seq
		toIndex <- r
		if r.Type == "Provenance" && r.Patient == "" {
			pending = append(pending, r)
		}
		count++
		if time.Since(lastLog) >= 5*time.Second {
			lastLog = time.Now()
			s.logger.Info("fhirstore: importing", "resources", count+skipped, "of", total,
				"percent", (count+skipped)*100/max(total, 1), "elapsed", time.Since(t0).Round(time.Second))
		}
	}
	close(toIndex)
	<-indexed
	tRows := time.Since(t0)
	if fatal == nil && (eachErr != nil || len(problems) > 0) {
		fatal = errors.Join(append([]error{eachErr}, problems...)...)
	}
	var x *importedIndex
	var tIndex time.Duration
	if fatal == nil {
		ids := b.ids.build()
		if fatal = s.placeProvenance(ictx, w, &ids, b, pending); fatal == nil {
			x = b.build(seq, ids)
			tIndex = time.Since(t0) - tRows
			fatal = w.Finish(ictx, func(put func([]byte) error) error { return x.encode(8<<20, put) }, count)
		}
	}
	if fatal != nil {
		if aerr := w.Abort(ctx); aerr != nil {
			s.logger.Error("fhirstore: dropping a failed import", "err", aerr)
		}
		return nil, fatal
	}
	// Serve from the saved index, as a restart does, rather than the one
	// just built in the Go heap (see mapFile).
	if buf, err := s.be.IndexSnapshot(ctx); err == nil {
		if y, err := decodeIndex(buf); err == nil {
			x = y
		}
	}
	runtime.GC()
	s.stats.ImportTook = time.Since(t0)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s.logger.Info("fhirstore: imported fixtures", "resources", count, "skipped_unsupported_types", skipped,
		"took", s.stats.ImportTook.Round(time.Millisecond), "rows", tRows.Round(time.Millisecond), "index", tIndex.Round(time.Millisecond),
		"index_mb", x.bytes()>>20, "heap_mb", ms.HeapInuse>>20)
	return newImported(x, s.be, s.cache, s.logger), nil
}

// placeProvenance puts each Provenance without a Patient target into the
// compartment of the first target that has one (the demo set's or the
// imported set's), as the memory tier does at load.
func (s *Store) placeProvenance(ctx context.Context, w ImportWriter, ids *postings, b *indexBuilder, pending []*Resource) error {
	if len(pending) == 0 {
		return nil
	}
	patientOf := func(key string) string {
		if p := s.lookupPatientLocked(key); p != "" {
			return p
		}
		typ, id, _ := cutKey(key)
		var found string
		_ = w.ReadBack(ctx, ids.get(idKey(typ, id)), func(seq uint32, rec, body []byte) error {
			if r, err := decodeRecord(seq, rec, body); err == nil && r.Type == typ && r.ID == id {
				found = r.Patient
			}
			return nil
		})
		return found
	}
	for _, r := range pending {
		r.resolveTargets(patientOf)
		if r.Patient == "" {
			continue
		}
		if err := w.SetRecord(ctx, r.bseq, encodeRecord(r)); err != nil {
			return err
		}
		b.comp.add(compKey(r.Patient, r.Type), r.bseq)
	}
	return nil
}

// indexBuilder accumulates the imported tier's index during an import.
type indexBuilder struct {
	ids        pairBuilder // one seq a key: flat pairs, no map
	comp, toks *postingBuilder
	strs       []strEntry
	typeCount  map[string]int
}

func newIndexBuilder() *indexBuilder {
	return &indexBuilder{comp: newPostingBuilder(), toks: newPostingBuilder(), typeCount: map[string]int{}}
}

func (b *indexBuilder) add(seq uint32, r *Resource) {
	b.ids.add(idKey(r.Type, r.ID), seq)
	b.toks.add(typeKey(r.Type), seq)
	b.typeCount[r.Type]++
	n := b.typeCount[r.Type]
	if r.Patient != "" {
		b.comp.add(compKey(r.Patient, r.Type), seq)
	}
	tok := func(param, val string) { b.toks.addNarrow(tokKey(r.Type, param, val), seq, n) }
	for i := range r.entries {
		e := &r.entries[i]
		p := r.param(e)
		switch p.Kind {
		case KindToken:
			tok(p.Name, r.val(e))
		case KindReference:
			// The compartment index answers patient=, and subject= when
			// it names the patient.
			if v := r.val(e); p.Name != "patient" && !(subjectIsPatient(r.td, p.Name) && v == "Patient/"+r.Patient) {
				tok(p.Name, v)
			}
		case KindString:
			b.strs = append(b.strs, strEntry{key: strKey(r.Type, p.Name), val: strings.Clone(r.val(e)), seq: seq})
		}
	}
}

func (b *indexBuilder) build(n uint32, ids postings) *importedIndex {
	slices.SortFunc(b.strs, cmpStrEntry)
	b.strs = slices.CompactFunc(b.strs, func(a, c strEntry) bool { return cmpStrEntry(a, c) == 0 })
	return &importedIndex{n: n, ids: ids, comp: b.comp.build(), toks: b.toks.build(), strs: slices.Clip(b.strs)}
}
