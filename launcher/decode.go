package launcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
)

func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	return io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBody))
}

// jsonKeys lists the JSON member names of a struct type from its tags.
func jsonKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "" && name != "-" {
			keys[name] = true
		}
	}
	return keys
}

var (
	requestKeys = jsonKeys(reflect.TypeFor[Request]())
	clientKeys  = jsonKeys(reflect.TypeFor[Client]())
	contextKeys = jsonKeys(reflect.TypeFor[FHIRContextItem]())
)

// parseRequest decodes a launch request strictly. encoding/json matches
// member names case-insensitively and reports unknown fields without their
// path, so a first pass over the raw members refuses any member that is not
// spelled exactly as in the contract, naming it with its dotted path.
func parseRequest(body []byte) (*Request, *FieldError) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil || top == nil {
		return nil, &FieldError{Message: "the body must be one JSON object" + jsonHint(err)}
	}
	if err := unknownKeys("", top, requestKeys); err != nil {
		return nil, err
	}
	if raw, ok := top["client"]; ok && isObject(raw) {
		var c map[string]json.RawMessage
		if json.Unmarshal(raw, &c) == nil {
			if err := unknownKeys("client.", c, clientKeys); err != nil {
				return nil, err
			}
		}
	}
	if raw, ok := top["fhir_context"]; ok {
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			for i, it := range items {
				var m map[string]json.RawMessage
				if !isObject(it) || json.Unmarshal(it, &m) != nil {
					return nil, fieldErr("fhir_context", "item %d must be an object (SMART 2.2 fhirContext)", i)
				}
				if err := unknownKeys("fhir_context.", m, contextKeys); err != nil {
					return nil, err
				}
				// An empty role is not the same as no role (TOK-11: never "").
				if r, ok := m["role"]; ok && string(bytes.TrimSpace(r)) == `""` {
					return nil, fieldErr("fhir_context.role", "item %d: role must not be empty; omit it for the default", i)
				}
			}
		}
	}

	var req Request
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, decodeError(err)
	}
	if dec.More() {
		return nil, &FieldError{Message: "trailing data after the JSON object"}
	}
	return &req, nil
}

func isObject(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) > 0 && t[0] == '{'
}

func unknownKeys(prefix string, m map[string]json.RawMessage, known map[string]bool) *FieldError {
	for k := range m {
		if !known[k] {
			return fieldErr(prefix+k, "unknown field %q", prefix+k)
		}
	}
	return nil
}

// decodeError turns encoding/json errors into field errors.
func decodeError(err error) *FieldError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		field := te.Field
		if field == "" {
			return &FieldError{Message: fmt.Sprintf("the body must be a JSON object, not %s", te.Value)}
		}
		return fieldErr(field, "must be %s, not %s", jsonTypeName(te.Type), te.Value)
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return fieldErr(name, "unknown field %q", name)
	}
	return &FieldError{Message: "the body is not valid JSON" + jsonHint(err)}
}

func jsonHint(err error) string {
	if err == nil {
		return ""
	}
	return ": " + strings.TrimPrefix(err.Error(), "json: ")
}

func jsonTypeName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int64, reflect.Int32:
		return "an integer"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // json.RawMessage
			return "a JSON value"
		}
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonTypeName(t.Elem())
	}
	return t.String()
}
