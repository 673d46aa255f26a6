package fhir

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// applyPatch on its own: RFC 6902 statuses (400 malformed, 422 does not
// apply or test fails), RFC 6902 §4.6 equality in test, and members the
// patch does not touch keep their exact text.
func TestApplyPatch(t *testing.T) {
	doc := `{"resourceType":"Observation","id":"o1","status":"final","valueQuantity":{"value":1.50,"unit":"kg"},"big":12345678901234567890,"note":[{"text":"a"},{"text":"b"}]}`
	for _, c := range []struct {
		name, patch string
		status      int    // 0: applies
		want        string // the result, when it applies ("": doc unchanged)
	}{
		{"empty patch", `[]`, 0, ""},
		{"not an array", `{"op":"add"}`, 400, ""},
		{"unknown op", `[{"op":"bogus","path":"/status"}]`, 400, ""},
		{"no path", `[{"op":"add","value":1}]`, 400, ""},
		{"path not a pointer", `[{"op":"add","path":"status","value":1}]`, 400, ""},
		{"no value", `[{"op":"replace","path":"/status"}]`, 400, ""},
		{"no from", `[{"op":"copy","path":"/x"}]`, 400, ""},
		{"root not an object", `[{"op":"add","path":"","value":[1]}]`, 400, ""},
		{"malformed after a good op", `[{"op":"replace","path":"/status","value":"amended"},{"op":"bogus"}]`, 400, ""},
		{"missing member", `[{"op":"remove","path":"/nope"}]`, 422, ""},
		{"through a missing member", `[{"op":"add","path":"/nope/x","value":1}]`, 422, ""},
		{"index past the end", `[{"op":"replace","path":"/note/2","value":{}}]`, 422, ""},
		{"negative index", `[{"op":"remove","path":"/note/-1"}]`, 422, ""},
		{"leading zero", `[{"op":"remove","path":"/note/01"}]`, 422, ""},
		{"remove the resource", `[{"op":"remove","path":""}]`, 422, ""},
		{"move into itself", `[{"op":"move","from":"/note","path":"/note/0/x"}]`, 422, ""},
		{"test fails", `[{"op":"test","path":"/status","value":"draft"}]`, 422, ""},
		{"test on a missing member", `[{"op":"test","path":"/nope","value":null}]`, 422, ""},
		{"test of a number by value", `[{"op":"test","path":"/valueQuantity/value","value":1.5}]`, 0, ""},
		{"test of an object", `[{"op":"test","path":"/note/1","value":{"text":"b"}}]`, 0, ""},
		{"test, then a failing test", `[{"op":"test","path":"/status","value":"final"},{"op":"test","path":"/note","value":[]}]`, 422, ""},
		{"replace keeps other members' text", `[{"op":"replace","path":"/status","value":"amended"}]`, 0,
			`{"resourceType":"Observation","id":"o1","status":"amended","valueQuantity":{"value":1.50,"unit":"kg"},"big":12345678901234567890,"note":[{"text":"a"},{"text":"b"}]}`},
		{"add to an array, then test it", `[{"op":"add","path":"/note/-","value":{"text":"c"}},{"op":"test","path":"/note/2/text","value":"c"}]`, 0,
			`{"resourceType":"Observation","id":"o1","status":"final","valueQuantity":{"value":1.50,"unit":"kg"},"big":12345678901234567890,"note":[{"text":"a"},{"text":"b"},{"text":"c"}]}`},
		{"null is a value", `[{"op":"add","path":"/x","value":null}]`, 0,
			`{"resourceType":"Observation","id":"o1","status":"final","valueQuantity":{"value":1.50,"unit":"kg"},"big":12345678901234567890,"note":[{"text":"a"},{"text":"b"}],"x":null}`},
		{"move and copy", `[{"op":"copy","from":"/note/0","path":"/first"},{"op":"move","from":"/status","path":"/state"}]`, 0,
			`{"resourceType":"Observation","id":"o1","state":"final","valueQuantity":{"value":1.50,"unit":"kg"},"big":12345678901234567890,"note":[{"text":"a"},{"text":"b"}],"first":{"text":"a"}}`},
	} {
		out, err := applyPatch([]byte(doc), []byte(c.patch))
		switch {
		case c.status != 0:
			if err == nil || err.status != c.status {
				t.Errorf("%s: %v, want status %d", c.name, err, c.status)
			}
		case err != nil:
			t.Errorf("%s: %d %s", c.name, err.status, err.msg)
		default:
			want := c.want
			if want == "" {
				want = doc
			}
			if !sameJSON(t, out, want) {
				t.Errorf("%s:\n got %s\nwant %s", c.name, out, want)
			}
			if !strings.Contains(string(out), `"value":1.50`) || !strings.Contains(string(out), `12345678901234567890`) {
				t.Errorf("%s: untouched numbers lost their text: %s", c.name, out)
			}
		}
	}
}

func sameJSON(t *testing.T, a []byte, b string) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal([]byte(b), &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
