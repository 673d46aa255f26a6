package fhirstore

import (
	"bytes"
	"encoding/json"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeObject decodes a JSON object into the same value encoding/json
// produces with UseNumber (map[string]any, []any, string, json.Number,
// bool, nil), several times faster because it needs no reflection. It
// exists for start-up: every fixture resource is decoded once, and that
// dominated the 300 ms start-up budget.
//
// It reports ok=false for anything it does not handle exactly like
// encoding/json — invalid JSON, invalid UTF-8, trailing data — and the
// caller then falls back to encoding/json, which also produces the error
// message. So it only has to be right when it says ok (FuzzDecodeObject
// checks that against encoding/json).
func decodeObject(b []byte) (map[string]any, bool) {
	d := fastDecoder{b: b}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	v, ok := d.object()
	if !ok {
		return nil, false
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, false
	}
	return v, true
}

type fastDecoder struct {
	b []byte
	i int
	// depth guards against stack exhaustion on hostile nesting
	depth int
}

func (d *fastDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *fastDecoder) value() (any, bool) {
	d.ws()
	if d.i >= len(d.b) {
		return nil, false
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == 't':
		return true, d.lit("true")
	case c == 'f':
		return false, d.lit("false")
	case c == 'n':
		return nil, d.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	}
	return nil, false
}

func (d *fastDecoder) lit(s string) bool {
	if len(d.b)-d.i < len(s) || string(d.b[d.i:d.i+len(s)]) != s {
		return false
	}
	d.i += len(s)
	return true
}

func (d *fastDecoder) object() (map[string]any, bool) {
	if d.depth++; d.depth > 1000 {
		return nil, false
	}
	defer func() { d.depth-- }()
	d.i++ // {
	m := make(map[string]any, 8)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		return m, true
	}
	for {
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, false
		}
		k, ok := d.str()
		if !ok {
			return nil, false
		}
		d.ws()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, false
		}
		d.i++
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		m[k] = v // a repeated key: the last wins, as in encoding/json
		d.ws()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			return m, true
		default:
			return nil, false
		}
	}
}

func (d *fastDecoder) array() ([]any, bool) {
	if d.depth++; d.depth > 1000 {
		return nil, false
	}
	defer func() { d.depth-- }()
	d.i++ // [
	a := make([]any, 0, 4)
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		return a, true
	}
	for {
		v, ok := d.value()
		if !ok {
			return nil, false
		}
		a = append(a, v)
		d.ws()
		if d.i >= len(d.b) {
			return nil, false
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			return a, true
		default:
			return nil, false
		}
	}
}

// str decodes a string at d.i (which holds the opening quote).
func (d *fastDecoder) str() (string, bool) {
	d.i++
	start := d.i
	// Fast path: no escapes, ASCII or valid UTF-8.
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			s := d.b[start:d.i]
			d.i++
			if !utf8.Valid(s) {
				return "", false // encoding/json substitutes U+FFFD; leave it to it
			}
			return string(s), true
		case c == '\\':
			return d.escaped(start)
		case c < 0x20:
			return "", false
		}
		d.i++
	}
	return "", false
}

func (d *fastDecoder) escaped(start int) (string, bool) {
	out := make([]byte, 0, d.i-start+16)
	out = append(out, d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if !utf8.Valid(out) {
				return "", false
			}
			return string(out), true
		case c < 0x20:
			return "", false
		case c != '\\':
			out = append(out, c)
			d.i++
			continue
		}
		if d.i+1 >= len(d.b) {
			return "", false
		}
		e := d.b[d.i+1]
		d.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := d.hex4()
			if !ok {
				return "", false
			}
			if utf16.IsSurrogate(r) {
				// A valid pair makes one rune; anything else is U+FFFD, as in encoding/json.
				r2 := rune(-1)
				if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
					save := d.i
					d.i += 2
					if x, ok := d.hex4(); ok {
						r2 = x
					}
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						out = utf8.AppendRune(out, dec)
						continue
					}
					d.i = save
				}
				r = utf8.RuneError
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", false
		}
	}
	return "", false
}

func (d *fastDecoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.b[d.i : d.i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	d.i += 4
	return r, true
}

// number scans a JSON number (RFC 8259 §6 grammar) and keeps its text.
func (d *fastDecoder) number() (json.Number, bool) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	if d.i >= len(d.b) {
		return "", false
	}
	if d.b[d.i] == '0' {
		d.i++
	} else if d.b[d.i] >= '1' && d.b[d.i] <= '9' {
		for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
			d.i++
		}
	} else {
		return "", false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !d.digits() {
			return "", false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return "", false
		}
	}
	return json.Number(d.b[start:d.i]), true
}

func (d *fastDecoder) digits() bool {
	s := d.i
	for d.i < len(d.b) && d.b[d.i] >= '0' && d.b[d.i] <= '9' {
		d.i++
	}
	return d.i > s
}

// decodeSelected decodes only the top-level members of the object b whose
// names are in keep; the others are checked and skipped without building
// anything. An import needs a resource's search values, not its narrative,
// components or notes, and this decodes several times less. ok=false as
// for decodeObject (the caller then decodes the whole resource).
func decodeSelected(b []byte, keep map[string]bool) (map[string]any, bool) {
	d := fastDecoder{b: b}
	d.ws()
	if d.i >= len(d.b) || d.b[d.i] != '{' {
		return nil, false
	}
	d.i++
	m := make(map[string]any, len(keep))
	d.ws()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
	} else {
		for {
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != '"' {
				return nil, false
			}
			start := d.i + 1
			if !d.skipStr() {
				return nil, false
			}
			key := d.b[start : d.i-1]
			d.ws()
			if d.i >= len(d.b) || d.b[d.i] != ':' {
				return nil, false
			}
			d.i++
			if bytes.IndexByte(key, '\\') >= 0 {
				return nil, false // an escaped key (which one is it?): leave it to the full decoder
			}
			if keep[string(key)] { // no allocation for the lookup
				v, ok := d.value()
				if !ok {
					return nil, false
				}
				m[string(key)] = v
			} else if !d.skip() {
				return nil, false
			}
			d.ws()
			if d.i >= len(d.b) {
				return nil, false
			}
			if d.b[d.i] == '}' {
				d.i++
				break
			}
			if d.b[d.i] != ',' {
				return nil, false
			}
			d.i++
		}
	}
	d.ws()
	if d.i != len(d.b) {
		return nil, false
	}
	return m, true
}

// skip checks one value and moves past it.
func (d *fastDecoder) skip() bool {
	d.ws()
	if d.i >= len(d.b) {
		return false
	}
	switch c := d.b[d.i]; {
	case c == '{' || c == '[':
		if d.depth++; d.depth > 1000 {
			return false
		}
		defer func() { d.depth-- }()
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		d.i++
		d.ws()
		if d.i < len(d.b) && d.b[d.i] == closing {
			d.i++
			return true
		}
		for {
			if c == '{' {
				d.ws()
				if d.i >= len(d.b) || d.b[d.i] != '"' || !d.skipStr() {
					return false
				}
				d.ws()
				if d.i >= len(d.b) || d.b[d.i] != ':' {
					return false
				}
				d.i++
			}
			if !d.skip() {
				return false
			}
			d.ws()
			if d.i >= len(d.b) {
				return false
			}
			switch d.b[d.i] {
			case ',':
				d.i++
			case closing:
				d.i++
				return true
			default:
				return false
			}
		}
	case c == '"':
		return d.skipStr()
	case c == 't':
		return d.lit("true")
	case c == 'f':
		return d.lit("false")
	case c == 'n':
		return d.lit("null")
	case c == '-' || c >= '0' && c <= '9':
		return d.skipNumber()
	}
	return false
}

// skipStr checks a string (d.i at its opening quote) and moves past it.
func (d *fastDecoder) skipStr() bool {
	d.i++
	for d.i < len(d.b) {
		switch c := d.b[d.i]; {
		case c == '"':
			d.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if d.i+1 >= len(d.b) {
				return false
			}
			switch d.b[d.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i += 2
			case 'u':
				d.i += 2
				if _, ok := d.hex4(); !ok {
					return false
				}
			default:
				return false
			}
		default:
			d.i++
		}
	}
	return false
}

func (d *fastDecoder) skipNumber() bool {
	if d.b[d.i] == '-' {
		d.i++
	}
	if d.i >= len(d.b) {
		return false
	}
	if d.b[d.i] == '0' {
		d.i++
	} else if !d.digits() {
		return false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !d.digits() {
			return false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !d.digits() {
			return false
		}
	}
	return true
}
