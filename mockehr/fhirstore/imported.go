package fhirstore

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
)

// Order keys (Resource.ord): the memory tier's fixtures first (their
// slot), then the imported set in file order, then resources created at
// run time, which is the order a search returns when nothing else decides.
const (
	importedOrdBase = 1 << 32
	createdOrdBase  = 1 << 40
)

func importedOrd(seq uint32) int64 { return importedOrdBase + int64(seq) }

// imported is the imported tier: an immutable index in memory, rows in the
// Backend, decoded resources in a bounded cache.
type imported struct {
	x      *importedIndex
	be     Backend
	cache  *recordCache
	logger *slog.Logger
	// shadow has bit seq set when the memory tier holds a newer version of
	// that resource (written after the import): the row is then left out.
	shadow []uint64
}

func newImported(x *importedIndex, be Backend, cache *recordCache, logger *slog.Logger) *imported {
	return &imported{x: x, be: be, cache: cache, logger: logger, shadow: make([]uint64, x.n/64+1)}
}

func (m *imported) shadowed(seq uint32) bool {
	return atomic.LoadUint64(&m.shadow[seq>>6])&(1<<(seq&63)) != 0
}

func (m *imported) setShadow(seq uint32) {
	atomic.OrUint64(&m.shadow[seq>>6], 1<<(seq&63))
}

// scanNoCache is the number of rows read at once above which load does
// not cache what it reads.
const scanNoCache = 8192

// load returns the resources of the sorted seqs that are not shadowed,
// from the cache or the database (in no particular order).
func (m *imported) load(seqs []uint32) []*Resource {
	out := make([]*Resource, 0, len(seqs))
	var miss []uint32
	for _, seq := range seqs {
		if m.shadowed(seq) {
			continue
		}
		if r := m.cache.get(seq); r != nil {
			out = append(out, r)
		} else {
			miss = append(miss, seq)
		}
	}
	if len(miss) == 0 {
		return out
	}
	// A scan of many rows (a whole type) would only push out what is hot.
	keep := len(miss) <= scanNoCache
	err := m.be.ReadImported(context.Background(), miss, func(seq uint32, rec, body []byte) error {
		r, err := decodeRecord(seq, rec, body)
		if err != nil {
			m.logger.Error("fhirstore: skipping an unreadable imported resource", "seq", seq, "err", err)
			return nil
		}
		if keep {
			r = m.cache.put(r)
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		m.logger.Error("fhirstore: reading imported resources", "err", err)
	}
	return out
}

// get returns the imported typ/id unless a memory-tier version shadows it.
func (m *imported) get(typ, id string) *Resource {
	for _, r := range m.load(m.x.ids.get(idKey(typ, id))) {
		if r.Type == typ && r.ID == id {
			return r
		}
	}
	return nil
}

// refSeqs returns the seqs of type typ whose reference param points at
// target ("Type/id"); patient references use the compartment index.
// A wide key (dropped from the index) answers with the whole type.
func (m *imported) refSeqs(typ, param, target string) []uint32 {
	if param == "patient" || subjectIsPatient(types[typ], param) {
		if pid, ok := strings.CutPrefix(target, "Patient/"); ok {
			return m.x.comp.get(compKey(pid, typ))
		}
	}
	if k := tokKey(typ, param, target); !m.x.toks.isWide(k) {
		return m.x.toks.get(k)
	}
	return m.x.toks.get(typeKey(typ))
}

// clauseSeqs returns the posting lists whose union is a superset of the
// matches of c (usable false when no index answers c).
func (m *imported) clauseSeqs(typ string, c *Clause) (lists [][]uint32, n int, usable bool) {
	if c.Modifier == "not" || c.Modifier == "missing" || c.Modifier == "contains" {
		return nil, 0, false
	}
	p := c.Param
	for _, v := range c.Values {
		var l []uint32
		switch {
		case p.special == specialID:
			l = m.x.ids.get(idKey(typ, v.Code))
		case p.Kind == KindReference && strings.Contains(v.Code, "/"):
			if m.x.toks.isWide(tokKey(typ, p.Name, v.Code)) {
				return nil, 0, false
			}
			l = m.refSeqs(typ, p.Name, v.Code)
		case p.Kind == KindToken && v.Code != "" && p.special == specialNone:
			k := tokKey(typ, p.Name, v.Code)
			if m.x.toks.isWide(k) {
				return nil, 0, false
			}
			l = m.x.toks.get(k)
		case p.Kind == KindString:
			l = prefixSeqs(m.x.strs, strKey(typ, p.Name), v.Code, nil)
			slices.Sort(l)
		default:
			return nil, 0, false
		}
		lists = append(lists, l)
		n += len(l)
	}
	return lists, n, true
}

// candidates returns the sorted seqs that can match q: the most selective
// index, narrowed by every other clause an index answers.
func (m *imported) candidates(q *Query) []uint32 {
	typ := q.Type.Name
	var base []uint32
	chosen := -1
	if q.Compartment != "" {
		base = m.x.comp.get(compKey(q.Compartment, typ))
	} else {
		var best [][]uint32
		bestN := -1
		for i := range q.Clauses {
			if lists, n, ok := m.clauseSeqs(typ, &q.Clauses[i]); ok && (bestN < 0 || n < bestN) {
				best, bestN, chosen = lists, n, i
			}
		}
		switch {
		case bestN < 0:
			base = m.x.toks.get(typeKey(typ))
		case len(best) == 1:
			base = best[0]
		default:
			for _, l := range best {
				base = append(base, l...)
			}
			slices.Sort(base)
			base = slices.Compact(base)
		}
	}
	if len(base) == 0 {
		return nil
	}
	// Narrow by the other indexed clauses (binary searches, no disk).
	out := base
	copied := false
	for i := range q.Clauses {
		if i == chosen {
			continue
		}
		lists, _, ok := m.clauseSeqs(typ, &q.Clauses[i])
		if !ok {
			continue
		}
		if !copied {
			out, copied = slices.Clone(base), true
		}
		kept := out[:0]
		for _, seq := range out {
			for _, l := range lists {
				if contains(l, seq) {
					kept = append(kept, seq)
					break
				}
			}
		}
		out = kept
	}
	return out
}

// search returns the imported resources matching q (unsorted).
func (m *imported) search(q *Query) []*Resource {
	rs := m.load(m.candidates(q))
	out := rs[:0]
	for _, r := range rs {
		if q.Match(r) {
			out = append(out, r)
		}
	}
	return out
}

// compartment returns the imported resources in patient's compartment.
func (m *imported) compartment(patient string) []*Resource {
	var seqs []uint32
	for _, td := range types {
		if td.Compartment {
			seqs = append(seqs, m.x.comp.get(compKey(patient, td.Name))...)
		}
	}
	slices.Sort(seqs)
	return m.load(slices.Compact(seqs))
}

// referencing returns the imported resources of type src whose param
// references target.
func (m *imported) referencing(target string, src *TypeDef, param *ParamDef) []*Resource {
	rs := m.load(m.refSeqs(src.Name, param.Name, target))
	out := rs[:0]
	for _, r := range rs {
		if r.Type == src.Name && slices.Contains(r.References(param.Name), target) {
			out = append(out, r)
		}
	}
	return out
}

// count is the number of imported resources.
func (m *imported) count() uint32 { return uint32(len(m.x.ids.seqs)) }
