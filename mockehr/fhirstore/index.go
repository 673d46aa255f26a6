package fhirstore

import (
	"sort"
	"strings"
)

// idxKey addresses one index posting list: ids of type typ whose param
// has value val (token code, reference "Type/id" or compartment patient).
type idxKey struct{ typ, param, val string }

// idSet holds slot numbers (Resource.seq): integer keys keep the index
// maps free of pointers, so the garbage collector does not scan them.
type idSet map[int32]struct{}

// nameEntry is one lowercased string value in a sorted prefix index.
type nameEntry struct {
	val string
	id  int32
}

// indexes holds everything a search uses to find candidates. All maps are
// guarded by Store.mu.
type indexes struct {
	postings map[idxKey]idSet
	// byPatient: patient id → type → ids of its compartment.
	byPatient map[string]map[string]idSet
	// strs: (type, param) → entries sorted by (val, id), for prefix search.
	strs map[idxKey][]nameEntry
	// revRefs: "Type/id" of a target → keys of resources referencing it.
	revRefs map[string]idSet
}

func newIndexes() *indexes {
	return &indexes{
		postings:  map[idxKey]idSet{},
		byPatient: map[string]map[string]idSet{},
		strs:      map[idxKey][]nameEntry{},
		revRefs:   map[string]idSet{},
	}
}

func addTo[K comparable](m map[K]idSet, k K, id int32) {
	s := m[k]
	if s == nil {
		s = idSet{}
		m[k] = s
	}
	s[id] = struct{}{}
}

func removeFrom[K comparable](m map[K]idSet, k K, id int32) {
	if s := m[k]; s != nil {
		delete(s, id)
		if len(s) == 0 {
			delete(m, k)
		}
	}
}

// add indexes a live (non-deleted) resource.
func (ix *indexes) add(r *Resource) {
	ix.each(r, func(k idxKey, isStr bool) {
		if isStr {
			lk := idxKey{k.typ, k.param, ""}
			list := ix.strs[lk]
			ne := nameEntry{val: k.val, id: int32(r.seq)}
			i := sort.Search(len(list), func(i int) bool { return !lessName(list[i], ne) })
			if i < len(list) && list[i] == ne {
				return
			}
			list = append(list, nameEntry{})
			copy(list[i+1:], list[i:])
			list[i] = ne
			ix.strs[lk] = list
			return
		}
		addTo(ix.postings, k, int32(r.seq))
		if k.param != "" && strings.Contains(k.val, "/") {
			addTo(ix.revRefs, k.val, int32(r.seq))
		}
	})
	if r.Patient != "" {
		byType := ix.byPatient[r.Patient]
		if byType == nil {
			byType = map[string]idSet{}
			ix.byPatient[r.Patient] = byType
		}
		addTo(byType, r.Type, int32(r.seq))
	}
}

// remove undoes add for the same version.
func (ix *indexes) remove(r *Resource) {
	ix.each(r, func(k idxKey, isStr bool) {
		if isStr {
			lk := idxKey{k.typ, k.param, ""}
			list := ix.strs[lk]
			ne := nameEntry{val: k.val, id: int32(r.seq)}
			i := sort.Search(len(list), func(i int) bool { return !lessName(list[i], ne) })
			if i < len(list) && list[i] == ne {
				ix.strs[lk] = append(list[:i], list[i+1:]...)
			}
			return
		}
		removeFrom(ix.postings, k, int32(r.seq))
		if k.param != "" && strings.Contains(k.val, "/") {
			removeFrom(ix.revRefs, k.val, int32(r.seq))
		}
	})
	if byType := ix.byPatient[r.Patient]; byType != nil {
		removeFrom(byType, r.Type, int32(r.seq))
	}
}

// each calls fn for every index key of r: one per type (all ids), one
// per token code and reference, and one per string value (isStr).
func (ix *indexes) each(r *Resource, fn func(k idxKey, isStr bool)) {
	fn(idxKey{r.Type, "", ""}, false)
	for i := range r.entries {
		e := &r.entries[i]
		p := r.param(e)
		switch p.Kind {
		case KindToken, KindReference:
			fn(idxKey{r.Type, p.Name, r.val(e)}, false)
		case KindString:
			fn(idxKey{r.Type, p.Name, r.val(e)}, true)
		}
	}
}

func lessName(a, b nameEntry) bool {
	if a.val != b.val {
		return a.val < b.val
	}
	return a.id < b.id
}

// prefix returns ids whose (type, param) string value starts with p.
func (ix *indexes) prefix(typ, param, p string, out idSet) {
	list := ix.strs[idxKey{typ, param, ""}]
	i := sort.Search(len(list), func(i int) bool { return list[i].val >= p })
	for ; i < len(list) && strings.HasPrefix(list[i].val, p); i++ {
		out[list[i].id] = struct{}{}
	}
}

// candidates returns a superset of the ids of q.Type that can match q,
// using the most selective index available, and whether it had to fall
// back to every id of the type. Only the chosen clause's postings are
// copied, so the cost follows the smallest posting list, not the data set.
func (ix *indexes) candidates(q *Query, slotOf func(typ, id string) (int32, bool)) (idSet, bool) {
	typ := q.Type.Name
	if q.Compartment != "" {
		return ix.byPatient[q.Compartment][typ], false
	}
	var best []idSet
	bestN := -1
	for i := range q.Clauses {
		c := &q.Clauses[i]
		if c.Modifier == "not" || c.Modifier == "missing" || c.Modifier == "contains" {
			continue
		}
		p := c.Param
		var sets []idSet
		n := 0
		usable := true
		for _, v := range c.Values {
			var set idSet
			switch {
			case p.special == specialID:
				set = idSet{}
				if n, ok := slotOf(typ, v.Code); ok {
					set[n] = struct{}{}
				}
			case p.Name == "patient" && p.Kind == KindReference && strings.HasPrefix(v.Code, "Patient/"):
				set = ix.byPatient[v.Code[len("Patient/"):]][typ]
			case (p.Kind == KindToken && v.Code != "") || (p.Kind == KindReference && strings.Contains(v.Code, "/")):
				set = ix.postings[idxKey{typ, p.Name, v.Code}]
			case p.Kind == KindString:
				set = idSet{}
				ix.prefix(typ, p.Name, v.Code, set)
			default:
				usable = false
			}
			sets = append(sets, set)
			n += len(set)
		}
		if usable && (bestN < 0 || n < bestN) {
			best, bestN = sets, n
		}
	}
	if bestN < 0 {
		return ix.postings[idxKey{typ, "", ""}], true
	}
	if len(best) == 1 {
		return best[0], false
	}
	out := make(idSet, bestN)
	for _, s := range best {
		for id := range s {
			out[id] = struct{}{}
		}
	}
	return out, false
}
