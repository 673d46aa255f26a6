package fhirstore

import (
	"bytes"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"unsafe"
)

// postings maps 64-bit keys to sorted lists of uint32 sequence numbers of
// the imported tier. It holds no pointers and no strings: three flat arrays
// the garbage collector never scans, saved and loaded as they are.
type postings struct {
	keys []uint64 // sorted, unique
	off  []uint32 // len(keys)+1: list i is seqs[off[i]:off[i+1]]
	seqs []uint32
	wide []uint64 // sorted: keys whose lists were dropped (postingBuilder)
}

// isWide reports whether k's list was dropped for matching too much.
func (p *postings) isWide(k uint64) bool {
	_, ok := slices.BinarySearch(p.wide, k)
	return ok
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
	return int64(len(p.keys))*8 + int64(len(p.off))*4 + int64(len(p.seqs))*4 + int64(len(p.wide))*8
}

// postingBuilder collects (key, seq) pairs during an import. Lists grow in
// place (seqs arrive almost in order), so the builder costs about as much
// memory as the finished postings.
type postingBuilder struct {
	at    map[uint64]int32
	lists [][]uint32
	// wide keys match too much of their type to narrow a search (status
	// =final, half the Observations): their lists are dropped, and a
	// search treats the clause as unindexed.
	wide map[uint64]bool
}

// Wide postings: a key's list is dropped once it holds more than
// wideShare of its type and at least wideMin seqs.
var wideMin = 1 << 16 // a variable for the tests

const wideShare = 0.5

func newPostingBuilder() *postingBuilder {
	return &postingBuilder{at: map[uint64]int32{}, wide: map[uint64]bool{}}
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

// addNarrow is add for a key that may turn out wide: typeCount is how
// many resources of its type were seen so far.
func (b *postingBuilder) addNarrow(k uint64, seq uint32, typeCount int) {
	if b.wide[k] {
		return
	}
	b.add(k, seq)
	if l := len(b.lists[b.at[k]]); l >= wideMin && float64(l) > wideShare*float64(typeCount) {
		b.wide[k] = true
		b.lists[b.at[k]] = nil
	}
}

// build sorts and flattens the lists; the builder is spent. (A key whose
// final list is wide was found so at its last addNarrow: the share of a
// key's list in its type only falls as the type grows.)
func (b *postingBuilder) build() postings {
	keys := make([]uint64, 0, len(b.at))
	n := 0
	for k, i := range b.at {
		if !b.wide[k] {
			keys = append(keys, k)
			n += len(b.lists[i])
		}
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
	for k := range b.wide {
		p.wide = append(p.wide, k)
	}
	slices.Sort(p.wide)
	b.at, b.lists, b.wide = nil, nil, nil
	return p
}

// pairBuilder collects (key, seq) pairs where keys are nearly all
// distinct (ids): 16 bytes a pair, where a map and a list per key would
// cost five times that.
type pairBuilder struct{ pairs []keySeq }

type keySeq struct {
	k uint64
	s uint32
}

func (b *pairBuilder) add(k uint64, seq uint32) { b.pairs = append(b.pairs, keySeq{k, seq}) }

// build sorts the pairs into postings; the builder is spent.
func (b *pairBuilder) build() postings {
	slices.SortFunc(b.pairs, func(x, y keySeq) int {
		if x.k != y.k {
			if x.k < y.k {
				return -1
			}
			return 1
		}
		return int(x.s) - int(y.s)
	})
	p := postings{keys: make([]uint64, 0, len(b.pairs)), off: make([]uint32, 0, len(b.pairs)+1), seqs: make([]uint32, 0, len(b.pairs))}
	for i, kp := range b.pairs {
		if i == 0 || kp.k != b.pairs[i-1].k {
			p.keys = append(p.keys, kp.k)
			p.off = append(p.off, uint32(len(p.seqs)))
		} else if kp.s == b.pairs[i-1].s {
			continue
		}
		p.seqs = append(p.seqs, kp.s)
	}
	p.off = append(p.off, uint32(len(p.seqs)))
	b.pairs = nil
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

// snapshotMagic starts a saved index (8 bytes: the sections after it
// stay 8-byte aligned, so a load can use the arrays in place).
const snapshotMagic = "FSIX4\x00\x00\x00"

// encode serialises the index, little endian, each array 8-byte aligned,
// handing put parts of partSize bytes (the last one shorter) from one
// reused buffer: a 700 MB index is never copied whole.
func (x *importedIndex) encode(partSize int, put func([]byte) error) error {
	w := partWriter{buf: make([]byte, 0, partSize), put: put}
	w.bytes([]byte(snapshotMagic))
	w.u64(uint64(x.n))
	for _, p := range []*postings{&x.ids, &x.comp, &x.toks} {
		w.u64(uint64(len(p.keys)))
		w.u64(uint64(len(p.seqs)))
		w.u64s(p.keys)
		w.u32s(p.off)
		w.pad()
		w.u32s(p.seqs)
		w.pad()
		w.u64(uint64(len(p.wide)))
		w.u64s(p.wide)
	}
	w.u64(uint64(len(x.strs)))
	for _, e := range x.strs {
		w.u64(e.key)
		w.u32(e.seq)
		w.u32(uint32(len(e.val)))
		w.bytes([]byte(e.val))
	}
	return w.flush()
}

// partWriter cuts a byte stream into parts.
type partWriter struct {
	buf []byte
	n   int // bytes written before buf
	put func([]byte) error
	err error
}

func (w *partWriter) bytes(b []byte) {
	for len(b) > 0 && w.err == nil {
		k := min(len(b), cap(w.buf)-len(w.buf))
		w.buf = append(w.buf, b[:k]...)
		b = b[k:]
		if len(w.buf) == cap(w.buf) {
			w.flush()
		}
	}
}

func (w *partWriter) u64(v uint64) {
	var a [8]byte
	binary.LittleEndian.PutUint64(a[:], v)
	w.bytes(a[:])
}

func (w *partWriter) u32(v uint32) {
	var a [4]byte
	binary.LittleEndian.PutUint32(a[:], v)
	w.bytes(a[:])
}

// u64s and u32s write arrays, as they are in memory where that is little
// endian.
func (w *partWriter) u64s(s []uint64) {
	if littleEndian && len(s) > 0 {
		w.bytes(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*8))
		return
	}
	for _, v := range s {
		w.u64(v)
	}
}

func (w *partWriter) u32s(s []uint32) {
	if littleEndian && len(s) > 0 {
		w.bytes(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)*4))
		return
	}
	for _, v := range s {
		w.u32(v)
	}
}

// pad aligns the stream to 8 bytes.
func (w *partWriter) pad() {
	for (w.n+len(w.buf))%8 != 0 {
		w.bytes([]byte{0})
	}
}

func (w *partWriter) flush() error {
	if w.err == nil && len(w.buf) > 0 {
		w.err = w.put(w.buf)
		w.n += len(w.buf)
		w.buf = w.buf[:0]
	}
	return w.err
}

var errSnapshot = errors.New("fhirstore: the saved index of the imported set is unreadable")

// littleEndian is true on the machines ehrsim runs on (amd64, arm64),
// where a saved array can be used in place.
var littleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// decodeIndex reads what encode wrote from buf, which it keeps: on a
// little-endian machine the posting arrays are buf itself, not copies.
func decodeIndex(buf []byte) (*importedIndex, error) {
	if !bytes.HasPrefix(buf, []byte(snapshotMagic)) {
		return nil, errSnapshot
	}
	inPlace := littleEndian && len(buf) > 0 && uintptr(unsafe.Pointer(&buf[0]))%8 == 0
	at := len(snapshotMagic)
	bad := false
	u64 := func() uint64 {
		if at+8 > len(buf) {
			bad = true
			return 0
		}
		v := binary.LittleEndian.Uint64(buf[at:])
		at += 8
		return v
	}
	take := func(n int) []byte {
		if bad || n < 0 || at+n > len(buf) {
			bad = true
			return nil
		}
		s := buf[at : at+n : at+n]
		at += n
		return s
	}
	align := func() { at = (at + 7) &^ 7 }
	x := &importedIndex{n: uint32(u64())}
	for _, p := range []*postings{&x.ids, &x.comp, &x.toks} {
		nk, ns := int(u64()), int(u64())
		if bad || nk > len(buf) || ns > len(buf) {
			return nil, errSnapshot
		}
		kb, ob := take(nk*8), take((nk+1)*4)
		align()
		sb := take(ns * 4)
		align()
		if bad {
			return nil, errSnapshot
		}
		p.keys, p.off, p.seqs = u64s(kb, inPlace), u32s(ob, inPlace), u32s(sb, inPlace)
		nw := int(u64())
		if bad || nw > len(buf) {
			return nil, errSnapshot
		}
		p.wide = u64s(take(nw*8), inPlace)
		if bad {
			return nil, errSnapshot
		}
	}
	ns := int(u64())
	if bad || ns > len(buf) {
		return nil, errSnapshot
	}
	x.strs = make([]strEntry, 0, ns)
	for range ns {
		e := strEntry{key: u64()}
		h := take(8)
		if bad {
			return nil, errSnapshot
		}
		e.seq = binary.LittleEndian.Uint32(h)
		e.val = string(take(int(binary.LittleEndian.Uint32(h[4:]))))
		x.strs = append(x.strs, e)
	}
	if bad || at != len(buf) {
		return nil, errSnapshot
	}
	return x, nil
}

func u64s(b []byte, inPlace bool) []uint64 {
	if len(b) == 0 {
		return nil
	}
	if inPlace {
		return unsafe.Slice((*uint64)(unsafe.Pointer(&b[0])), len(b)/8)
	}
	out := make([]uint64, len(b)/8)
	for i := range out {
		out[i] = binary.LittleEndian.Uint64(b[i*8:])
	}
	return out
}

func u32s(b []byte, inPlace bool) []uint32 {
	if len(b) == 0 {
		return nil
	}
	if inPlace {
		return unsafe.Slice((*uint32)(unsafe.Pointer(&b[0])), len(b)/4)
	}
	out := make([]uint32, len(b)/4)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[i*4:])
	}
	return out
}

func (x *importedIndex) bytes() int64 {
	n := x.ids.bytes() + x.comp.bytes() + x.toks.bytes()
	for _, e := range x.strs {
		n += int64(len(e.val)) + 32
	}
	return n
}
