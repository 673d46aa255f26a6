package fhir

import (
	"encoding/json"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

const fuzzPatchDoc = `{"resourceType":"Observation","id":"o1","status":"final","valueQuantity":{"value":1.50,"unit":"kg"},"note":[{"text":"a"},{"text":"b"}]}`

// FuzzApplyPatch: any patch body is either applied (the result is a JSON
// object) or refused with a 400 or 422 and a message, never a panic; and a
// patch allocates at most 8 MiB plus 256 bytes per byte of the patch (copy
// of the root into a new member doubled the document per operation:
// testdata/fuzz/FuzzApplyPatch/copy-root-doubling).
func FuzzApplyPatch(f *testing.F) {
	for _, s := range []string{
		`[]`, `{}`, `[{"op":"add","path":"/x","value":1}]`, `[{"op":"copy","from":"","path":"/a"}]`,
		`[{"op":"test","path":"/valueQuantity/value","value":1.5}]`, `[{"op":"move","from":"/note/0","path":"/note/1"}]`,
		`[{"op":"remove","path":"/note/-"}]`, `[{"op":"replace","path":"","value":{"resourceType":"Observation","id":"o1"}}]`,
		`[{"op":"copy","from":"/note","path":"/note/-"},{"op":"copy","from":"/note","path":"/note/-"}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		out, err := applyPatch([]byte(fuzzPatchDoc), body)
		runtime.ReadMemStats(&after)
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20+256*uint64(len(body)) {
			t.Fatalf("a %d-byte patch allocated %d MiB", len(body), alloc>>20)
		}
		if err != nil {
			if err.status != 400 && err.status != 422 || err.msg == "" {
				t.Fatalf("patch %q: status %d %q", body, err.status, err.msg)
			}
			return
		}
		var m map[string]any
		if jerr := json.Unmarshal(out, &m); jerr != nil {
			t.Fatalf("patch %q gave %q, not a JSON object: %v", body, out, jerr)
		}
	})
}

// A patch that copies the resource into itself again and again is refused
// before it grows the document beyond bounds (a 2 KiB body used to ask for
// 2^40 bytes).
func TestApplyPatchDoesNotDouble(t *testing.T) {
	var ops []string
	for i := range 40 {
		ops = append(ops, `{"op":"copy","from":"","path":"/a`+strconv.Itoa(i)+`"}`)
	}
	body := "[" + strings.Join(ops, ",") + "]"
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := applyPatch([]byte(fuzzPatchDoc), []byte(body))
	runtime.ReadMemStats(&after)
	if err == nil || err.status != 422 {
		t.Fatalf("self-copying patch: %v, want 422", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Fatalf("allocated %d MiB", alloc>>20)
	}
}
