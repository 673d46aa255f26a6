package upstream_test

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/upstream"
	"github.com/ehrsim/ehrsim/mockehr/upstream/upstreamtest"
)

// stub is an upstream that misbehaves on purpose: slow, failing,
// oversized, echoing the credential, leaking other patients' resources in
// a Bundle, and writing absolute URLs of its own host.
func stub(t *testing.T) *httptest.Server {
	var ts *httptest.Server
	ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := ts.URL + "/fhir"
		w.Header().Set("Content-Type", "application/fhir+json")
		switch r.URL.Path {
		case "/fhir/Patient/slow":
			select {
			case <-r.Context().Done():
			case <-time.After(10 * time.Second):
			}
		case "/fhir/Patient/boom":
			w.WriteHeader(500)
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"fatal","code":"exception","diagnostics":"database exploded"}]}`))
		case "/fhir/Patient/huge":
			w.Write([]byte(`{"resourceType":"Patient","id":"huge","text":{"div":"` + strings.Repeat("x", 200_000) + `"}}`))
		case "/fhir/Patient/echo":
			w.WriteHeader(400)
			w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"invalid","diagnostics":"you sent ` + r.Header.Get("Authorization") + ` from ` + base + `"}]}`))
		case "/fhir/Patient/garbage":
			w.Write([]byte(`<html>not FHIR</html>`))
		case "/fhir/Patient": // a strict server: no _total
			if r.URL.Query().Has("_total") {
				w.WriteHeader(400)
				w.Write([]byte(`{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"not-supported","diagnostics":"_total"}]}`))
				return
			}
			w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[{"resource":{"resourceType":"Patient","id":"p1","name":[{"family":"Shaw"}]}}]}`))
		case "/fhir/Patient/p1":
			w.Write([]byte(`{"resourceType":"Patient","id":"p1","name":[{"family":"Shaw"}],"generalPractitioner":[{"reference":"` + base + `/Practitioner/pr1"}]}`))
		case "/fhir/Patient/p2", "/fhir/Patient/p3": // p3 answers p2
			w.Write([]byte(`{"resourceType":"Patient","id":"p2"}`))
		case "/fhir/Observation/o1": // claims to be o1, belongs to p2
			w.Write([]byte(`{"resourceType":"Observation","id":"o1","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}}`))
		case "/fhir/Observation":
			// Ignores the compartment parameter and includes p2's things.
			b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "searchset", "total": 3,
				"link": []any{map[string]any{"relation": "next", "url": base + "/Observation?_count=2&_offset=2"},
					map[string]any{"relation": "last", "url": base + "?_getpages=abc&_getpagesoffset=2&_count=2"}},
				"entry": []any{
					map[string]any{"fullUrl": base + "/Observation/a", "search": map[string]any{"mode": "match"},
						"resource": map[string]any{"resourceType": "Observation", "id": "a", "status": "final", "code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": base + "/Patient/p1"}}},
					map[string]any{"fullUrl": base + "/Observation/b", "search": map[string]any{"mode": "match"},
						"resource": map[string]any{"resourceType": "Observation", "id": "b", "status": "final", "code": map[string]any{"text": "x"}, "subject": map[string]any{"reference": "Patient/p2"}}},
					map[string]any{"fullUrl": base + "/Patient/p2", "search": map[string]any{"mode": "include"},
						"resource": map[string]any{"resourceType": "Patient", "id": "p2"}},
					map[string]any{"fullUrl": base + "/Basic/z", "search": map[string]any{"mode": "include"},
						"resource": map[string]any{"resourceType": "Basic", "id": "z"}},
				}})
			w.Write(b)
		case "/fhir/Patient/p1/$everything":
			w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","link":[{"relation":"next","url":"` + base + `?_getpages=ev1&_getpagesoffset=1"}],` +
				`"entry":[{"fullUrl":"` + base + `/Patient/p1","resource":{"resourceType":"Patient","id":"p1"}}]}`))
		case "/fhir": // a HAPI-style page of a stored search
			if r.URL.Query().Get("_getpages") == "ev1" {
				w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[` +
					`{"resource":{"resourceType":"Observation","id":"f","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}},` +
					`{"resource":{"resourceType":"Observation","id":"g","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}}}]}`))
				return
			}
			if r.URL.Query().Get("_getpages") != "abc" {
				w.WriteHeader(404)
				return
			}
			w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[` +
				`{"fullUrl":"` + base + `/Observation/c","resource":{"resourceType":"Observation","id":"c","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p1"}}},` +
				`{"fullUrl":"` + base + `/Observation/d","resource":{"resourceType":"Observation","id":"d","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/p2"}}},` +
				`{"fullUrl":"` + base + `/Condition/e","search":{"mode":"match"},"resource":{"resourceType":"Condition","id":"e","subject":{"reference":"Patient/p1"}}}]}`))
		case "/fhir/metadata":
			w.Write([]byte(`{"resourceType":"CapabilityStatement","fhirVersion":"4.0.1","url":"` + base + `/metadata","rest":[{"mode":"server","security":{"description":"the stub's own"},` +
				`"resource":[{"type":"Patient"},{"type":"Basic"},{"type":"Observation"}]}]}`))
		case "/fhir/Condition": // a search answer that outgrows the limit while streamed
			w.Write([]byte(`{"resourceType":"Bundle","type":"searchset","entry":[`))
			for i := 0; i < 2000; i++ {
				w.Write([]byte(`{"fullUrl":"` + base + `/Condition/x` + strconv.Itoa(i) + `","resource":{"resourceType":"Condition","id":"x` + strconv.Itoa(i) + `"}},`))
			}
			w.Write([]byte(`{}]}`))
		case "/fhir/Procedure": // announces its oversize
			body := `{"resourceType":"Bundle","type":"searchset","total":0,"x":"` + strings.Repeat("y", 100_000) + `"}`
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write([]byte(body))
		default:
			w.WriteHeader(404)
		}
	}))
	t.Cleanup(ts.Close)
	return ts
}

func stubEnv(t *testing.T) (*env, *httptest.Server) {
	s := stub(t)
	e := newEnv(t, upstream.Options{URL: s.URL + "/fhir", Header: upstreamtest.Header(), Timeout: 300 * time.Millisecond, MaxBody: 64 << 10})
	t.Cleanup(e.noCredential)
	return e, s
}

func TestUpstreamFailuresAreClearFHIRErrors(t *testing.T) {
	e, _ := stubEnv(t)
	tok := e.token("user/*.rs", "")
	for _, c := range []struct {
		path   string
		status int
		words  string
	}{
		{"Patient/slow", 504, "did not answer within"},
		{"Patient/boom", 502, "HTTP 500"},
		{"Patient/huge", 502, "--fhir-upstream-max-body"},
		{"Patient/garbage", 502, "not that Patient"},
		{"Patient/echo", 400, "you sent"},
		{"Patient/missing", 404, "does not exist"},
	} {
		r := e.get(tok, c.path)
		r.want(t, c.status, "OperationOutcome")
		if d := r.diag(t); !strings.Contains(d, c.words) {
			t.Errorf("%s: diagnostics %q lack %q", c.path, d, c.words)
		}
		// ehrsim stays healthy after each.
		e.get(tok, "Patient/p1").want(t, 200, "Patient")
	}
	// The stub's own URLs are rewritten to ehrsim's base.
	r := e.get(tok, "Patient/p1")
	if !strings.Contains(string(r.body), e.base+"/Practitioner/pr1") {
		t.Errorf("absolute reference not rewritten: %s", r.body)
	}
	// metadata: the stub's statement, ehrsim's security.
	r = e.get("", "metadata")
	r.want(t, 200, "CapabilityStatement")
	if strings.Contains(string(r.body), "the stub's own") || !strings.Contains(string(r.body), "oauth-uris") || !strings.Contains(string(r.body), e.base+"/metadata") {
		t.Errorf("metadata: %s", r.body)
	}
	if strings.Contains(string(r.body), `"Basic"`) || !strings.Contains(string(r.body), `"Observation"`) {
		t.Errorf("metadata should list only the types ehrsim serves: %s", r.body)
	}
	// A streamed answer: announced too large, a clean 502; growing too
	// large mid-way, the connection is cut (its status was sent) and
	// ehrsim stays healthy.
	e.get(tok, "Procedure").want(t, 502, "OperationOutcome")
	res, err := http.DefaultClient.Do(mustRequest(t, e.base+"/Condition", tok))
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Error("a streamed answer over the limit was delivered whole")
	}
	e.get(tok, "Patient/p1").want(t, 200, "Patient")
	// A slow upstream gives the directory's callers an error, not a hang.
	if _, err := e.proxy.Patient(t.Context(), "slow"); !errors.Is(err, upstream.ErrUnavailable) || !strings.Contains(err.Error(), "did not answer within") {
		t.Errorf("directory on a slow upstream: %v", err)
	}
	// The directory pages a server that refuses _total, counting what it saw.
	if pg, err := e.proxy.PagePatients(t.Context(), "", 0, 10); err != nil || pg.Total != 1 || len(pg.Patients) != 1 {
		t.Errorf("PagePatients on a server without _total = %+v, %v", pg, err)
	}
	// The echoed credential was scrubbed (noCredential runs at cleanup).
	if r := e.get(tok, "Patient/echo"); !strings.Contains(string(r.body), "(redacted)") {
		t.Errorf("echo: %s", r.body)
	}
}

func TestUpstreamRefusedConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	e := newEnv(t, upstream.Options{URL: "http://" + addr + "/fhir", Header: upstreamtest.Header()})
	t.Cleanup(e.noCredential)
	tok := e.token("user/*.rs", "")
	r := e.get(tok, "Patient/p1")
	r.want(t, 502, "OperationOutcome")
	if d := r.diag(t); !strings.Contains(d, "refused the connection") || strings.Contains(d, addr) {
		t.Errorf("diagnostics %q", d)
	}
	e.get("", "metadata").want(t, 502, "OperationOutcome")
	if _, err := e.proxy.Patient(t.Context(), "p1"); !errors.Is(err, upstream.ErrUnavailable) || errors.Is(err, smart.ErrNotFound) || !strings.Contains(err.Error(), "refused the connection") {
		t.Errorf("directory with the upstream down: %v", err)
	}
	if !strings.Contains(e.logs.String(), "request failed") {
		t.Errorf("a 502 is not logged: %s", e.logs.String())
	}
}

func TestUpstreamMisbehavingAnswersAreJudged(t *testing.T) {
	e, s := stubEnv(t)
	tok := e.token("patient/*.rs", "p1")
	// A search whose upstream ignores the compartment: only p1's match
	// stays, p2's Patient and the unknown Basic are dropped, the total
	// that no longer holds is removed, every URL is ehrsim's.
	r := e.get(tok, "Observation?_include=Observation:subject")
	r.want(t, 200, "Bundle")
	if got := r.ids(t); !slices.Equal(got, []string{"Observation/a"}) {
		t.Errorf("judged Bundle = %v", got)
	}
	m := r.json(t)
	if _, ok := m["total"]; ok {
		t.Errorf("total kept after dropping a match: %s", r.body)
	}
	if strings.Contains(string(r.body), s.URL) || !strings.Contains(string(r.body), e.base+"/Observation?_count=2") {
		t.Errorf("URLs not rewritten: %s", r.body)
	}
	// HAPI-style paging links on the bare base become links on the
	// searched type, and the page they fetch is judged like the first.
	page := e.base + "/Observation?_getpages=abc&_getpagesoffset=2&_count=2"
	if !strings.Contains(strings.ReplaceAll(string(r.body), `\u0026`, "&"), page) {
		t.Fatalf("paging link not rewritten to %s: %s", page, r.body)
	}
	r = e.get(tok, page)
	r.want(t, 200, "Bundle")
	if got := r.ids(t); !slices.Equal(got, []string{"Observation/c"}) {
		t.Errorf("judged page = %v", got)
	}
	e.get(tok, page+"&code=x").want(t, 400, "OperationOutcome")
	// Streamed (nothing to filter), the paging link is rewritten too.
	r = e.get(e.token("user/*.rs", ""), "Observation")
	if !strings.Contains(strings.ReplaceAll(string(r.body), `\u0026`, "&"), page) || strings.Contains(string(r.body), s.URL) {
		t.Errorf("streamed paging link: %s", r.body)
	}
	// $everything's paging links come back to $everything, judged again.
	r = e.get(tok, "Patient/p1/$everything")
	r.want(t, 200, "Bundle")
	evPage := e.base + "/Patient/p1/$everything?_getpages=ev1&_getpagesoffset=1"
	if !strings.Contains(string(r.body), evPage) {
		t.Fatalf("$everything paging link not re-routed to %s: %s", evPage, r.body)
	}
	r = e.get(tok, "Patient/p1/$everything?_getpages=ev1&_getpagesoffset=1")
	r.want(t, 200, "Bundle")
	if got := r.ids(t); !slices.Equal(got, []string{"Observation/f"}) {
		t.Errorf("judged $everything page = %v", got)
	}
	e.get(tok, "Patient/p2/$everything?_getpages=ev1").want(t, 404, "OperationOutcome")
	e.get(tok, "Patient/p1/$everything?_getpages=ev1&_type=Condition").want(t, 400, "OperationOutcome")
	// A read whose answer is another patient's: 404.
	e.get(tok, "Observation/o1").want(t, 404, "OperationOutcome")
	// A read answered with another resource than asked: 502.
	user := e.token("user/*.rs", "")
	e.get(user, "Patient/p2").want(t, 200, "Patient")
	e.get(user, "Patient/p3").want(t, 502, "OperationOutcome")
}

func mustRequest(t *testing.T, u, tok string) *http.Request {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	return req
}
