package fhir

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
)

// applyPatch applies an RFC 6902 JSON Patch document to doc. A malformed
// patch is 400; a failing "test" or a path that does not resolve is 422
// (FHIR R4 http §patch: unprocessable).
func applyPatch(doc, patch []byte) ([]byte, *apiError) {
	var ops []struct {
		Op    string           `json:"op"`
		Path  *string          `json:"path"`
		From  *string          `json:"from"`
		Value *json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, badRequest("JSON Patch body must be an array of operations: " + err.Error())
	}
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, errf(http.StatusInternalServerError, "exception", "stored resource is not JSON")
	}
	for i, op := range ops {
		where := "operation " + strconv.Itoa(i) + " (" + op.Op + ")"
		if op.Path == nil {
			return nil, badRequest(where + ": missing path")
		}
		path, err := splitPointer(*op.Path)
		if err != nil {
			return nil, badRequest(where + ": " + err.msg)
		}
		var value any
		needsValue := op.Op == "add" || op.Op == "replace" || op.Op == "test"
		if needsValue {
			if op.Value == nil {
				return nil, badRequest(where + ": missing value")
			}
			_ = json.Unmarshal(*op.Value, &value) // valid: it decoded as RawMessage
		}
		var from []string
		if op.Op == "move" || op.Op == "copy" {
			if op.From == nil {
				return nil, badRequest(where + ": missing from")
			}
			if from, err = splitPointer(*op.From); err != nil {
				return nil, badRequest(where + ": " + err.msg)
			}
		}
		var perr *apiError
		switch op.Op {
		case "add":
			root, perr = ptrAdd(root, path, value)
		case "remove":
			root, _, perr = ptrRemove(root, path)
		case "replace":
			if root, _, perr = ptrRemove(root, path); perr == nil {
				root, perr = ptrAdd(root, path, value)
			}
		case "move":
			var v any
			if root, v, perr = ptrRemove(root, from); perr == nil {
				root, perr = ptrAdd(root, path, v)
			}
		case "copy":
			var v any
			if v, perr = ptrGet(root, from); perr == nil {
				b, _ := json.Marshal(v)
				var c any
				_ = json.Unmarshal(b, &c)
				root, perr = ptrAdd(root, path, c)
			}
		case "test":
			var v any
			if v, perr = ptrGet(root, path); perr == nil && !reflect.DeepEqual(v, value) {
				perr = unprocessable("test failed at " + *op.Path)
			}
		default:
			return nil, badRequest(where + ": unknown op (add, remove, replace, move, copy, test)")
		}
		if perr != nil {
			perr.msg = where + ": " + perr.msg
			return nil, perr
		}
	}
	out, err := json.Marshal(root)
	if err != nil {
		return nil, badRequest("patched resource cannot be encoded")
	}
	return out, nil
}

func unprocessable(msg string) *apiError {
	return errf(http.StatusUnprocessableEntity, "processing", msg)
}

func splitPointer(p string) ([]string, *apiError) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, badRequest("JSON pointer " + strconv.Quote(p) + " must start with /")
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

func arrayIndex(a []any, tok string, allowEnd bool) (int, *apiError) {
	if allowEnd && tok == "-" {
		return len(a), nil
	}
	n, err := strconv.Atoi(tok)
	limit := len(a) - 1
	if allowEnd {
		limit = len(a)
	}
	if err != nil || n < 0 || n > limit || (len(tok) > 1 && tok[0] == '0') {
		return 0, unprocessable("array index " + strconv.Quote(tok) + " is out of range")
	}
	return n, nil
}

func ptrGet(root any, path []string) (any, *apiError) {
	cur := root
	for _, tok := range path {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, unprocessable("path element " + strconv.Quote(tok) + " does not exist")
			}
			cur = v
		case []any:
			i, err := arrayIndex(c, tok, false)
			if err != nil {
				return nil, err
			}
			cur = c[i]
		default:
			return nil, unprocessable("path goes through a non-container at " + strconv.Quote(tok))
		}
	}
	return cur, nil
}

// ptrAdd returns root with value added at path (containers are updated in
// place; arrays are re-sliced, so the parent is re-set).
func ptrAdd(root any, path []string, value any) (any, *apiError) {
	if len(path) == 0 {
		return value, nil
	}
	parent, err := ptrGet(root, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		c[last] = value
		return root, nil
	case []any:
		i, err := arrayIndex(c, last, true)
		if err != nil {
			return nil, err
		}
		na := append(append(append([]any{}, c[:i]...), value), c[i:]...)
		return ptrSet(root, path[:len(path)-1], na)
	}
	return nil, unprocessable("cannot add under a non-container")
}

func ptrRemove(root any, path []string) (any, any, *apiError) {
	if len(path) == 0 {
		return nil, nil, unprocessable("cannot remove the whole resource")
	}
	parent, err := ptrGet(root, path[:len(path)-1])
	if err != nil {
		return nil, nil, err
	}
	last := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		v, ok := c[last]
		if !ok {
			return nil, nil, unprocessable("path element " + strconv.Quote(last) + " does not exist")
		}
		delete(c, last)
		return root, v, nil
	case []any:
		i, err := arrayIndex(c, last, false)
		if err != nil {
			return nil, nil, err
		}
		v := c[i]
		na := append(append([]any{}, c[:i]...), c[i+1:]...)
		root, err = ptrSet(root, path[:len(path)-1], na)
		return root, v, err
	}
	return nil, nil, unprocessable("cannot remove from a non-container")
}

// ptrSet replaces the value at path (which exists).
func ptrSet(root any, path []string, v any) (any, *apiError) {
	if len(path) == 0 {
		return v, nil
	}
	parent, err := ptrGet(root, path[:len(path)-1])
	if err != nil {
		return nil, err
	}
	last := path[len(path)-1]
	switch c := parent.(type) {
	case map[string]any:
		c[last] = v
	case []any:
		i, err := arrayIndex(c, last, false)
		if err != nil {
			return nil, err
		}
		c[i] = v
	}
	return root, nil
}
