package fhirstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
)

// postings maps 64-bit keys to sorted lists of uint32 sequence numbers of
// the imported tier. It holds no pointers and no strings: three flat arrays
// the garbage collector never scans, saved and loaded as they are.
type postings struct {
	keys []uint64 // sorted, unique
	off  []uint32 // len(keys)+1: list i is seqs[off[i]:off[i+1]]
	seqs []uint32
}

// get returns the sorted list of key k (nil if none). Callers must not
// modify it.
func (p *postings) get(k uint64) []uint32 {
	i, ok := slices.BinarySearch(p.keys, k)
	if !ok {
		return nil
	}
	return p.seqs[p.off[i]:p.off[i+1]:p.off[i+1]]
}

func (p *postings) bytes() int64 {
	return int64(len(p.keys))*8 + int64(len(p.off))*4 + int64(len(p.seqs))*4
}

// postingBuilder collects (key, seq) pairs during an import. Lists grow in
// place (seqs arrive almost in order), so the builder costs about as much
// memory as the finished postings.
type postingBuilder struct {
	at    map[uint64]int32
	lists [][]uint32
}

func newPostingBuilder() *postingBuilder {
	return &postingBuilder{at: map[uint64]int32{}}
}

func (b *postingBuilder) add(k uint64, seq uint32) {
	i, ok := b.at[k]
	if !ok {
		i = int32(len(b.lists))
		b.at[k] = i
		b.lists = append(b.lists, nil)
	}
	b.lists[i] = append(b.lists[i], seq)
}

// lookup returns a sorted copy of key k's list so far.
func (b *postingBuilder) lookup(k uint64) []uint32 {
	i, ok := b.at[k]
	if !ok {
		return nil
	}
	l := slices.Clone(b.lists[i])
	slices.Sort(l)
	return l
}

// build sorts and flattens the lists; the builder is spent.
func (b *postingBuilder) build() postings {
	keys := make([]uint64, 0, len(b.at))
	n := 0
	for k, i := range b.at {
		keys = append(keys, k)
		n += len(b.lists[i])
	}
	slices.Sort(keys)
	p := postings{keys: keys, off: make([]uint32, 0, len(keys)+1), seqs: make([]uint32, 0, n)}
	for _, k := range keys {
		l := b.lists[b.at[k]]
		slices.Sort(l)
		l = slices.Compact(l)
		p.off = append(p.off, uint32(len(p.seqs)))
		p.seqs = append(p.seqs, l...)
		b.lists[b.at[k]] = nil
	}
	p.off = append(p.off, uint32(len(p.seqs)))
	b.at, b.lists = nil, nil
	return p
}

// contains reports whether the sorted list l holds seq.
func contains(l []uint32, seq uint32) bool {
	_, ok := slices.BinarySearch(l, seq)
	return ok
}

// FNV-1a, 64 bit: stable across processes and versions (the keys are
// saved), allocation-free over several strings.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

type hasher uint64

func newHasher(tag byte) hasher { return hasher(fnvOffset).byte(tag) }

func (h hasher) byte(c byte) hasher { return (h ^ hasher(c)) * fnvPrime }

func (h hasher) str(s string) hasher {
	for i := 0; i < len(s); i++ {
		h = (h ^ hasher(s[i])) * fnvPrime
	}
	return h.byte(0) // separator: ("ab","c") and ("a","bc") differ
}

func (h hasher) sum() uint64 { return uint64(h) }

// Index keys of the imported tier.
func idKey(typ, id string) uint64 { return newHasher('i').str(typ).str(id).sum() }
func compKey(patient, typ string) uint64 {
	return newHasher('c').str(patient).str(typ).sum()
}
func tokKey(typ, param, val string) uint64 {
	return newHasher('t').str(typ).str(param).str(val).sum()
}
func typeKey(typ string) uint64 { return newHasher('T').str(typ).sum() }
func strKey(typ, param string) uint64 {
	return newHasher('s').str(typ).str(param).sum()
}

// strEntry is one lowercased string value of a string param, for prefix
// search (names); the list is sorted by (key, val, seq).
type strEntry struct {
	key uint64
	val string
	seq uint32
}

func cmpStrEntry(a, b strEntry) int {
	switch {
	case a.key != b.key:
		if a.key < b.key {
			return -1
		}
		return 1
	case a.val != b.val:
		return strings.Compare(a.val, b.val)
	case a.seq != b.seq:
		if a.seq < b.seq {
			return -1
		}
		return 1
	}
	return 0
}

// prefixSeqs appends the seqs whose (type, param) value starts with p.
func prefixSeqs(list []strEntry, key uint64, p string, out []uint32) []uint32 {
	i, _ := slices.BinarySearchFunc(list, strEntry{key: key, val: p}, cmpStrEntry)
	for ; i < len(list) && list[i].key == key && strings.HasPrefix(list[i].val, p); i++ {
		out = append(out, list[i].seq)
	}
	return out
}

// importedIndex is the in-memory index of the imported tier: what the
// snapshot saves and a restart loads.
type importedIndex struct {
	n    uint32   // resources (seqs are 1..n)
	ids  postings // idKey → seq
	comp postings // compKey → seqs
	toks postings // tokKey, typeKey → seqs
	strs []strEntry
}

const snapshotMagic = "FSIX2"

// encode serialises the index (little endian) into parts of at most
// partSize bytes.
func (x *importedIndex) encode(partSize int) [][]byte {
	var b bytes.Buffer
	b.WriteString(snapshotMagic)
	w32 := func(v uint32) { b.Write(binary.LittleEndian.AppendUint32(nil, v)) }
	w64 := func(v uint64) { b.Write(binary.LittleEndian.AppendUint64(nil, v)) }
	w32(x.n)
	for _, p := range []*postings{&x.ids, &x.comp, &x.toks} {
		w32(uint32(len(p.keys)))
		w32(uint32(len(p.seqs)))
		buf := make([]byte, 0, len(p.keys)*8+len(p.off)*4+len(p.seqs)*4)
		for _, k := range p.keys {
			buf = binary.LittleEndian.AppendUint64(buf, k)
		}
		for _, o := range p.off {
			buf = binary.LittleEndian.AppendUint32(buf, o)
		}
		for _, s := range p.seqs {
			buf = binary.LittleEndian.AppendUint32(buf, s)
		}
		b.Write(buf)
	}
	w32(uint32(len(x.strs)))
	for _, e := range x.strs {
		w64(e.key)
		w32(e.seq)
		w32(uint32(len(e.val)))
		b.WriteString(e.val)
	}
	all := b.Bytes()
	var parts [][]byte
	for len(all) > partSize {
		parts = append(parts, all[:partSize])
		all = all[partSize:]
	}
	return append(parts, all)
}

var errSnapshot = errors.New("fhirstore: the saved index of the imported set is unreadable")

// decodeIndex reads what encode wrote.
func decodeIndex(parts [][]byte) (*importedIndex, error) {
	all := bytes.Join(parts, nil)
	if !bytes.HasPrefix(all, []byte(snapshotMagic)) {
		return nil, errSnapshot
	}
	r := all[len(snapshotMagic):]
	bad := false
	r32 := func() uint32 {
		if len(r) < 4 {
			bad = true
			return 0
		}
		v := binary.LittleEndian.Uint32(r)
		r = r[4:]
		return v
	}
	r64 := func() uint64 {
		if len(r) < 8 {
			bad = true
			return 0
		}
		v := binary.LittleEndian.Uint64(r)
		r = r[8:]
		return v
	}
	x := &importedIndex{n: r32()}
	for _, p := range []*postings{&x.ids, &x.comp, &x.toks} {
		nk, ns := int(r32()), int(r32())
		if bad || len(r) < nk*8+(nk+1)*4+ns*4 {
			return nil, errSnapshot
		}
		p.keys = make([]uint64, nk)
		for i := range p.keys {
			p.keys[i] = binary.LittleEndian.Uint64(r[i*8:])
		}
		r = r[nk*8:]
		p.off = make([]uint32, nk+1)
		for i := range p.off {
			p.off[i] = binary.LittleEndian.Uint32(r[i*4:])
		}
		r = r[(nk+1)*4:]
		p.seqs = make([]uint32, ns)
		for i := range p.seqs {
			p.seqs[i] = binary.LittleEndian.Uint32(r[i*4:])
		}
		r = r[ns*4:]
	}
	ns := int(r32())
	x.strs = make([]strEntry, 0, ns)
	for range ns {
		e := strEntry{key: r64(), seq: r32()}
		l := int(r32())
		if bad || len(r) < l {
			return nil, errSnapshot
		}
		e.val = string(r[:l])
		r = r[l:]
		x.strs = append(x.strs, e)
	}
	if bad || len(r) != 0 {
		return nil, errSnapshot
	}
	return x, nil
}

func (x *importedIndex) bytes() int64 {
	n := x.ids.bytes() + x.comp.bytes() + x.toks.bytes()
	for _, e := range x.strs {
		n += int64(len(e.val)) + 32
	}
	return n
}
