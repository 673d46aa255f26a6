package upstream_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/upstream"
	"github.com/ehrsim/ehrsim/mockehr/upstream/upstreamtest"
)

// world starts the honest upstream (fhirtest.World: p1 Amy Shaw and p2
// Bob Jones) and ehrsim in front of it.
func world(t *testing.T) (*env, *upstreamtest.Server) {
	up := upstreamtest.Start(t, fhirtest.World())
	e := newEnv(t, upstream.Options{URL: up.URL, Header: upstreamtest.Header()})
	t.Cleanup(e.noCredential)
	return e, up
}

// noLeak fails when anything of patient p2 is in body (but a Bundle's
// links, which repeat the query asked).
func noLeak(t *testing.T, body []byte) {
	t.Helper()
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) == nil && m["link"] != nil {
		delete(m, "link")
		body, _ = json.Marshal(m)
	}
	for _, s := range fhirtest.P2Only {
		if strings.Contains(string(body), s) {
			t.Errorf("%q of patient p2 leaked: %s", s, body)
		}
	}
}

func TestUpstreamReadNarrowScope(t *testing.T) {
	e, up := world(t)
	tok := e.token("patient/*.rs", "p1")

	r := e.get(tok, "Patient/p1")
	r.want(t, 200, "Patient")
	if !strings.Contains(string(r.body), "Amy") || r.header.Get("ETag") == "" {
		t.Errorf("Patient/p1 = %s (ETag %q)", r.body, r.header.Get("ETag"))
	}
	e.get(tok, "Observation/o1").want(t, 200, "Observation")

	// Another patient's resources read as 404, as in the built-in store.
	up.Reset()
	r = e.get(tok, "Patient/p2")
	r.want(t, 404, "OperationOutcome")
	if len(up.Requests()) != 0 {
		t.Errorf("another patient's Patient was asked upstream: %v", up.Requests())
	}
	for _, p := range []string{"Observation/o3", "Condition/c4", "Encounter/e2", "Observation/o3/_history/1", "Observation/o3/_history"} {
		r := e.get(tok, p)
		r.want(t, 404, "OperationOutcome")
		noLeak(t, r.body)
	}
	e.get(tok, "Observation/nope").want(t, 404, "OperationOutcome")
	up.Reset()
	for _, p := range []string{"Observation/%2E%2E", "Observation/a%2Fb", "Patient/p1/_history/%2E%2E"} {
		e.get(tok, p).want(t, 404, "OperationOutcome")
	}
	if len(up.Requests()) != 0 {
		t.Errorf("an id that is not a FHIR id reached the upstream: %v", up.Requests())
	}
	e.get(tok, "Patient/p1/_history").want(t, 200, "Bundle")
	e.get(tok, "Patient/p1/_history/1").want(t, 200, "Patient")
}

func TestUpstreamRefusedBeforeForwarding(t *testing.T) {
	e, up := world(t)
	obsOnly := e.token("patient/Observation.rs", "p1")
	for _, c := range []struct{ method, path string }{
		{"GET", "Condition/c1"},
		{"GET", "Condition?code=44054006"},
		{"GET", "Patient/p1/$everything"},
		{"DELETE", "Observation/o1"},
		{"PUT", "Observation/o1"},
	} {
		up.Reset()
		r := e.do(c.method, obsOnly, c.path, []byte(`{}`), "Content-Type", "application/fhir+json")
		r.want(t, 403, "OperationOutcome")
		if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, "insufficient_scope") {
			t.Errorf("%s %s: WWW-Authenticate %q", c.method, c.path, got)
		}
		if n := len(up.Requests()); n != 0 {
			t.Errorf("%s %s reached the upstream: %v", c.method, c.path, up.Requests())
		}
	}
	// No token, a bad token, a token of another base: 401, nothing sent.
	up.Reset()
	e.get("", "Patient/p1").want(t, 401, "OperationOutcome")
	e.get("forged", "Patient/p1").want(t, 401, "OperationOutcome")
	other := e.token("user/*.rs", "", func(g *smart.Grant) { g.Audience = "http://elsewhere.example/fhir" })
	e.get(other, "Patient/p1").want(t, 401, "OperationOutcome")
	if n := len(up.Requests()); n != 0 {
		t.Errorf("unauthorised requests reached the upstream: %v", up.Requests())
	}
}

func TestUpstreamSearchConfinedToCompartment(t *testing.T) {
	e, up := world(t)
	tok := e.token("patient/*.rs", "p1")
	for _, c := range []struct {
		query string
		want  []string
	}{
		{"Observation", []string{"Observation/o1", "Observation/o2"}},
		{"Observation?patient=p2", nil},
		{"Observation?subject=Patient/p2", nil},
		{"Observation?_id=o3", nil},
		{"Observation?_id=o1,o3", []string{"Observation/o1"}},
		{"Patient", []string{"Patient/p1"}},
		{"Patient?_id=p2", nil},
		{"Patient?name=Jones", nil},
		{"Encounter?_sort=-date", []string{"Encounter/e1", "Encounter/e0"}},
		// Includes are judged like reads: p2's Patient never comes along.
		{"Observation?_include=Observation:subject", []string{"Observation/o1", "Observation/o2", "Patient/p1"}},
		{"Patient?_revinclude=Observation:subject", []string{"Patient/p1", "Observation/o1", "Observation/o2"}},
		// FHIR R4's Patient CompartmentDefinition puts a Provenance in the
		// compartment through a Patient target only: one that targets an
		// Observation cannot be shown to a patient/ token.
		{"Observation?_id=o1&_revinclude=Provenance:target", []string{"Observation/o1"}},
		{"MedicationRequest?_include=MedicationRequest:medication", []string{"MedicationRequest/mr1", "Medication/m1"}},
	} {
		up.Reset()
		r := e.get(tok, c.query)
		r.want(t, 200, "Bundle")
		if got := r.ids(t); !slices.Equal(got, c.want) {
			t.Errorf("%s = %v, want %v", c.query, got, c.want)
		}
		noLeak(t, r.body)
		typ, _, _ := strings.Cut(c.query, "?")
		want := "patient=Patient%2Fp1"
		if typ == "Patient" {
			want = "_id=p1"
		}
		if !up.Received(want) {
			t.Errorf("%s: the compartment (%s) was not sent upstream: %v", c.query, want, up.Requests())
		}
	}
	// Included resources of a type the token does not cover are dropped.
	obsOnly := e.token("patient/Observation.rs", "p1")
	if got := e.get(obsOnly, "Observation?_include=Observation:subject").ids(t); !slices.Equal(got, []string{"Observation/o1", "Observation/o2"}) {
		t.Errorf("includes of an uncovered type: %v", got)
	}
	// POST _search goes through the same checks.
	r := e.do("POST", tok, "Observation/_search", []byte("patient=p2"), "Content-Type", "application/x-www-form-urlencoded")
	r.want(t, 200, "Bundle")
	if ids := r.ids(t); len(ids) != 0 {
		t.Errorf("POST _search patient=p2 = %v", ids)
	}
	// fullUrl and links are on ehrsim's base.
	r = e.get(tok, "Observation")
	if strings.Contains(string(r.body), upstreamHost(up)) || !strings.Contains(string(r.body), e.base+"/Observation/o1") {
		t.Errorf("URLs not rewritten to %s: %s", e.base, r.body)
	}
}

func upstreamHost(up *upstreamtest.Server) string {
	u, _ := url.Parse(up.URL)
	return u.Host
}

func TestUpstreamUnenforceableSearchRefused(t *testing.T) {
	e, up := world(t)
	tok := e.token("patient/*.rs", "p1")
	for _, c := range []struct{ query, names string }{
		{"Observation?subject.name=Bob", "subject.name"},
		{"Observation?subject:Patient.name=Bob", "subject:Patient.name"},
		{"Patient?_has:Observation:patient:code=8867-4", "_has"},
		{"Observation?_include=Observation:nope", "Observation:nope"},
		{"Observation?_include=Basic:subject", "Basic:subject"},
		{"Observation?_revinclude=Basic:subject", "Basic:subject"},
		{"Observation?nonsense=1", "nonsense"},
		{"Observation?_include=*", "*"},
		{"Observation?_include:iterate=Observation:subject", "_include"},
		{"Observation?_contained=true", "_contained"},
		{"Observation?_filter=subject%20eq%20p2", "_filter"},
		{"Observation?_query=everything", "_query"},
		{"Observation?_list=l1", "_list"},
		{"Observation?_content=Bob", "_content"},
	} {
		up.Reset()
		r := e.get(tok, c.query)
		r.want(t, 400, "OperationOutcome")
		if d := r.diag(t); !strings.Contains(d, c.names) {
			t.Errorf("%s: diagnostics %q do not name %s", c.query, d, c.names)
		}
		if len(up.Requests()) != 0 {
			t.Errorf("%s reached the upstream: %v", c.query, up.Requests())
		}
	}
	// Prefer: handling=lenient leaves such parameters out (never sends
	// them) and says so, as the store does.
	up.Reset()
	r := e.do("GET", tok, "Observation?subject.name=Bob&code=8867-4", nil, "Prefer", "handling=lenient")
	r.want(t, 200, "Bundle")
	if got := r.ids(t); !slices.Equal(got, []string{"OperationOutcome/", "Observation/o1"}) || !strings.Contains(string(r.body), "subject.name") {
		t.Errorf("lenient search = %v: %s", got, r.body)
	}
	if up.Received("subject.name") || !up.Received("code=8867-4") {
		t.Errorf("lenient search sent upstream: %v", up.Requests())
	}
	// An unknown resource type is not offered.
	e.get(tok, "Basic?code=x").want(t, 404, "OperationOutcome")
}

func TestUpstreamEverything(t *testing.T) {
	e, up := world(t)
	tok := e.token("patient/*.rs", "p1")
	r := e.get(tok, "Patient/p1/$everything")
	r.want(t, 200, "Bundle")
	ids := r.ids(t)
	if !slices.Contains(ids, "Patient/p1") || !slices.Contains(ids, "Observation/o1") || !slices.Contains(ids, "Condition/c3") {
		t.Errorf("$everything = %v", ids)
	}
	noLeak(t, r.body)
	up.Reset()
	e.get(tok, "Patient/p2/$everything").want(t, 404, "OperationOutcome")
	if len(up.Requests()) != 0 {
		t.Errorf("another patient's $everything reached the upstream: %v", up.Requests())
	}
	e.get(tok, "Patient/p1/$everything?_type=Observation").want(t, 400, "OperationOutcome")
	e.get(tok, "Patient/p1/$validate").want(t, 404, "OperationOutcome")
	// Only what the token covers: no Conditions for an Observation-and-Patient token.
	narrow := e.token("patient/Patient.r patient/Observation.rs", "p1")
	r = e.get(narrow, "Patient/p1/$everything")
	r.want(t, 200, "Bundle")
	for _, id := range r.ids(t) {
		if !strings.HasPrefix(id, "Patient/") && !strings.HasPrefix(id, "Observation/") {
			t.Errorf("$everything with Patient and Observation scopes returned %s", id)
		}
	}
}

func TestUpstreamBroadScopeStreamsAndRewrites(t *testing.T) {
	e, up := world(t)
	tok := e.token("user/*.rs", "", func(g *smart.Grant) { g.FHIRUser = "Practitioner/pr1" })
	r := e.get(tok, "Observation?_sort=date")
	r.want(t, 200, "Bundle")
	if got := r.ids(t); len(got) != 4 {
		t.Errorf("user/*.rs Observation = %v, want all four", got)
	}
	if strings.Contains(string(r.body), upstreamHost(up)) {
		t.Errorf("upstream URL leaked: %s", r.body)
	}
	if !strings.Contains(string(r.body), `"fullUrl":"`+e.base+`/Observation/`) {
		t.Errorf("fullUrl not on %s: %s", e.base, r.body)
	}
	e.get(tok, "Patient/p2").want(t, 200, "Patient")
	// A scenario base: URLs follow the base the app was given.
	sc := e.token("user/*.rs", "", func(g *smart.Grant) { g.Audience = e.ts.URL + "/sim/sc1/fhir" })
	r = e.get(sc, e.ts.URL+"/sim/sc1/fhir/Observation?patient=p1")
	r.want(t, 200, "Bundle")
	if !strings.Contains(string(r.body), e.ts.URL+"/sim/sc1/fhir/Observation/o1") {
		t.Errorf("scenario base not in URLs: %s", r.body)
	}
}

func TestUpstreamGranularScopes(t *testing.T) {
	e, up := world(t)
	vitals := e.token("patient/Observation.rs?category="+fhirtest.ObsCategory+"|vital-signs patient/Patient.r", "p1")
	up.Reset()
	r := e.get(vitals, "Observation")
	r.want(t, 200, "Bundle")
	if got := r.ids(t); !slices.Equal(got, []string{"Observation/o1"}) {
		t.Errorf("vital-signs search = %v", got)
	}
	if !up.Received("category=") {
		t.Errorf("the granular filter was not sent upstream: %v", up.Requests())
	}
	e.get(vitals, "Observation/o1").want(t, 200, "Observation")
	e.get(vitals, "Observation/o2").want(t, 403, "OperationOutcome") // laboratory
	// Two granular scopes: both kinds, filtered here.
	two := e.token("patient/Observation.rs?category="+fhirtest.ObsCategory+"|vital-signs patient/Observation.rs?category="+fhirtest.ObsCategory+"|laboratory", "p1")
	if got := e.get(two, "Observation").ids(t); !slices.Equal(got, []string{"Observation/o1", "Observation/o2"}) {
		t.Errorf("two granular scopes = %v", got)
	}
}

func TestUpstreamWrites(t *testing.T) {
	e, up := world(t)
	tok := e.token("patient/*.cruds", "p1")
	ct := []string{"Content-Type", "application/fhir+json"}
	obs := func(id, patient string) []byte {
		s := `{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/` + patient + `"}`
		if id != "" {
			s += `,"id":"` + id + `"`
		}
		return []byte(s + "}")
	}
	r := e.do("POST", tok, "Observation", obs("", "p1"), ct...)
	r.want(t, 201, "Observation")
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, e.base+"/Observation/") {
		t.Errorf("Location %q not on ehrsim's base", loc)
	}
	up.Reset()
	e.do("POST", tok, "Observation", obs("", "p2"), ct...).want(t, 403, "OperationOutcome")
	e.do("PUT", tok, "Observation/o1", obs("o1", "p2"), ct...).want(t, 403, "OperationOutcome")
	for _, req := range up.Requests() {
		if !strings.HasPrefix(req, "GET ") {
			t.Errorf("a refused write reached the upstream: %s", req)
		}
	}
	e.do("PUT", tok, "Observation/o1", obs("o1", "p1"), ct...).want(t, 200, "Observation")
	// p2's Observation: moving it into p1's compartment is not a way in.
	e.do("PUT", tok, "Observation/o3", obs("o3", "p1"), ct...).want(t, 404, "OperationOutcome")
	e.do("DELETE", tok, "Observation/o3", nil).want(t, 404, "OperationOutcome")
	// PATCH under a compartment: applied by ehrsim, judged, written with
	// PUT on the version it patched.
	jp := []string{"Content-Type", "application/json-patch+json"}
	e.do("PATCH", tok, "Observation/o1", []byte(`[{"op":"replace","path":"/subject/reference","value":"Patient/p2"}]`), jp...).want(t, 403, "OperationOutcome")
	e.do("PATCH", tok, "Observation/o3", []byte(`[{"op":"replace","path":"/status","value":"amended"}]`), jp...).want(t, 404, "OperationOutcome")
	e.do("PATCH", tok, "Observation/o1", []byte(`[{"op":"test","path":"/status","value":"nope"}]`), jp...).want(t, 422, "OperationOutcome")
	e.do("PATCH", tok, "Observation/o1", []byte(`[]`), append(jp, "If-Match", `W/"99"`)...).want(t, 412, "OperationOutcome")
	if up.Received("PUT /fhir/Observation/o3") || up.Received("DELETE") || up.Received("PATCH") {
		t.Errorf("a refused write reached the upstream: %v", up.Requests())
	}
	up.Reset()
	e.do("PATCH", tok, "Observation/o1", []byte(`[{"op":"replace","path":"/subject/reference","value":"Patient/p2"}]`), jp...).want(t, 403, "OperationOutcome")
	if up.Received("PUT") || up.Received("PATCH") {
		t.Errorf("a patch moving o1 out of the compartment reached the upstream: %v", up.Requests())
	}
	r = e.do("PATCH", tok, "Observation/o1", []byte(`[{"op":"replace","path":"/status","value":"amended"}]`), jp...)
	r.want(t, 200, "Observation")
	if r.json(t)["status"] != "amended" || !up.Received("PUT /fhir/Observation/o1") {
		t.Errorf("patched: %s (upstream %v)", r.body, up.Requests())
	}
	r = e.do("DELETE", tok, "Observation/o2", nil)
	if r.status != 200 && r.status != 204 {
		t.Fatalf("DELETE o2 = %d %s", r.status, r.body)
	}
	e.get(tok, "Observation/o2").want(t, 410, "OperationOutcome")
	// Unrestricted, a PATCH is forwarded as it is.
	user := e.token("user/*.cruds", "")
	r = e.do("PATCH", user, "Condition/c1", []byte(`[{"op":"replace","path":"/onsetDateTime","value":"2016-01-01"}]`), jp...)
	r.want(t, 200, "Condition")
	if !up.Received("PATCH /fhir/Condition/c1") {
		t.Errorf("an unrestricted PATCH was not forwarded: %v", up.Requests())
	}
	// Read-only scopes write nothing.
	ro := e.token("patient/*.rs", "p1")
	e.do("POST", ro, "Observation", obs("", "p1"), ct...).want(t, 403, "OperationOutcome")
}

func TestUpstreamMetadata(t *testing.T) {
	e, up := world(t)
	r := e.get("", "metadata")
	r.want(t, 200, "CapabilityStatement")
	body := string(r.body)
	if !strings.Contains(body, "oauth-uris") || !strings.Contains(body, e.ts.URL+"/auth/authorize") {
		t.Errorf("metadata has no ehrsim oauth-uris: %s", body)
	}
	if strings.Contains(body, upstreamHost(up)) {
		t.Errorf("metadata names the upstream: %s", body)
	}
}

func TestUpstreamSimulatedErrors(t *testing.T) {
	e, up := world(t)
	tok := e.token("patient/*.rs", "p1", func(g *smart.Grant) { g.SimulateError = smart.SimRequestRateLimited })
	up.Reset()
	r := e.get(tok, "Patient/p1")
	r.want(t, 429, "OperationOutcome")
	if r.header.Get("Retry-After") == "" || len(up.Requests()) != 0 {
		t.Errorf("simulated 429: Retry-After %q, upstream requests %v", r.header.Get("Retry-After"), up.Requests())
	}
	tok = e.token("patient/*.rs", "p1", func(g *smart.Grant) { g.SimulateError = smart.SimRequestInsufficientScope })
	e.get(tok, "Patient/p1").want(t, 403, "OperationOutcome")
}

func TestUpstreamDirectory(t *testing.T) {
	up := upstreamtest.Start(t, fhirtest.World())
	p, err := upstream.New(upstream.Options{URL: up.URL, Header: upstreamtest.Header()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	pt, err := p.Patient(ctx, "p1")
	if err != nil || pt.Name != "Amy Shaw" || pt.MRN != "MRN-001" || pt.BirthDate != "1987-02-20" || !slices.Equal(pt.Patients, []string{"p1"}) {
		t.Errorf("Patient(p1) = %+v, %v", pt, err)
	}
	if _, err := p.Patient(ctx, "nobody"); err != smart.ErrNotFound {
		t.Errorf("Patient(nobody) error = %v, want smart.ErrNotFound", err)
	}
	for _, id := range []string{"../metadata", "..", "."} {
		if _, err := p.Patient(ctx, id); err != smart.ErrNotFound {
			t.Errorf("Patient(%q) error = %v", id, err)
		}
	}
	pr, err := p.Practitioner(ctx, "pr1")
	if err != nil || pr.Name != "Dr. Adam Careful" || pr.NPI != "1234567893" {
		t.Errorf("Practitioner(pr1) = %+v, %v", pr, err)
	}
	rp, err := p.RelatedPerson(ctx, "rp1")
	if err != nil || !slices.Equal(rp.Patients, []string{"p1"}) || rp.Role != "mother" {
		t.Errorf("RelatedPerson(rp1) = %+v, %v", rp, err)
	}
	for q, want := range map[string][]string{"": {"p1", "p2"}, "Shaw": {"p1"}, "MRN-002": {"p2"}, "1960": {"p2"}, "zzz": nil, "Amy Shaw": {"p1"}, "Amy Jones": nil} {
		list, err := p.SearchPatients(ctx, q, 10)
		var ids []string
		for _, ps := range list {
			ids = append(ids, ps.ID)
		}
		if err != nil || !slices.Equal(ids, want) {
			t.Errorf("SearchPatients(%q) = %v, %v; want %v", q, ids, err, want)
		}
	}
	page, err := p.PagePatients(ctx, "", 1, 1)
	if err != nil || page.Total != 2 || len(page.Patients) != 1 || page.Patients[0].ID != "p2" {
		t.Errorf("PagePatients(offset 1, limit 1) = %+v, %v", page, err)
	}
	prs, err := p.Practitioners(ctx)
	if err != nil || len(prs) != 2 {
		t.Errorf("Practitioners = %v, %v", prs, err)
	}
	encs, err := p.Encounters(ctx, "p1")
	if err != nil || len(encs) != 2 || encs[0].ID != "e1" || encs[0].Status != "in-progress" || encs[0].Class != "AMB" || encs[0].PatientID != "p1" {
		t.Errorf("Encounters(p1) = %+v, %v", encs, err)
	}
	enc, err := p.Encounter(ctx, "e1")
	if err != nil || enc.Location != "Clinic room 3" || enc.Type != "Check-up" {
		t.Errorf("Encounter(e1) = %+v, %v", enc, err)
	}
	if !p.ResourceExists(ctx, "Observation/o1") || p.ResourceExists(ctx, "Observation/none") || p.ResourceExists(ctx, "../x/y") {
		t.Error("ResourceExists answers wrongly")
	}
	if _, err := p.Allergies(ctx, "p1"); err != nil {
		t.Errorf("Allergies(p1): %v", err)
	}
	// Answers are cached briefly: a second lookup does not ask again.
	up.Reset()
	if _, err := p.Patient(ctx, "p1"); err != nil || len(up.Requests()) != 0 {
		t.Errorf("cached Patient(p1): %v, upstream asked %v", err, up.Requests())
	}
}

func TestUpstreamDirectoryCredentialRefused(t *testing.T) {
	up := upstreamtest.Start(t, fhirtest.World())
	p, err := upstream.New(upstream.Options{URL: up.URL, Header: http.Header{"Authorization": {"Bearer wrong-" + upstreamtest.Token}}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Patient(t.Context(), "p1")
	if err == nil || !strings.Contains(err.Error(), "upstream FHIR server") || strings.Contains(err.Error(), upstreamtest.Token) {
		t.Errorf("Patient with a refused credential: %v", err)
	}
}

func TestUpstreamNewRefusesBadURLs(t *testing.T) {
	for _, u := range []string{"", "ftp://x/fhir", "http://", "http://x/fhir?a=1", "::"} {
		if _, err := upstream.New(upstream.Options{URL: u}); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

// User info in the upstream URL becomes Basic authorization and leaves
// the URL, so Base (logged at start-up) never shows it.
func TestUpstreamUserInfoBecomesBasicAuth(t *testing.T) {
	var got string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/fhir+json")
		w.Write([]byte(`{"resourceType":"Patient","id":"p1"}`))
	}))
	defer ts.Close()
	u := strings.Replace(ts.URL, "http://", "http://ann:s3cret-pw@", 1) + "/fhir"
	p, err := upstream.New(upstream.Options{URL: u})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(p.Base(), "s3cret") || p.Base() != ts.URL+"/fhir" {
		t.Errorf("Base() = %q", p.Base())
	}
	if _, err := p.Patient(t.Context(), "p1"); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth("ann", "s3cret-pw")
	if got != req.Header.Get("Authorization") {
		t.Errorf("Authorization sent = %q", got)
	}
}
