package fhir

import (
	"bytes"
	"encoding/json"
	"math/big"
	"net/http"
	"slices"
	"strconv"
	"strings"

	jsonpatch "github.com/evanphx/json-patch/v5"
)

// patchOptions are RFC 6902 as written: no negative array indices, no
// paths created on add, remove of a missing path fails.
var patchOptions = func() *jsonpatch.ApplyOptions {
	o := jsonpatch.NewApplyOptions()
	o.SupportNegativeIndices = false
	o.EscapeHTML = false
	return o
}()

// applyPatch applies an RFC 6902 JSON Patch document to doc. A malformed
// operation is 400; a failing "test" or a path that does not resolve is
// 422 (FHIR R4 http §patch: unprocessable). Operations are checked and
// applied one at a time, so an error names its operation.
//
// github.com/evanphx/json-patch/v5 applies add, remove, replace, move and
// copy on the JSON text, so members the patch does not touch keep their
// exact bytes (a decimal's precision, large integers). "test" is ours
// (testOp): the library compares numbers by their text and takes a
// missing target for null, which RFC 6902 §4.6 does not.
func applyPatch(doc, body []byte) ([]byte, *apiError) {
	var patch jsonpatch.Patch
	if err := json.Unmarshal(body, &patch); err != nil {
		return nil, badRequest("JSON Patch body must be an array of operations: " + err.Error())
	}
	if len(patch) > maxPatchOps {
		return nil, unprocessable("a JSON Patch has at most " + strconv.Itoa(maxPatchOps) + " operations")
	}
	// copy can double the document per operation (copy the root into a new
	// member, again and again): bound what it may grow to.
	limit := 2*len(doc) + len(body)
	for i, op := range patch {
		where := "operation " + strconv.Itoa(i) + " (" + op.Kind() + ")"
		if msg := checkOperation(op); msg != "" {
			return nil, badRequest(where + ": " + msg)
		}
		path, _ := op.Path()
		from, _ := op.From()
		switch kind := op.Kind(); {
		case kind == "test":
			if msg := testOp(doc, path, op); msg != "" {
				return nil, unprocessable(where + ": " + msg)
			}
			continue
		case kind == "remove" && path == "":
			return nil, unprocessable(where + ": cannot remove the whole resource")
		case (kind == "add" || kind == "replace") && path == "" && !isObject(op["value"]):
			return nil, badRequest(where + ": the resource must stay a JSON object")
		case leadingZero(path) != "" || leadingZero(from) != "":
			// RFC 6901 indices have no leading zeros; the library reads "01"
			// as 1. FHIR member names are never digits, so such a token
			// can only be a bad index.
			return nil, unprocessable(where + ": array index " + strconv.Quote(leadingZero(path)+leadingZero(from)) + " is out of range")
		}
		out, err := jsonpatch.Patch{op}.ApplyWithOptions(doc, patchOptions)
		if err != nil {
			return nil, unprocessable(where + ": " + err.Error())
		}
		if len(out) > limit { // one operation at most doubles it
			return nil, unprocessable(where + ": the patched resource would grow beyond " + strconv.Itoa(limit) + " bytes")
		}
		doc = out
	}
	return doc, nil
}

// maxPatchOps bounds the operations of one JSON Patch.
const maxPatchOps = 100

// testOp is RFC 6902 §4.6: the target must exist and equal the value;
// numbers are equal when their values are (1.50 equals 1.5). It returns
// why the test fails, "" when it passes.
func testOp(doc []byte, path string, op jsonpatch.Operation) string {
	value := []byte("null") // "value": null decodes to a nil RawMessage
	if v := op["value"]; v != nil {
		value = *v
	}
	var root, want any
	if decodeNumbers(doc, &root) != nil || decodeNumbers(value, &want) != nil {
		return "the resource or the value is not JSON"
	}
	got, msg := pointerGet(root, path)
	if msg != "" {
		return msg
	}
	if !jsonEqual(got, want) {
		return "test failed at " + path
	}
	return ""
}

// isObject reports whether a patch value is a JSON object.
func isObject(v *json.RawMessage) bool {
	return v != nil && bytes.HasPrefix(bytes.TrimSpace(*v), []byte("{"))
}

// leadingZero returns the first reference token of pointer that is digits
// with a leading zero, "" when none is.
func leadingZero(pointer string) string {
	for _, tok := range strings.Split(pointer, "/") {
		if len(tok) > 1 && tok[0] == '0' && strings.Trim(tok, "0123456789") == "" {
			return tok
		}
	}
	return ""
}

func decodeNumbers(b []byte, v *any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// pointerGet resolves an RFC 6901 pointer ("" is the whole document;
// array indices are decimal without leading zeros).
func pointerGet(root any, pointer string) (any, string) {
	if pointer == "" {
		return root, ""
	}
	cur := root
	for _, tok := range strings.Split(pointer[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, "path element " + strconv.Quote(tok) + " does not exist"
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || (len(tok) > 1 && tok[0] == '0') {
				return nil, "array index " + strconv.Quote(tok) + " is out of range"
			}
			cur = c[i]
		default:
			return nil, "path goes through a non-container at " + strconv.Quote(tok)
		}
	}
	return cur, ""
}

// jsonEqual is RFC 6902 §4.6 equality of decoded JSON values.
func jsonEqual(a, b any) bool {
	switch a := a.(type) {
	case json.Number:
		b, ok := b.(json.Number)
		x, okx := new(big.Rat).SetString(a.String())
		y, oky := new(big.Rat).SetString(b.String())
		return ok && okx && oky && x.Cmp(y) == 0
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !jsonEqual(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		return ok && slices.EqualFunc(a, b, jsonEqual)
	}
	return a == b // string, bool, nil
}

// checkOperation returns what makes op malformed (RFC 6902 §4: a known
// op, a path, a value for add, replace and test, a from for move and
// copy; pointers per RFC 6901), "" when nothing does.
func checkOperation(op jsonpatch.Operation) string {
	var need []string
	switch op.Kind() {
	case "add", "replace", "test":
		need = []string{"path", "value"}
	case "remove":
		need = []string{"path"}
	case "move", "copy":
		need = []string{"path", "from"}
	default:
		return "unknown op (add, remove, replace, move, copy, test)"
	}
	for _, k := range need {
		raw, ok := op[k]
		if !ok || (raw == nil && k != "value") { // "value": null is a value
			return "missing " + k
		}
		if k == "value" {
			continue
		}
		var p string
		if err := json.Unmarshal(*raw, &p); err != nil {
			return k + " must be a JSON pointer string"
		}
		if p != "" && !strings.HasPrefix(p, "/") {
			return "JSON pointer " + strconv.Quote(p) + " must start with /"
		}
	}
	return ""
}

func unprocessable(msg string) *apiError {
	return errf(http.StatusUnprocessableEntity, "processing", msg)
}
