package fhirstore

import (
	"bytes"
	"reflect"
	"testing"
)

// The saved index reads back the same, used in place or copied (a buffer
// that is not 8-byte aligned), and a damaged one is refused.
func TestIndexSnapshotRoundTrip(t *testing.T) {
	b := newIndexBuilder()
	for seq := uint32(1); seq <= 300; seq++ {
		b.ids.add(idKey("Observation", string(rune('a'+seq%26))+"x"), seq)
		b.comp.add(compKey("p"+string(rune('a'+seq%7)), "Observation"), seq)
		b.toks.add(tokKey("Observation", "code", string(rune('a'+seq%5))), seq)
		b.toks.add(typeKey("Observation"), seq)
		b.strs = append(b.strs, strEntry{key: strKey("Patient", "name"), val: string(rune('a' + seq%9)), seq: seq})
	}
	x := b.build(300, b.ids.build())
	x.toks.wide = []uint64{1, 2, 3}
	var parts [][]byte
	if err := x.encode(100, func(p []byte) error { parts = append(parts, bytes.Clone(p)); return nil }); err != nil {
		t.Fatal(err)
	}
	buf := bytes.Join(parts, nil)
	for _, in := range [][]byte{buf, append(make([]byte, 1, len(buf)+1), buf...)[1:]} {
		got, err := decodeIndex(in)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, x) {
			t.Fatalf("decoded index differs")
		}
		if l := got.toks.get(tokKey("Observation", "code", "c")); len(l) != 60 {
			t.Fatalf("postings of code c: %d", len(l))
		}
	}
	for _, bad := range [][]byte{nil, buf[:len(buf)-1], append(bytes.Clone(buf), 0), []byte("FSIX2")} {
		if _, err := decodeIndex(bad); err == nil {
			t.Errorf("a damaged index of %d bytes was accepted", len(bad))
		}
	}
}
