package fhirstore

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/fixtures"
)

func stdDecode(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errTrailing
	}
	return m, nil
}

var errTrailing = json.Unmarshal([]byte("x"), new(any))

var fastCases = []string{
	`{}`, `{"a":1}`, ` {"a" : [1, -2.5e+3, 0, 0.1E-2, true, false, null, "x"]} `,
	`{"s":"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, `{"lone":"\ud83d"}`, `{"lone2":"\ude00x"}`,
	`{"pair-bad":"\ud83d\u0041"}`, `{"dup":1,"dup":2}`, `{"n":{"m":{"o":[[],{}]}}}`,
	`{"utf8":"héllo ✓"}`,
	// refused (fallback must handle): invalid JSON, trailing data, bad utf-8, control chars
	`{"a":01}`, `{"a":1}x`, `{"a":1}{}`, "{\"a\":\"\xff\"}", "{\"a\":\"\x01\"}", `{"a":-}`, `{"a":1.}`,
	`{"a":tru}`, `{"a":[1,]}`, `{"a":1,}`, `[1]`, `"x"`, `{"a":"\x"}`, `{"a":"\u12"}`,
}

func checkSame(t *testing.T, in []byte) {
	t.Helper()
	got, ok := decodeObject(in)
	want, err := stdDecode(in)
	if !ok {
		return // the caller falls back to encoding/json: nothing to compare
	}
	if err != nil {
		t.Fatalf("decodeObject accepted %q, encoding/json refuses it: %v", in, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("decodeObject(%q)\n got %#v\nwant %#v", in, got, want)
	}
}

func TestDecodeObjectMatchesEncodingJSON(t *testing.T) {
	for _, c := range fastCases {
		checkSame(t, []byte(c))
	}
	for _, c := range []string{`{}`, `{"a":1}`, `{"s":"q\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, `{"lone":"\ud83d"}`, `{"dup":1,"dup":2}`} {
		if _, ok := decodeObject([]byte(c)); !ok {
			t.Errorf("decodeObject(%s) fell back; the fast path should handle it", c)
		}
	}
}

// Every default fixture resource takes the fast path and decodes exactly
// as encoding/json would.
func TestDecodeObjectOnDefaultFixtures(t *testing.T) {
	set, err := fixtures.Default(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range set {
		if _, ok := decodeObject(raw); !ok {
			t.Fatalf("fixture fell back to encoding/json: %.200s", raw)
		}
		checkSame(t, raw)
	}
}

func FuzzDecodeObject(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, in []byte) { checkSame(t, in) })
}

func BenchmarkDecodeFixtures(b *testing.B) {
	set, _ := fixtures.Default(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	b.Run("fast", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, raw := range set {
				decodeObject(raw)
			}
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			for _, raw := range set {
				stdDecode(raw)
			}
		}
	})
}

// decodeSelected accepts only what encoding/json accepts, and its members
// are encoding/json's.
func checkSelected(t *testing.T, in []byte) {
	t.Helper()
	keep := map[string]bool{"a": true, "s": true, "n": true, "dup": true}
	got, ok := decodeSelected(in, keep)
	if !ok {
		return
	}
	want, err := stdDecode(in)
	if err != nil {
		t.Fatalf("decodeSelected accepted %q, encoding/json refuses it: %v", in, err)
	}
	for k, v := range want {
		if keep[k] && !reflect.DeepEqual(got[k], v) {
			t.Fatalf("decodeSelected(%q)[%q] = %#v, want %#v", in, k, got[k], v)
		}
	}
	for k := range got {
		if !keep[k] {
			t.Fatalf("decodeSelected kept %q", k)
		}
	}
}

func FuzzDecodeSelected(f *testing.F) {
	for _, c := range fastCases {
		f.Add([]byte(c))
	}
	f.Add([]byte(`{"skip":{"x":[1,{"y":"\u00e9"}]},"a":[1,2],"z":"q"}`))
	f.Add([]byte(`{"\u0061":5}`))
	f.Fuzz(func(t *testing.T, in []byte) { checkSelected(t, in) })
}

// Import decodes only what indexing reads; the resources it builds are
// those a full decode builds, on the demo set and a generated one.
func TestParseSelectedMatchesParse(t *testing.T) {
	for _, c := range fastCases {
		checkSelected(t, []byte(c))
	}
	if _, ok := decodeSelected([]byte(`{"\u0061":5}`), map[string]bool{"a": true}); ok {
		t.Error("an escaped key was not left to the full decoder")
	}
	set, err := fixtures.Default(time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	fixtures.Generate(fixtures.GenerateOptions{Patients: 20, Seed: 3, Ref: time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
		func(m json.RawMessage) error { set = append(set, m); return nil })
	loaded := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	for _, raw := range set {
		var h struct{ ResourceType string }
		json.Unmarshal(raw, &h)
		if types[h.ResourceType] == nil {
			continue
		}
		sel, ok := parseSelected(h.ResourceType, raw)
		if !ok {
			t.Fatalf("selective decode refused %.200s", raw)
		}
		full, err := Parse(h.ResourceType, raw)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*Resource{sel, full} {
			r.Version, r.LastUpdated, r.fixture = 1, loaded, true
			if err := r.finish(nil); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(sel.Raw, full.Raw) || sel.text != full.text || !reflect.DeepEqual(sel.entries, full.entries) ||
			sel.display != full.display || sel.Patient != full.Patient || sel.sortKey != full.sortKey || sel.ID != full.ID {
			t.Fatalf("%s/%s: selective and full decodes differ", sel.Type, sel.ID)
		}
	}
}
