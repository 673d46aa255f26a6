package launcher

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
)

// The OpenAPI document describes apierr's one error shape, and every error
// answer of both APIs (launches and clients) uses it.
func TestOpenAPIErrorsAreTheOneShape(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `json:"enum"`
				} `json:"properties"`
				Required []string `json:"required"`
			} `json:"schemas"`
		} `json:"components"`
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["Error"]
	var props []string
	for k := range schema.Properties {
		props = append(props, k)
	}
	slices.Sort(props)
	if want := sortedKeys(jsonKeys(reflect.TypeFor[apierr.Body]())); !slices.Equal(props, want) {
		t.Errorf("schema Error properties %v, want apierr.Body's %v", props, want)
	}
	if want := []string{"error", "error_description"}; !slices.Equal(schema.Required, want) {
		t.Errorf("schema Error required %v, want %v", schema.Required, want)
	}
	codes := []string{apierr.InvalidRequest, apierr.NotFound, apierr.Conflict, apierr.Expired,
		apierr.RequestTooLarge, apierr.UnsupportedMediaType, apierr.ServerError}
	if got := schema.Properties["error"].Enum; !slices.Equal(got, codes) {
		t.Errorf("schema Error error enum %v, want apierr's codes %v", got, codes)
	}

	n := 0
	for path, item := range doc.Paths {
		if !strings.HasPrefix(path, "/api/") {
			continue
		}
		for method, raw := range item {
			var op struct {
				Responses map[string]struct {
					Ref string `json:"$ref"`
				} `json:"responses"`
			}
			if method == "parameters" || json.Unmarshal(raw, &op) != nil {
				continue
			}
			for status, r := range op.Responses {
				if status[0] == '4' || status[0] == '5' {
					n++
					if r.Ref != "#/components/responses/Error" {
						t.Errorf("%s %s %s: %q, want the shared Error response", method, path, status, r.Ref)
					}
				}
			}
		}
	}
	if n < 10 {
		t.Errorf("only %d error responses described", n)
	}
}
