package fhirstore

import (
	"encoding/binary"
	"errors"
	"time"
)

// A record is what the imported tier stores beside a resource's JSON: the
// search entries and the few values Resource derives from the body, so
// serving or matching an imported resource never parses JSON.
//
//	format byte (recordFormat)
//	type, id, patient, display, text: uvarint length + bytes
//	lastUpdated, sortKey: varint (Unix ns)
//	entries: uvarint count, then per entry pi (byte), sysOff, sysLen,
//	valOff, valLen (uvarint), rng.Lo, rng.Hi (varint)
const recordFormat = 1

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// encodeRecord serialises r's derived values (r must be finished).
func encodeRecord(r *Resource) []byte {
	b := make([]byte, 0, 64+len(r.text)+len(r.entries)*12)
	b = append(b, recordFormat)
	b = appendString(b, r.Type)
	b = appendString(b, r.ID)
	b = appendString(b, r.Patient)
	b = appendString(b, r.display)
	b = appendString(b, r.text)
	b = binary.AppendVarint(b, r.LastUpdated.UnixNano())
	b = binary.AppendVarint(b, r.sortKey)
	b = binary.AppendUvarint(b, uint64(len(r.entries)))
	for _, e := range r.entries {
		b = append(b, e.pi)
		b = binary.AppendUvarint(b, uint64(e.sysOff))
		b = binary.AppendUvarint(b, uint64(e.sysLen))
		b = binary.AppendUvarint(b, uint64(e.valOff))
		b = binary.AppendUvarint(b, uint64(e.valLen))
		b = binary.AppendVarint(b, e.rng.Lo)
		b = binary.AppendVarint(b, e.rng.Hi)
	}
	return b
}

var errRecord = errors.New("fhirstore: unreadable record of an imported resource")

type recordReader struct {
	b   []byte
	bad bool
}

func (d *recordReader) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordReader) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *recordReader) bytes() []byte {
	l := d.uvarint()
	if d.bad || uint64(len(d.b)) < l {
		d.bad = true
		return nil
	}
	s := d.b[:l]
	d.b = d.b[l:]
	return s
}

func (d *recordReader) str() string { return string(d.bytes()) }

// decodeRecord rebuilds the imported resource seq from its record and
// body (version 1: imported resources are never modified in place).
func decodeRecord(seq uint32, rec, body []byte) (*Resource, error) {
	if len(rec) == 0 || rec[0] != recordFormat {
		return nil, errRecord
	}
	d := recordReader{b: rec[1:]}
	td := types[string(d.bytes())] // no allocation: the map lookup does not keep the key
	if td == nil {
		return nil, errRecord
	}
	r := &Resource{Type: td.Name, ID: d.str(), Version: 1, Raw: body, ETag: `W/"1"`, td: td,
		ord: importedOrd(seq), bseq: seq}
	r.Patient = d.str()
	r.display = d.str()
	r.text = d.str()
	r.LastUpdated = time.Unix(0, d.varint()).UTC()
	r.LastModified = r.LastUpdated.Format(httpTime)
	r.sortKey = d.varint()
	n := d.uvarint()
	if d.bad || n > uint64(len(d.b)) {
		return nil, errRecord
	}
	r.entries = make([]entry, n)
	for i := range r.entries {
		e := &r.entries[i]
		if len(d.b) == 0 {
			return nil, errRecord
		}
		e.pi = d.b[0]
		d.b = d.b[1:]
		e.sysOff, e.sysLen = uint32(d.uvarint()), uint32(d.uvarint())
		e.valOff, e.valLen = uint32(d.uvarint()), uint32(d.uvarint())
		e.rng.Lo, e.rng.Hi = d.varint(), d.varint()
		if int(e.pi) >= len(td.plist) || uint64(e.sysOff)+uint64(e.sysLen) > uint64(len(r.text)) || uint64(e.valOff)+uint64(e.valLen) > uint64(len(r.text)) {
			d.bad = true
		}
	}
	if d.bad || len(d.b) != 0 {
		return nil, errRecord
	}
	return r, nil
}

// size estimates the memory a cached resource holds.
func (r *Resource) size() int64 {
	return int64(len(r.Raw)+len(r.text)+len(r.ID)+len(r.Patient)+len(r.display)) + int64(len(r.entries))*40 + 400
}
