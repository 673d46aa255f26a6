package upstream_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/upstream"
	"github.com/ehrsim/ehrsim/mockehr/upstream/upstreamtest"
)

// FuzzUpstreamSearchNoLeak: whatever a patient/ token searches through the
// proxy, the answer is a Bundle holding nothing of another patient, or a
// 4xx OperationOutcome; never a 5xx.
func FuzzUpstreamSearchNoLeak(f *testing.F) {
	for _, s := range []string{
		"Observation?", "Observation?patient=p2", "Observation?_id=o3,o1", "Patient?_revinclude=Observation:subject",
		"Encounter?_include=Encounter:patient&_include=Encounter:participant", "Condition?subject=Patient/p2&_count=1&_offset=1",
		"Provenance?_include=Provenance:target", "MedicationRequest?_include=MedicationRequest:medication&_revinclude=Provenance:target",
		"Patient?name=Jones&_sort=-birthdate", "Observation?code=8867-4&date=ge2024", "Observation?_getpages=x",
	} {
		f.Add(s)
	}
	up := upstreamtest.Start(f, fhirtest.World())
	e := newEnv(f, upstream.Options{URL: up.URL, Header: upstreamtest.Header()})
	tok := e.token("patient/*.rs", "p1")
	f.Fuzz(func(t *testing.T, q string) {
		typ, rawq, _ := strings.Cut(q, "?")
		if typ == "" || strings.ContainsAny(typ, "/?#%. ") {
			return
		}
		vals, err := url.ParseQuery(rawq)
		if err != nil {
			return
		}
		r := fetchWith(t, e.base+"/"+typ+"?"+vals.Encode(), tok)
		switch {
		case r.status == 200:
			if !strings.Contains(string(r.body), `"resourceType":"Bundle"`) {
				t.Fatalf("%s: 200 without a Bundle: %s", q, r.body)
			}
			var b struct{ Entry []json.RawMessage }
			if err := json.Unmarshal(r.body, &b); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			for _, e := range b.Entry {
				for _, s := range []string{`"p2"`, "Patient/p2", `"o3"`, `"o4"`, `"c4"`, `"e2"`, `"mr2"`, `"prov3"`} {
					if strings.Contains(string(e), s) {
						t.Fatalf("%s: %s leaked: %s", q, s, e)
					}
				}
			}
		case r.status >= 400 && r.status < 500:
			if !strings.Contains(string(r.body), "OperationOutcome") {
				t.Fatalf("%s: %d without an OperationOutcome: %s", q, r.status, r.body)
			}
		case r.status == 502 && vals.Has("_getpages") && strings.Contains(string(r.body), "HTTP 501"):
			// A made-up paging id: the test upstream has no paging on its
			// base, and its 501 is relayed as the upstream's failure.
		default:
			t.Fatalf("%s: status %d: %s", q, r.status, r.body)
		}
	})
}

// fetchWith is env.get for a fuzz target (which must not use the env's F).
func fetchWith(t *testing.T, u, tok string) resp {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Skip(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}
