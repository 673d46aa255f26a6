package launcher

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

type schemaDoc struct {
	OpenAPI    string `json:"openapi"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]json.RawMessage `json:"properties"`
			Enum       []string                   `json:"enum"`
			AllOf      []struct {
				Ref        string                     `json:"$ref"`
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"allOf"`
		} `json:"schemas"`
	} `json:"components"`
	Paths map[string]map[string]json.RawMessage `json:"paths"`
}

func sortedKeys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestOpenAPIServedAndInSyncWithTypes(t *testing.T) {
	e := newEnv(t, "")
	resp, err := e.srv.Client().Get(e.srv.URL + "/api/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || !bytes.Equal(raw, openAPI) {
		t.Fatalf("GET /api/openapi.json: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc schemaDoc
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi %q", doc.OpenAPI)
	}
	for _, p := range []string{"/api/launches", "/api/launches/{id}", "/api/clients", "/api/clients/{id}"} {
		if doc.Paths[p] == nil {
			t.Errorf("path %s not described", p)
		}
	}
	schemas := doc.Components.Schemas
	var props func(name string) []string
	props = func(name string) []string {
		s, ok := schemas[name]
		if !ok {
			t.Fatalf("schema %s missing", name)
		}
		m := map[string]json.RawMessage{}
		for k, v := range s.Properties {
			m[k] = v
		}
		for _, a := range s.AllOf {
			if a.Ref != "" {
				for _, k := range props(strings.TrimPrefix(a.Ref, "#/components/schemas/")) {
					m[k] = nil
				}
			}
			for k, v := range a.Properties {
				m[k] = v
			}
		}
		return sortedKeys(m)
	}
	for _, c := range []struct {
		schema string
		typ    reflect.Type
	}{
		{"LaunchRequest", reflect.TypeFor[Request]()},
		{"Client", reflect.TypeFor[Client]()},
		{"FHIRContextItem", reflect.TypeFor[FHIRContextItem]()},
		{"LaunchResult", reflect.TypeFor[Result]()},
	} {
		if got, want := props(c.schema), sortedKeys(jsonKeys(c.typ)); !slices.Equal(got, want) {
			t.Errorf("schema %s properties\n got %v\nwant %v (%s JSON fields)", c.schema, got, want, c.typ)
		}
	}
	if got, want := props("RegisteredClient"), registeredClientKeys(t); !slices.Equal(got, want) {
		t.Errorf("schema RegisteredClient properties\n got %v\nwant %v (mockehr/clients.Client JSON fields)", got, want)
	}
	details := append(sortedKeys(jsonKeys(reflect.TypeFor[Result]())), sortedKeys(jsonKeys(reflect.TypeFor[Details]()))...)
	sort.Strings(details)
	if got := props("LaunchDetails"); !slices.Equal(got, details) {
		t.Errorf("LaunchDetails %v, want %v", got, details)
	}
	var types []string
	for _, lt := range LaunchTypes {
		types = append(types, string(lt))
	}
	if got := schemas["LaunchType"].Enum; !slices.Equal(got, types) {
		t.Errorf("LaunchType enum %v, want %v", got, types)
	}
	if got, want := schemas["SimulatedError"].Enum, smart.SimulatedErrorNames(); !slices.Equal(got, want) {
		t.Errorf("SimulatedError enum %v, want %v", got, want)
	}
	// Every $ref resolves.
	for _, m := range regexp.MustCompile(`"\$ref":\s*"#/components/(schemas|responses)/([A-Za-z]+)"`).FindAllStringSubmatch(string(raw), -1) {
		if !strings.Contains(string(raw), `"`+m[2]+`": {`) {
			t.Errorf("dangling $ref %s/%s", m[1], m[2])
		}
	}
}

// registeredClientKeys reads the JSON tags of mockehr/clients.Client from
// its source, so this test follows that package without compiling it (it
// is another helper's work in progress).
func registeredClientKeys(t *testing.T) []string {
	pkgs, err := parser.ParseDir(token.NewFileSet(), "../mockehr/clients", func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		t.Fatalf("parse mockehr/clients: %v", err)
	}
	var keys []string
	found := false
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				ts, ok := n.(*ast.TypeSpec)
				if !ok || ts.Name.Name != "Client" {
					return true
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					return false
				}
				found = true
				for _, fld := range st.Fields.List {
					if fld.Tag == nil || len(fld.Names) == 0 || !fld.Names[0].IsExported() {
						continue
					}
					tag, _ := strconv.Unquote(fld.Tag.Value)
					name, _, _ := strings.Cut(reflect.StructTag(tag).Get("json"), ",")
					if name != "" && name != "-" {
						keys = append(keys, name)
					}
				}
				return false
			})
		}
	}
	if !found {
		t.Fatal("type Client struct not found in mockehr/clients")
	}
	sort.Strings(keys)
	return keys
}
