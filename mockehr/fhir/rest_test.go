package fhir

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// TestERR08_ClientMistakesGetOperationOutcomes: every client error is a
// 4xx OperationOutcome with the right status, never a 500.
func TestERR08_ClientMistakesGetOperationOutcomes(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token(smart.Grant{Scopes: []string{"user/*.cruds"}})
	obs := string(fhirtest.Observation("o1", "p1", "vital-signs", "8867-4", "Heart rate", "2024-05-01"))
	if r := e.do("DELETE", "/fhir/Observation/o2", tok, ""); r.status != 204 {
		t.Fatalf("delete: %d", r.status)
	}
	cases := []struct {
		name, method, path, body string
		hdr                      []string
		want                     int
	}{
		{"unknown type", "GET", "/fhir/Foo/1", "", nil, 404},
		{"unknown type search", "GET", "/fhir/Foo?x=1", "", nil, 404},
		{"unknown id", "GET", "/fhir/Observation/nope", "", nil, 404},
		{"deleted", "GET", "/fhir/Observation/o2", "", nil, 410},
		{"deleted vread of the deletion", "GET", "/fhir/Observation/o2/_history/2", "", nil, 410},
		{"unknown version", "GET", "/fhir/Observation/o1/_history/9", "", nil, 404},
		{"bad version", "GET", "/fhir/Observation/o1/_history/x", "", nil, 400},
		{"bad search param", "GET", "/fhir/Observation?foo=1", "", nil, 400},
		{"bad date", "GET", "/fhir/Observation?date=2024-99", "", nil, 400},
		{"bad _count", "GET", "/fhir/Observation?_count=lots", "", nil, 400},
		{"bad include", "GET", "/fhir/Observation?_include=Observation:code", "", nil, 400},
		{"bad JSON", "POST", "/fhir/Observation", `{"resourceType":`, nil, 400},
		{"not an object", "POST", "/fhir/Observation", `[1]`, nil, 400},
		{"wrong resourceType", "POST", "/fhir/Observation", `{"resourceType":"Patient"}`, nil, 400},
		{"id mismatch", "PUT", "/fhir/Observation/o9", obs, nil, 400},
		{"missing id on update", "PUT", "/fhir/Observation/o1", `{"resourceType":"Observation","status":"final"}`, nil, 400},
		{"bad id", "PUT", "/fhir/Observation/o1", `{"resourceType":"Observation","id":"a b"}`, nil, 400},
		{"version conflict", "PUT", "/fhir/Observation/o1", obs, []string{"If-Match", `W/"7"`}, 412},
		{"bad If-Match", "PUT", "/fhir/Observation/o1", obs, []string{"If-Match", `nonsense`}, 400},
		{"unsupported media type", "POST", "/fhir/Observation", obs, []string{"Content-Type", "application/xml"}, 415},
		{"form on create", "POST", "/fhir/Observation", obs, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415},
		{"patch wrong type", "PATCH", "/fhir/Observation/o1", `[]`, []string{"Content-Type", "application/fhir+json"}, 415},
		{"patch malformed", "PATCH", "/fhir/Observation/o1", `{"op":"x"}`, []string{"Content-Type", "application/json-patch+json"}, 400},
		{"patch test fails", "PATCH", "/fhir/Observation/o1", `[{"op":"test","path":"/status","value":"draft"}]`, []string{"Content-Type", "application/json-patch+json"}, 422},
		{"patch bad path", "PATCH", "/fhir/Observation/o1", `[{"op":"remove","path":"/nope/0"}]`, []string{"Content-Type", "application/json-patch+json"}, 422},
		{"patch changes id", "PATCH", "/fhir/Observation/o1", `[{"op":"replace","path":"/id","value":"zz"}]`, []string{"Content-Type", "application/json-patch+json"}, 400},
		{"patch changes type", "PATCH", "/fhir/Observation/o1", `[{"op":"replace","path":"/resourceType","value":"Patient"}]`, []string{"Content-Type", "application/json-patch+json"}, 400},
		{"search POST wrong type", "POST", "/fhir/Observation/_search", "x", []string{"Content-Type", "text/plain"}, 415},
		{"xml accept", "GET", "/fhir/Observation/o1", "", []string{"Accept", "application/fhir+xml"}, 406},
		{"xml _format", "GET", "/fhir/Observation/o1?_format=xml", "", nil, 406},
		{"xml metadata", "GET", "/fhir/metadata", "", []string{"Accept", "application/fhir+xml"}, 406},
		{"unknown operation", "GET", "/fhir/Observation/o1/$everything", "", nil, 404},
		{"delete unknown", "DELETE", "/fhir/Observation/none", "", nil, 404},
		{"everything bad param", "GET", "/fhir/Patient/p1/$everything?start=2020", "", nil, 400},
	}
	for _, c := range cases {
		r := e.do(c.method, c.path, tok, c.body, c.hdr...)
		expectOutcome(t, r, c.want, c.name)
	}
	for _, acc := range []string{"application/fhir+json", "application/json", "*/*", "text/html,application/xhtml+xml,*/*;q=0.8", ""} {
		if r := e.get("/fhir/Observation/o1", tok, "Accept", acc); r.status != 200 {
			t.Errorf("Accept %q: %d", acc, r.status)
		}
	}
	if r := e.get("/fhir/Observation/o1?_format=json", tok); r.status != 200 {
		t.Errorf("_format=json: %d", r.status)
	}
}

// TestERR08_UnroutedRequestsGetOperationOutcomes: every answer under a FHIR
// base is FHIR, also for paths and methods no interaction serves: 404 for
// unknown paths and types, 405 with Allow for a known path's other
// methods, 501 for batch/transaction and conditional update/delete/patch.
// None needs a token; all keep CORS. The site-wide HTML 404 the ui package
// registers on "/" is mimicked here: it must not answer under a base.
func TestERR08_UnroutedRequestsGetOperationOutcomes(t *testing.T) {
	e := newEnv(t, nil)
	e.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte("<!doctype html><title>Page not found</title>"))
	})
	tok := e.token(smart.Grant{Scopes: []string{"user/*.cruds"}})
	cases := []struct {
		method, path string
		want         int
		allow, diag  string
	}{
		{"GET", "/Patient/A/B/C", 404, "", ""},
		{"DELETE", "/Patient/A/B/C", 404, "", ""},
		{"GET", "/Patient/p1/x/1", 404, "", ""},
		{"GET", "/Patient/", 404, "", ""},
		{"TRACE", "/Foo", 404, "", "resource type Foo is not supported"},
		{"POST", "/metadata/x", 404, "", "there is no FHIR interaction at"},
		{"PUT", "/Foo?identifier=x", 404, "", "resource type Foo is not supported"},
		{"GET", "/Foo/1/2/3", 404, "", ""},
		{"TRACE", "/Patient", 405, "GET, HEAD, POST, OPTIONS", ""},
		{"PUT", "/Patient", 405, "GET, HEAD, POST, OPTIONS", ""},
		{"PATCH", "/metadata", 405, "GET, HEAD, OPTIONS", ""},
		{"DELETE", "/metadata", 405, "GET, HEAD, OPTIONS", ""},
		{"POST", "/Patient/p1", 405, "GET, HEAD, PUT, PATCH, DELETE, OPTIONS", ""},
		{"PUT", "/Patient/p1/_history", 405, "GET, HEAD, OPTIONS", ""},
		{"DELETE", "/Patient/p1/_history/1", 405, "GET, HEAD, OPTIONS", ""},
		{"POST", "/Patient/p1/$everything", 405, "GET, HEAD, OPTIONS", ""},
		{"POST", "/.well-known/smart-configuration", 405, "GET, HEAD, OPTIONS", ""},
		{"POST", "", 501, "", "batch/transaction is not supported"},
		{"POST", "/", 501, "", "batch/transaction is not supported"},
		{"GET", "", 501, "", "whole-system search is not supported"},
		{"PUT", "", 405, "OPTIONS", ""},
		{"PUT", "/Patient?identifier=x", 501, "", "conditional update is not supported"},
		{"DELETE", "/Patient?name=x", 501, "", "conditional delete is not supported"},
		{"PATCH", "/Observation?code=x", 501, "", "conditional patch is not supported"},
	}
	for _, base := range []string{"/fhir", "/sim/sc1/fhir"} {
		for _, c := range cases {
			name := c.method + " " + base + c.path
			for _, token := range []string{"", tok} {
				t.Run(name, func(t *testing.T) {
					r := e.do(c.method, base+c.path, token, "", "Origin", "https://app.example")
					expectOutcome(t, r, c.want, name)
					if got := r.header.Get("Allow"); got != c.allow {
						t.Errorf("Allow %q, want %q", got, c.allow)
					}
					if got := r.header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
						t.Errorf("Access-Control-Allow-Origin %q", got)
					}
					if got := r.header.Get("WWW-Authenticate"); got != "" {
						t.Errorf("WWW-Authenticate %q: no token is needed for this answer", got)
					}
					if !strings.Contains(string(r.body), c.diag) {
						t.Errorf("diagnostics do not say %q: %s", c.diag, r.body)
					}
				})
			}
		}
	}
	// An unknown scenario is 404 whatever the path or method.
	for _, m := range []string{"GET", "TRACE", "POST"} {
		expectOutcome(t, e.do(m, "/sim/bad1/fhir/Patient/A/B/C", "", ""), 404, m+" unknown scenario")
	}
	expectOutcome(t, e.do("POST", "/sim/bad1/fhir", "", ""), 404, "POST unknown scenario base")
	// HEAD of an unknown path: the status and type, without a body.
	if r := e.do("HEAD", "/fhir/Patient/A/B/C", "", ""); r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
		t.Errorf("HEAD unknown path: %d %q", r.status, r.header.Get("Content-Type"))
	}
	// A browser's preflight for a batch POST to the base is answered.
	if r := e.do("OPTIONS", "/fhir", "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "POST"); r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("OPTIONS /fhir: %d %v", r.status, r.header)
	}
	// Routes that exist keep answering as before.
	if r := e.get("/fhir/Patient/p1", tok); r.status != 200 {
		t.Errorf("read: %d", r.status)
	}
	expectOutcome(t, e.get("/fhir/Patient/p1", ""), 401, "read without a token")
	if r := e.get("/fhir/metadata", ""); r.status != 200 {
		t.Errorf("metadata: %d", r.status)
	}
	// Outside the bases the site-wide handler still answers.
	if r := e.get("/fhirx/Patient", ""); r.status != 404 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("/fhirx: %d %q", r.status, r.header.Get("Content-Type"))
	}
}

func TestLenientHandlingDropsBadParams(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token(smart.Grant{Scopes: []string{"user/*.rs"}})
	r := e.get("/fhir/Observation?patient=p1&foo=bar&_count=1", tok, "Prefer", "handling=lenient")
	if r.status != 200 {
		t.Fatalf("lenient: %d %s", r.status, r.body)
	}
	if got := r.ids(t, "match"); !slices.Equal(got, []string{"Observation/o1"}) {
		t.Errorf("matches %v", got)
	}
	if got := r.ids(t, "outcome"); len(got) != 1 || !strings.Contains(string(r.body), "foo") {
		t.Errorf("outcome entry: %v %s", got, r.body)
	}
	// The next link leaves the ignored parameter out, so it works without Prefer.
	next := link(t, r, "next")
	if strings.Contains(next, "foo") {
		t.Errorf("next link keeps ignored param: %s", next)
	}
	if r2 := e.get(strings.TrimPrefix(next, e.ts.URL), tok); r2.status != 200 {
		t.Errorf("following next: %d", r2.status)
	}
}

func link(t *testing.T, r resp, rel string) string {
	t.Helper()
	var b struct {
		Link []struct{ Relation, URL string }
	}
	json.Unmarshal(r.body, &b)
	for _, l := range b.Link {
		if l.Relation == rel {
			return l.URL
		}
	}
	return ""
}

// TestPagingVisitsEveryMatchOnce follows next links to the end, on the
// plain and a scenario base, and checks previous links.
func TestPagingVisitsEveryMatchOnce(t *testing.T) {
	e := newEnv(t, nil)
	for _, base := range []string{"/fhir", "/sim/sc7/fhir"} {
		tok := e.token(smart.Grant{Scopes: []string{"user/*.cruds"}, Audience: e.ts.URL + base})
		for i := 0; i < 23; i++ {
			body := string(fhirtest.Observation("x", "p1", "laboratory", "2345-7", "Glucose", "2024-03-"+strconv.Itoa(10+i%10)))
			if r := e.do("POST", base+"/Observation", tok, body); r.status != 201 {
				t.Fatalf("create: %d %s", r.status, r.body)
			}
		}
		want := e.get(base+"/Observation?code=2345-7&_count=1000", tok).ids(t, "match")
		seen := map[string]int{}
		next := e.ts.URL + base + "/Observation?code=2345-7&_count=5&_sort=-date"
		pages := 0
		for next != "" {
			if !strings.HasPrefix(next, e.ts.URL+base+"/") {
				t.Fatalf("link %s is not on the request's base %s", next, base)
			}
			r := e.get(strings.TrimPrefix(next, e.ts.URL), tok)
			if r.status != 200 {
				t.Fatalf("page %s: %d", next, r.status)
			}
			if total := r.json(t)["total"]; total != float64(len(want)) {
				t.Errorf("total %v, want %d", total, len(want))
			}
			for _, id := range r.ids(t, "match") {
				seen[id]++
			}
			if pages > 0 && link(t, r, "previous") == "" {
				t.Errorf("page %d has no previous link", pages)
			}
			pages++
			next = link(t, r, "next")
		}
		if pages != (len(want)+4)/5 || len(seen) != len(want) || len(want) < 23 {
			t.Errorf("%s: %d pages, %d distinct of %d", base, pages, len(seen), len(want))
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("%s seen %d times", id, n)
			}
		}
	}
}

func TestSearchResultParameters(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token(smart.Grant{Scopes: []string{"user/*.rs"}})
	if r := e.get("/fhir/Observation?_summary=count", tok); r.json(t)["total"] != float64(4) || len(r.ids(t, "")) != 0 {
		t.Errorf("_summary=count: %s", r.body)
	}
	r := e.get("/fhir/Observation?_id=o1&_elements=code", tok)
	var b struct {
		Entry []struct{ Resource map[string]any }
	}
	json.Unmarshal(r.body, &b)
	if len(b.Entry) != 1 || b.Entry[0].Resource["code"] == nil || b.Entry[0].Resource["subject"] != nil || !strings.Contains(string(r.body), "SUBSETTED") {
		t.Errorf("_elements: %s", r.body)
	}
	if got := e.get("/fhir/Observation?patient=p1&_sort=date", tok).ids(t, ""); !slices.Equal(got, []string{"Observation/o2", "Observation/o1"}) {
		t.Errorf("_sort=date: %v", got)
	}
	if got := e.get("/fhir/Observation?_sort=-_lastUpdated&_count=1", tok).ids(t, ""); len(got) != 1 {
		t.Errorf("_sort=-_lastUpdated: %v", got)
	}
	form := url.Values{"patient": {"p2"}, "category": {"vital-signs"}}.Encode()
	if got := e.do("POST", "/fhir/Observation/_search", tok, form, "Content-Type", "application/x-www-form-urlencoded").ids(t, ""); !slices.Equal(got, []string{"Observation/o3"}) {
		t.Errorf("POST _search: %v", got)
	}
	r = e.get("/fhir/Observation/o1?_elements=status", tok)
	if m := r.json(t); m["status"] != "final" || m["code"] != nil {
		t.Errorf("read _elements: %s", r.body)
	}
}

// TestVersioningAndHeaders covers create, update, update-as-create,
// patch, If-Match, vread, history and delete with their headers.
func TestVersioningAndHeaders(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token(smart.Grant{Scopes: []string{"user/*.cruds"}})
	base := e.ts.URL + "/fhir"
	r := e.do("POST", "/fhir/Observation", tok, string(fhirtest.Observation("client-id-ignored", "p1", "laboratory", "2345-7", "Glucose", "2025-01-01")))
	if r.status != 201 || r.header.Get("ETag") != `W/"1"` {
		t.Fatalf("create: %d %v", r.status, r.header)
	}
	m := r.json(t)
	id := m["id"].(string)
	if id == "client-id-ignored" || r.header.Get("Location") != base+"/Observation/"+id+"/_history/1" {
		t.Errorf("create id %s Location %s", id, r.header.Get("Location"))
	}
	if meta := m["meta"].(map[string]any); meta["versionId"] != "1" || meta["lastUpdated"] == "" {
		t.Errorf("meta %v", meta)
	}
	m["status"] = "amended"
	body, _ := json.Marshal(m)
	r = e.do("PUT", "/fhir/Observation/"+id, tok, string(body), "If-Match", `W/"1"`)
	if r.status != 200 || r.header.Get("ETag") != `W/"2"` || r.header.Get("Content-Location") != base+"/Observation/"+id+"/_history/2" {
		t.Fatalf("update: %d %v %s", r.status, r.header, r.body)
	}
	expectOutcome(t, e.do("PUT", "/fhir/Observation/"+id, tok, string(body), "If-Match", `W/"1"`), 412, "stale If-Match")
	r = e.do("PATCH", "/fhir/Observation/"+id, tok, `[{"op":"test","path":"/status","value":"amended"},{"op":"replace","path":"/status","value":"corrected"},{"op":"add","path":"/note","value":[{"text":"checked"}]}]`,
		"Content-Type", "application/json-patch+json", "If-Match", `W/"2"`)
	if r.status != 200 || r.header.Get("ETag") != `W/"3"` || r.json(t)["status"] != "corrected" {
		t.Fatalf("patch: %d %s", r.status, r.body)
	}
	if got := e.get("/fhir/Observation?status=corrected", tok).ids(t, ""); !slices.Equal(got, []string{"Observation/" + id}) {
		t.Errorf("patched resource not reindexed: %v", got)
	}
	if r := e.get("/fhir/Observation/"+id+"/_history/1", tok); r.status != 200 || r.json(t)["status"] != "final" {
		t.Errorf("vread 1: %d %s", r.status, r.body)
	}
	h := e.get("/fhir/Observation/"+id+"/_history", tok)
	if hm := h.json(t); hm["type"] != "history" || hm["total"] != float64(3) {
		t.Errorf("history: %s", h.body)
	}
	r = e.do("PUT", "/fhir/Observation/client-chosen", tok, strings.Replace(string(fhirtest.Observation("client-chosen", "p1", "laboratory", "1", "x", "2025")), "", "", 0))
	if r.status != 201 || r.header.Get("Location") != base+"/Observation/client-chosen/_history/1" {
		t.Errorf("update-as-create: %d %v", r.status, r.header)
	}
	r = e.do("PUT", "/fhir/Observation/client-chosen", tok, string(fhirtest.Observation("client-chosen", "p1", "laboratory", "1", "x", "2025")), "Prefer", "return=minimal")
	if r.status != 200 || len(r.body) != 0 || r.header.Get("ETag") != `W/"2"` {
		t.Errorf("return=minimal: %d %q", r.status, r.body)
	}
	if r := e.do("DELETE", "/fhir/Observation/"+id, tok, ""); r.status != 204 {
		t.Errorf("delete: %d", r.status)
	}
	expectOutcome(t, e.get("/fhir/Observation/"+id, tok), 410, "read after delete")
	if r := e.do("DELETE", "/fhir/Observation/"+id, tok, ""); r.status != 204 {
		t.Errorf("second delete: %d", r.status)
	}
	r = e.do("PUT", "/fhir/Observation/"+id, tok, strings.Replace(string(body), `"status":"amended"`, `"status":"final"`, 1))
	if r.status != 201 || r.header.Get("ETag") != `W/"5"` {
		t.Errorf("recreate after delete: %d %v", r.status, r.header.Get("ETag"))
	}
	if r := e.get("/fhir/Observation/o1", tok, "If-None-Match", `W/"1"`); r.status != 304 {
		t.Errorf("If-None-Match: %d", r.status)
	}
}

// TestWritesSurviveRestart: HTTP writes land in SQLite and a new server
// over the same data directory serves them (deletes too).
func TestWritesSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, db)
	tok := e.token(smart.Grant{Scopes: []string{"user/*.cruds"}})
	r := e.do("POST", "/fhir/Condition", tok, string(fhirtest.Condition("x", "p1", "problem-list-item", "73211009", "Diabetes mellitus", "active")))
	if r.status != 201 {
		t.Fatal(r.status)
	}
	id := r.json(t)["id"].(string)
	if r := e.do("DELETE", "/fhir/Observation/o1", tok, ""); r.status != 204 {
		t.Fatal(r.status)
	}
	db.Close()
	db2, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	e2 := newEnv(t, db2)
	tok2 := e2.token(smart.Grant{Scopes: []string{"user/*.cruds"}})
	if r := e2.get("/fhir/Condition/"+id, tok2); r.status != 200 {
		t.Errorf("created Condition after restart: %d", r.status)
	}
	expectOutcome(t, e2.get("/fhir/Observation/o1", tok2), 410, "deleted o1 after restart")
	if p, _ := e2.store.Patient(ctx, "p1"); !strings.Contains(p.Summary, "Diabetes mellitus") {
		t.Errorf("directory summary does not reflect the write: %q", p.Summary)
	}
}

func TestNewValidatesOptions(t *testing.T) {
	if _, err := New(Options{BaseURL: "localhost:8080/"}); err == nil || !strings.Contains(err.Error(), "Store") || !strings.Contains(err.Error(), "BaseURL") || !strings.Contains(err.Error(), "Grants") {
		t.Errorf("New with bad options: %v", err)
	}
}
