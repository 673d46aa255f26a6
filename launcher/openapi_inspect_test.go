package launcher

import (
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/inspect"
)

// The launch inspector's routes (mounted by cmd beside the launch API) are
// in the same OpenAPI document, and their schemas name exactly the JSON
// fields of mockehr/inspect's types.
func TestOpenAPIDescribesTheInspector(t *testing.T) {
	var doc schemaDoc
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/api/launches/{id}/events", "/api/inspect/launches", "/api/clients/{id}/report"} {
		if doc.Paths[p]["get"] == nil {
			t.Errorf("GET %s not described", p)
		}
	}
	for _, c := range []struct {
		schema string
		typ    reflect.Type
	}{
		{"InspectEvent", reflect.TypeFor[inspect.Event]()},
		{"InspectDiagnostic", reflect.TypeFor[inspect.Diagnostic]()},
		{"LaunchEvents", reflect.TypeFor[inspect.EventsBody]()},
		{"LaunchSummary", reflect.TypeFor[inspect.LaunchSummary]()},
		{"ClientReport", reflect.TypeFor[inspect.Report]()},
	} {
		s, ok := doc.Components.Schemas[c.schema]
		if !ok {
			t.Errorf("schema %s missing", c.schema)
			continue
		}
		if got, want := sortedKeys(s.Properties), sortedKeys(jsonKeys(c.typ)); !slices.Equal(got, want) {
			t.Errorf("schema %s properties\n got %v\nwant %v (%s JSON fields)", c.schema, got, want, c.typ)
		}
	}
}
