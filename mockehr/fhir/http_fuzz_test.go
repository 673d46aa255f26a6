package fhir

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzSearchHTTP throws arbitrary search requests (type, query string,
// _include chains, POST _search bodies, tokens) at the real FHIR handlers
// in-process: every answer is a 2xx Bundle or a 4xx OperationOutcome (or
// the documented 501 not-supported, e.g. whole-system search) with
// the FHIR JSON content type, no other 5xx, never a hang. Its seed corpus
// (and testdata/fuzz/FuzzSearchHTTP) runs with the ordinary tests.
func FuzzSearchHTTP(f *testing.F) {
	for _, s := range [][3]string{
		{"Observation", "patient=p1&category=vital-signs", "read"},
		{"Observation", "_include=Observation:patient&_include=Observation:encounter&_revinclude=Provenance:target", "read"},
		{"Observation", "_include=Observation:*&_include:iterate=Encounter:subject", "read"},
		{"Patient", "_revinclude=Observation:subject:Patient&_count=0", "read"},
		{"Observation", "date=ge2024-01&_sort=-date,code&_count=2&_offset=1", "read"},
		{"Observation", "code:not=x&value-quantity=gt5||kg", "read"},
		{"Observation", "_count=-1&_offset=99999999999999999999", "read"},
		{"Observation", "%zz=&&=", "read"},
		{"Condition", "patient=p1&_elements=code,subject&_summary=count", "none"},
		{"Bogus", "x=y", "read"},
		{"Observation", "patient=p1", "expired"},
		{"Observation", "patient=p1", "post"},
		{"Patient/../metadata", "", "read"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	e := newEnv(f, nil)
	read := e.scoped("patient/*.rs")
	f.Fuzz(func(t *testing.T, typ, query, mode string) {
		if strings.ContainsAny(typ, "?#") {
			return // they would move the query; covered by query itself
		}
		method, target, body := http.MethodGet, "/fhir/"+typ+"?"+query, ""
		if mode == "post" {
			method, target, body = http.MethodPost, "/fhir/"+typ+"/_search", query
		}
		req, err := http.NewRequest(method, target, strings.NewReader(body))
		if err != nil {
			return // not a request a client can send (a space in the type, say)
		}
		req.RequestURI = req.URL.RequestURI()
		if mode == "post" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		switch mode {
		case "none":
		case "expired":
			req.Header.Set("Authorization", "Bearer resolver-says-expired")
		case "read", "post":
			req.Header.Set("Authorization", "Bearer "+read)
		default:
			req.Header.Set("Authorization", "Bearer "+mode)
		}
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() { e.mux.ServeHTTP(rec, req); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			panic(fmt.Sprintf("hang: %s %s", req.Method, req.URL))
		}
		checkFHIRAnswer(t, req, rec)
	})
}

// checkFHIRAnswer: never a 5xx but 501 not-supported; a 4xx or 501 is an OperationOutcome (or the mux's
// own 404/405 for paths outside /fhir); a 2xx is JSON.
func checkFHIRAnswer(t *testing.T, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	// 501 not-supported is the documented answer for interactions this
	// server does not implement (whole-system search, batch, conditional
	// writes; doc.go, rest_test.go): the one 5xx allowed.
	notSupported := rec.Code == http.StatusNotImplemented && strings.Contains(rec.Body.String(), `"code":"not-supported"`)
	if rec.Code >= 500 && !notSupported {
		t.Fatalf("%s %s: %d %s", req.Method, req.URL, rec.Code, rec.Body)
	}
	if rec.Code >= 300 && rec.Code < 400 {
		return
	}
	if !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/fhir+json") {
		if rec.Code == http.StatusNotFound || rec.Code == http.StatusMethodNotAllowed || rec.Code == http.StatusBadRequest {
			return // net/http's mux (a path that is not under /fhir after cleaning)
		}
		t.Fatalf("%s %s: %d with Content-Type %q: %.300s", req.Method, req.URL, rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
	var body struct {
		ResourceType string            `json:"resourceType"`
		Issue        []json.RawMessage `json:"issue"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("%s %s: %d, body is not JSON (%v): %.300s", req.Method, req.URL, rec.Code, err, rec.Body)
	}
	if rec.Code >= 400 && (body.ResourceType != "OperationOutcome" || len(body.Issue) == 0) {
		t.Fatalf("%s %s: %d without an OperationOutcome: %.300s", req.Method, req.URL, rec.Code, rec.Body)
	}
}
