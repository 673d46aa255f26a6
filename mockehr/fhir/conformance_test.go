package fhir

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirtest"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

func TestCS01_MetadataWithoutAuth(t *testing.T) {
	e := newEnv(t, nil)
	for _, base := range []string{"/fhir", "/sim/sc1/fhir"} {
		r := e.get(base+"/metadata", "", "Accept", "application/fhir+json")
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/fhir+json") {
			t.Fatalf("%s/metadata: %d %s", base, r.status, r.header.Get("Content-Type"))
		}
		cs := r.json(t)
		if cs["resourceType"] != "CapabilityStatement" || cs["fhirVersion"] != "4.0.1" || cs["kind"] != "instance" {
			t.Errorf("CapabilityStatement head: %v %v %v", cs["resourceType"], cs["fhirVersion"], cs["kind"])
		}
		if !slices.Contains(cs["format"].([]any), any("json")) {
			t.Errorf("format %v lacks json", cs["format"])
		}
		if impl := cs["implementation"].(map[string]any); impl["url"] != e.ts.URL+base {
			t.Errorf("implementation.url %v, want the request's base", impl["url"])
		}
		// It lists exactly the implemented types, interactions and params.
		res := cs["rest"].([]any)[0].(map[string]any)["resource"].([]any)
		var obs map[string]any
		for _, x := range res {
			if m := x.(map[string]any); m["type"] == "Observation" {
				obs = m
			}
		}
		if obs == nil {
			t.Fatal("Observation missing from CapabilityStatement")
		}
		var params []string
		for _, p := range obs["searchParam"].([]any) {
			params = append(params, p.(map[string]any)["name"].(string))
		}
		for _, want := range []string{"patient", "subject", "category", "code", "date", "status", "_id", "_lastUpdated"} {
			if !slices.Contains(params, want) {
				t.Errorf("Observation searchParam lacks %s: %v", want, params)
			}
		}
		if !slices.Contains(obs["searchRevInclude"].([]any), any("Provenance:target")) {
			t.Errorf("Observation searchRevInclude %v lacks Provenance:target", obs["searchRevInclude"])
		}
	}
	if r := e.get("/sim/bad-scenario/fhir/metadata", ""); r.status != 404 {
		t.Errorf("unknown scenario metadata: %d", r.status)
	}
}

func security(t *testing.T, e *env) map[string]any {
	cs := e.get("/fhir/metadata", "").json(t)
	return cs["rest"].([]any)[0].(map[string]any)["security"].(map[string]any)
}

func TestCS02_SecurityServiceCoding(t *testing.T) {
	e := newEnv(t, nil)
	sec := security(t, e)
	var codes []string
	for _, s := range sec["service"].([]any) {
		for _, c := range s.(map[string]any)["coding"].([]any) {
			m := c.(map[string]any)
			codes = append(codes, m["system"].(string)+"|"+m["code"].(string))
		}
	}
	if !slices.Contains(codes, "http://terminology.hl7.org/CodeSystem/restful-security-service|SMART-on-FHIR") {
		t.Errorf("service codings %v lack SMART-on-FHIR", codes)
	}
}

// oauthURIs returns the oauth-uris sub-extensions of rest[0].security.
func oauthURIsOf(t *testing.T, sec map[string]any) map[string]string {
	out := map[string]string{}
	for _, x := range sec["extension"].([]any) {
		m := x.(map[string]any)
		if m["url"] != oauthURIs {
			continue
		}
		for _, s := range m["extension"].([]any) {
			sm := s.(map[string]any)
			out[sm["url"].(string)] = sm["valueUri"].(string)
		}
	}
	return out
}

func TestCS03_CS04_CS05_OAuthURIsEqualEndpoints(t *testing.T) {
	e := newEnv(t, nil)
	got := oauthURIsOf(t, security(t, e))
	want := map[string]string{
		"authorize": e.ts.URL + "/auth/authorize", "token": e.ts.URL + "/auth/oauth/token",
		"introspect": e.ts.URL + "/auth/oauth/introspect", "revoke": e.ts.URL + "/auth/revoke", "manage": e.ts.URL + "/apps",
	}
	// register is empty in Endpoints, so it must be absent (CS-05: present in one, absent in other is a mismatch).
	if len(got) != len(want) {
		t.Errorf("oauth-uris %v, want exactly %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("oauth-uris %s = %q, want %q", k, got[k], v)
		}
	}
}

func TestCS06_MetadataCORS(t *testing.T) {
	e := newEnv(t, nil)
	r := e.get("/fhir/metadata", "", "Origin", "https://app.example")
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
		t.Errorf("ACAO %q", r.header.Get("Access-Control-Allow-Origin"))
	}
}

func TestEHR07_StyleJSONWithoutAuth(t *testing.T) {
	e := newEnv(t, nil)
	r := e.get(StyleURLPath, "", "Origin", "https://app.example")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.header.Get("Access-Control-Allow-Origin") == "" {
		t.Fatalf("style: %d %v", r.status, r.header)
	}
	m := r.json(t)
	for _, k := range []string{"color_background", "color_error", "color_highlight", "color_modal_backdrop", "color_success", "color_text", "dim_border_radius", "dim_font_size", "dim_spacing_size", "font_family_body", "font_family_heading"} {
		if s, ok := m[k].(string); !ok || s == "" {
			t.Errorf("style %s = %v", k, m[k])
		}
	}
}

func TestRS01_NoAuthorizationIs401(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/fhir/Patient/p1", "/fhir/Observation?patient=p1", "/fhir/Nope/1", "/sim/sc1/fhir/Patient/p1"} {
		r := e.get(p, "")
		expectOutcome(t, r, 401, p)
		if got := r.header.Get("WWW-Authenticate"); got != `Bearer realm="ehrsim"` {
			t.Errorf("%s: WWW-Authenticate %q", p, got)
		}
	}
}

func TestRS02_InvalidOrExpiredTokenIs401(t *testing.T) {
	e := newEnv(t, nil)
	short := e.token(smart.Grant{Scopes: []string{"user/*.rs"}, ExpiresAt: e.now.Add(time.Minute)})
	e.advance(2 * time.Minute)
	for name, h := range map[string]string{
		"unknown":           "Bearer nope",
		"malformed scheme":  "Basic dXNlcjpwYXNz",
		"empty bearer":      "Bearer ",
		"resolver expired":  "Bearer resolver-says-expired",
		"expired per clock": "Bearer " + short,
	} {
		r := e.get("/fhir/Patient/p1", "", "Authorization", h)
		expectOutcome(t, r, 401, name)
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer error="invalid_token", error_description="`) {
			t.Errorf("%s: WWW-Authenticate %q", name, got)
		}
	}
}

func TestRS03_TokenForAnotherBaseIs401(t *testing.T) {
	e := newEnv(t, nil)
	sim := e.token(smart.Grant{Scopes: []string{"user/*.rs"}, Audience: e.ts.URL + "/sim/sc1/fhir/"}) // one trailing slash is ignored
	plain := e.token(smart.Grant{Scopes: []string{"user/*.rs"}})
	other := e.token(smart.Grant{Scopes: []string{"user/*.rs"}, Audience: "http://elsewhere.example/fhir"})
	cases := []struct {
		path, tok string
		want      int
	}{
		{"/sim/sc1/fhir/Patient/p1", sim, 200},
		{"/fhir/Patient/p1", sim, 401},
		{"/sim/sc2/fhir/Patient/p1", sim, 401},
		{"/fhir/Patient/p1", plain, 200},
		{"/sim/sc1/fhir/Patient/p1", plain, 401},
		{"/fhir/Patient/p1", other, 401},
		{"/sim/bad1/fhir/Patient/p1", sim, 404}, // unknown scenario
	}
	for _, c := range cases {
		r := e.get(c.path, c.tok)
		if r.status != c.want {
			t.Errorf("%s: %d, want %d: %s", c.path, r.status, c.want, r.body)
		}
		if c.want == 401 && !strings.Contains(r.header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: WWW-Authenticate %q", c.path, r.header.Get("WWW-Authenticate"))
		}
	}
}

// assertNoP2 fails if a response to a p1-limited token carries p2's data.
func assertNoP2(t *testing.T, what string, r resp) {
	t.Helper()
	for _, s := range fhirtest.P2Only {
		// An error may echo the requested URL's id, never p2's data.
		if r.status >= 400 && s != "Bob" && s != "Jones" {
			continue
		}
		if strings.Contains(string(r.body), s) {
			t.Errorf("%s: response leaks %s: %s", what, s, r.body)
		}
	}
}

// TestRS04_PatientCompartment drives every read path with patient/ scopes
// (v1 and v2) and asserts p2's data never comes back.
func TestRS04_PatientCompartment(t *testing.T) {
	e := newEnv(t, nil)
	for _, sc := range []string{"patient/*.rs", "patient/*.read", "patient/*.cruds", "patient/*.* launch/patient openid fhirUser"} {
		tok := e.scoped(sc)
		t.Run(sc, func(t *testing.T) {
			own := []struct {
				path string
				want int
			}{
				{"/fhir/Patient/p1", 200}, {"/fhir/Observation/o1", 200}, {"/fhir/Patient/p2", 404}, {"/fhir/Observation/o3", 404},
				{"/fhir/Provenance/prov3", 404}, {"/fhir/Observation/o3/_history", 404}, {"/fhir/Observation/o3/_history/1", 404},
				{"/fhir/Patient/p2/$everything", 404}, {"/fhir/RelatedPerson/rp1", 200},
			}
			for _, c := range own {
				r := e.get(c.path, tok)
				if r.status != c.want {
					t.Errorf("%s: %d, want %d", c.path, r.status, c.want)
				}
				assertNoP2(t, c.path, r)
			}
			searches := map[string][]string{
				"/fhir/Observation":                                             {"Observation/o1", "Observation/o2"},
				"/fhir/Observation?patient=p1":                                  {"Observation/o1", "Observation/o2"},
				"/fhir/Observation?patient=p2":                                  {},
				"/fhir/Observation?subject=Patient/p2":                          {},
				"/fhir/Observation?_id=o3":                                      {},
				"/fhir/Patient":                                                 {"Patient/p1"},
				"/fhir/Patient?name=bob":                                        {},
				"/fhir/Observation?code=8867-4&_include=Observation:patient":    {"Observation/o1", "Patient/p1"},
				"/fhir/Observation?_revinclude=Provenance:target":               {"Observation/o1", "Observation/o2", "Provenance/prov1"},
				"/fhir/MedicationRequest?_include=MedicationRequest:medication": {"MedicationRequest/mr1", "Medication/m1"},
				"/fhir/Provenance":                                              {"Provenance/prov1"},
				"/fhir/Patient/p1/$everything": {"Patient/p1", "Condition/c1", "Condition/c2", "Condition/c3", "Encounter/e1", "Encounter/e0",
					"MedicationRequest/mr1", "Observation/o1", "Observation/o2", "Provenance/prov1", "RelatedPerson/rp1"},
			}
			for p, want := range searches {
				r := e.get(p, tok)
				if r.status != 200 {
					t.Errorf("%s: %d %s", p, r.status, r.body)
					continue
				}
				assertNoP2(t, p, r)
				if got := r.ids(t, ""); !slices.Equal(got, want) {
					t.Errorf("%s = %v, want %v", p, got, want)
				}
			}
			r := e.do("POST", "/fhir/Observation/_search", tok, "", "Content-Type", "application/x-www-form-urlencoded")
			assertNoP2(t, "POST _search", r)
		})
	}
	// A patient/ token without a patient in context sees no compartment data.
	none := e.token(smart.Grant{Scopes: []string{"patient/*.rs"}})
	if r := e.get("/fhir/Observation", none); r.status != 200 || len(r.ids(t, "")) != 0 {
		t.Errorf("no patient context: %d %s", r.status, r.body)
	}
}

func TestRS04_WritesStayInCompartment(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.scoped("patient/*.cruds")
	cases := []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/fhir/Observation", string(fhirtest.Observation("x", "p2", "laboratory", "1", "x", "2024")), 403},
		{"POST", "/fhir/Observation", string(fhirtest.Observation("x", "p1", "laboratory", "1", "x", "2024")), 201},
		{"PUT", "/fhir/Observation/o3", string(fhirtest.Observation("o3", "p2", "laboratory", "1", "x", "2024")), 404},
		{"PUT", "/fhir/Observation/o1", string(fhirtest.Observation("o1", "p2", "laboratory", "1", "x", "2024")), 403},
		{"PUT", "/fhir/Observation/new1", string(fhirtest.Observation("new1", "p2", "laboratory", "1", "x", "2024")), 403},
		{"PUT", "/fhir/Patient/p2", string(fhirtest.Patient("p2", "B", "J", "male", "1960", "M")), 404},
		{"POST", "/fhir/Patient", string(fhirtest.Patient("p9", "N", "N", "male", "1960", "M")), 403},
		{"DELETE", "/fhir/Observation/o3", "", 404},
		{"PATCH", "/fhir/Observation/o4", `[{"op":"replace","path":"/status","value":"amended"}]`, 404},
	}
	for _, c := range cases {
		hdr := []string{}
		if c.method == "PATCH" {
			hdr = []string{"Content-Type", "application/json-patch+json"}
		}
		r := e.do(c.method, c.path, tok, c.body, hdr...)
		if r.status != c.want {
			t.Errorf("%s %s: %d, want %d: %s", c.method, c.path, r.status, c.want, r.body)
		}
		assertNoP2(t, c.method+" "+c.path, r)
	}
	if o3, _ := e.store.Get("Observation", "o3"); o3.Version != 1 || o3.Deleted {
		t.Errorf("o3 was changed by a p1 token: %+v", o3)
	}
}

func TestRS05_NonCompartmentTypesReadable(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.scoped("patient/Medication.rs patient/Practitioner.rs patient/Organization.r")
	for _, p := range []string{"/fhir/Medication/m1", "/fhir/Practitioner/pr2", "/fhir/Organization/org1"} {
		if r := e.get(p, tok); r.status != 200 {
			t.Errorf("%s: %d", p, r.status)
		}
	}
	if r := e.get("/fhir/Practitioner?name=careful", tok); len(r.ids(t, "")) != 1 {
		t.Errorf("Practitioner search: %s", r.body)
	}
}

func TestRS06_RS15_UngrantedTypeIs403WithInsufficientScope(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.scoped("patient/Observation.rs patient/Patient.r")
	for _, p := range []string{"/fhir/Condition?patient=p1", "/fhir/Condition/c1", "/fhir/Encounter/e0", "/fhir/MedicationRequest?patient=p1"} {
		r := e.get(p, tok)
		expectOutcome(t, r, 403, p)
		if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, `Bearer error="insufficient_scope"`) {
			t.Errorf("%s: WWW-Authenticate %q", p, h)
		}
	}
	if r := e.get("/fhir/Observation?patient=p1", tok); r.status != 200 {
		t.Errorf("granted type: %d", r.status)
	}
}

// TestRS06_LaunchContextEncounterNeedsEncounterScope: launch/encounter and
// the launch context convey context, not access (SMART 2.2 scopes): only
// resource scopes grant it, so the context Encounter is as closed as any
// other Encounter to a token without an Encounter scope.
func TestRS06_LaunchContextEncounterNeedsEncounterScope(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token(smart.Grant{Scopes: []string{"launch", "launch/encounter", "patient/Patient.rs", "patient/Observation.rs"}, Patient: "p1", Encounter: "e1"})
	for _, p := range []string{"/fhir/Encounter/e1", "/fhir/Encounter/e1/_history", "/fhir/Encounter/e1/_history/1", "/fhir/Encounter?patient=p1"} {
		t.Run(p, func(t *testing.T) {
			r := e.get(p, tok)
			expectOutcome(t, r, 403, p)
			if h := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(h, `Bearer error="insufficient_scope"`) {
				t.Errorf("WWW-Authenticate %q", h)
			}
		})
	}
	if got := e.get("/fhir/Patient?_id=p1&_revinclude=Encounter:patient", tok).ids(t, "include"); len(got) != 0 {
		t.Errorf("context Encounter included without an Encounter scope: %v", got)
	}
}

// TestRS07_RS08_InteractionLettersIndependent grants one letter at a time
// and checks that exactly its interactions pass.
func TestRS07_RS08_InteractionLettersIndependent(t *testing.T) {
	e := newEnv(t, nil)
	obs := string(fhirtest.Observation("o1", "p1", "vital-signs", "8867-4", "Heart rate", "2024-05-01T09:10:00Z"))
	type call struct {
		letter           string
		method, path, bd string
	}
	calls := []call{
		{"r", "GET", "/fhir/Observation/o1", ""},
		{"r", "GET", "/fhir/Observation/o1/_history/1", ""},
		{"r", "GET", "/fhir/Observation/o1/_history", ""},
		{"s", "GET", "/fhir/Observation?patient=p1", ""},
		{"s", "POST", "/fhir/Observation/_search", "patient=p1"},
		{"c", "POST", "/fhir/Observation", obs},
		{"u", "PUT", "/fhir/Observation/o1", obs},
		{"u", "PUT", "/fhir/Observation/brand-new", strings.Replace(obs, `"id":"o1"`, `"id":"brand-new"`, 1)},
		{"u", "PATCH", "/fhir/Observation/o1", `[{"op":"replace","path":"/status","value":"amended"}]`},
		{"d", "DELETE", "/fhir/Observation/zz-missing", ""},
	}
	for _, ctx := range []string{"patient", "user", "system"} {
		for _, letter := range []string{"c", "r", "u", "d", "s"} {
			tok := e.token(smart.Grant{Scopes: []string{ctx + "/Observation." + letter}, Patient: "p1"})
			for _, c := range calls {
				hdr := []string{}
				switch c.method {
				case "PATCH":
					hdr = []string{"Content-Type", "application/json-patch+json"}
				case "POST":
					if c.letter == "s" {
						hdr = []string{"Content-Type", "application/x-www-form-urlencoded"}
					}
				}
				r := e.do(c.method, c.path, tok, c.bd, hdr...)
				if c.letter == letter {
					if r.status >= 400 && r.status != 404 {
						t.Errorf("%s/Observation.%s: %s %s = %d, want success: %s", ctx, letter, c.method, c.path, r.status, r.body)
					}
				} else if r.status != 403 {
					t.Errorf("%s/Observation.%s: %s %s = %d, want 403", ctx, letter, c.method, c.path, r.status)
				}
			}
		}
	}
}

const labCat = "category=" + fhirtest.ObsCategory + "|laboratory"

func TestRS09_GranularScopes(t *testing.T) {
	e := newEnv(t, nil)
	lab := e.scoped("patient/Observation.rs?" + labCat + " patient/Condition.rs?category=" + fhirtest.CondCategory + "|problem-list-item")
	if got := e.get("/fhir/Observation", lab).ids(t, ""); !slices.Equal(got, []string{"Observation/o2"}) {
		t.Errorf("lab-only search = %v", got)
	}
	if got := e.get("/fhir/Observation?category=vital-signs", lab).ids(t, ""); len(got) != 0 {
		t.Errorf("vital-signs search under lab scope = %v", got)
	}
	if r := e.get("/fhir/Observation/o2", lab); r.status != 200 {
		t.Errorf("read lab: %d", r.status)
	}
	expectOutcome(t, e.get("/fhir/Observation/o1", lab), 403, "read vital-signs under lab scope")
	if got := e.get("/fhir/Condition", lab).ids(t, ""); !slices.Equal(got, []string{"Condition/c1", "Condition/c2"}) {
		t.Errorf("problem-list search = %v", got)
	}
	// OR across scopes.
	both := e.scoped("patient/Observation.rs?" + labCat + " patient/Observation.rs?category=" + fhirtest.ObsCategory + "|vital-signs")
	if got := e.get("/fhir/Observation", both).ids(t, ""); !slices.Equal(got, []string{"Observation/o1", "Observation/o2"}) {
		t.Errorf("lab OR vitals = %v", got)
	}
	// A resource-level scope for the same type widens to everything.
	wide := e.scoped("patient/Observation.rs?" + labCat + " patient/Observation.rs")
	if got := e.get("/fhir/Observation", wide).ids(t, ""); len(got) != 2 {
		t.Errorf("widened = %v", got)
	}
	// Granular scopes also bound writes.
	w := e.scoped("patient/Observation.cu?" + labCat)
	if r := e.do("POST", "/fhir/Observation", w, string(fhirtest.Observation("x", "p1", "vital-signs", "1", "x", "2024"))); r.status != 403 {
		t.Errorf("create outside granular scope: %d", r.status)
	}
	if r := e.do("POST", "/fhir/Observation", w, string(fhirtest.Observation("x", "p1", "laboratory", "1", "x", "2024"))); r.status != 201 {
		t.Errorf("create inside granular scope: %d %s", r.status, r.body)
	}
}

func TestRS10_RS11_RS12_V1UserSystemScopes(t *testing.T) {
	e := newEnv(t, nil)
	v1 := e.scoped("patient/*.read")
	if r := e.do("POST", "/fhir/Observation", v1, string(fhirtest.Observation("x", "p1", "laboratory", "1", "x", "2024"))); r.status != 403 {
		t.Errorf("v1 read scope allowed create: %d", r.status)
	}
	user := e.token(smart.Grant{Scopes: []string{"user/*.read"}, FHIRUser: "Practitioner/pr1"})
	if got := e.get("/fhir/Observation?category=vital-signs", user).ids(t, ""); !slices.Equal(got, []string{"Observation/o1", "Observation/o3"}) {
		t.Errorf("user/ sees all patients: %v", got)
	}
	sys := e.token(smart.Grant{Scopes: []string{"system/Observation.rs", "system/Patient.r"}})
	if got := e.get("/fhir/Observation?code=8867-4", sys).ids(t, ""); len(got) != 2 {
		t.Errorf("system/ search: %v", got)
	}
	if r := e.get("/fhir/Patient/p2", sys); r.status != 200 {
		t.Errorf("system/Patient.r read: %d", r.status)
	}
	expectOutcome(t, e.get("/fhir/Patient?name=bob", sys), 403, "system/Patient.r search")
	expectOutcome(t, e.get("/fhir/Condition/c1", sys), 403, "system/ beyond scopes")
}

func TestRS13_IncludesAndEverythingFiltered(t *testing.T) {
	e := newEnv(t, nil)
	// MedicationRequest without Medication scope: the include is dropped.
	noMed := e.scoped("patient/MedicationRequest.rs")
	if got := e.get("/fhir/MedicationRequest?_include=MedicationRequest:medication", noMed).ids(t, ""); !slices.Equal(got, []string{"MedicationRequest/mr1"}) {
		t.Errorf("include without Medication scope: %v", got)
	}
	// Provenance revinclude needs Provenance scope.
	noProv := e.scoped("patient/Observation.rs")
	if got := e.get("/fhir/Observation?_revinclude=Provenance:target", noProv).ids(t, "include"); len(got) != 0 {
		t.Errorf("revinclude without Provenance scope: %v", got)
	}
	// Granular: include of Observation:patient with a lab-only Observation scope.
	user := e.token(smart.Grant{Scopes: []string{"user/Observation.rs?" + labCat, "user/Patient.r"}})
	if got := e.get("/fhir/Observation?_include=Observation:patient", user).ids(t, ""); !slices.Equal(got, []string{"Observation/o2", "Observation/o4", "Patient/p1", "Patient/p2"}) {
		t.Errorf("user include: %v", got)
	}
	// $everything lists only types the token may read.
	ev := e.scoped("patient/Patient.r patient/Observation.rs?" + labCat)
	if got := e.get("/fhir/Patient/p1/$everything", ev).ids(t, ""); !slices.Equal(got, []string{"Patient/p1", "Observation/o2"}) {
		t.Errorf("$everything: %v", got)
	}
	expectOutcome(t, e.get("/fhir/Patient/p1/$everything", e.scoped("patient/Observation.rs")), 403, "$everything without Patient read")
}

// TestRS14_FHIRUserAndContextEncounterReadable: the fhirUser resource is
// readable with any token of the grant; the context Encounter is readable
// with an Encounter read scope (EHR-05), not through the launch context
// alone (RS-06, TestRS06_LaunchContextEncounterNeedsEncounterScope).
func TestRS14_FHIRUserAndContextEncounterReadable(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.token(smart.Grant{Scopes: []string{"launch", "openid", "fhirUser", "patient/Observation.rs"}, Patient: "p1", Encounter: "e1", FHIRUser: "Practitioner/pr1"})
	for p, want := range map[string]int{"/fhir/Practitioner/pr1": 200, "/fhir/Encounter/e1": 403, "/fhir/Practitioner/pr2": 403, "/fhir/Encounter/e0": 403} {
		if r := e.get(p, tok, "Origin", "https://app.example"); r.status != want || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Errorf("%s: %d (want %d), ACAO %q", p, r.status, want, r.header.Get("Access-Control-Allow-Origin"))
		}
	}
	for _, sc := range []string{"patient/Encounter.rs", "patient/Encounter.r", "patient/*.rs", "user/Encounter.rs"} {
		enc := e.token(smart.Grant{Scopes: []string{"launch", "launch/encounter", "openid", "fhirUser", sc}, Patient: "p1", Encounter: "e1", FHIRUser: "Practitioner/pr1"})
		for _, p := range []string{"/fhir/Encounter/e1", "/fhir/Encounter/e1/_history", "/fhir/Encounter/e1/_history/1"} {
			if r := e.get(p, enc); r.status != 200 {
				t.Errorf("%s with %s: %d: %s", p, sc, r.status, r.body)
			}
		}
	}
	pt := e.token(smart.Grant{Scopes: []string{"openid", "fhirUser"}, FHIRUser: "Patient/p2"})
	if r := e.get("/fhir/Patient/p2", pt); r.status != 200 {
		t.Errorf("patient fhirUser read: %d", r.status)
	}
}

func TestRS17_CORSPreflightAndExposedHeaders(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/fhir/Observation", "/fhir/Observation/o1", "/fhir/Observation/o1/_history/1", "/sim/sc1/fhir/Patient/p1/$everything", "/fhir/metadata", StyleURLPath} {
		r := e.do("OPTIONS", p, "", "", "Origin", "https://app.example", "Access-Control-Request-Method", "PUT", "Access-Control-Request-Headers", "authorization,content-type")
		if r.status != 204 || r.header.Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Errorf("preflight %s: %d %v", p, r.status, r.header)
		}
		ah := strings.ToLower(r.header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type", "accept", "prefer", "if-match"} {
			if !strings.Contains(ah, h) {
				t.Errorf("preflight %s: Allow-Headers %q lacks %s", p, ah, h)
			}
		}
		if am := r.header.Get("Access-Control-Allow-Methods"); !strings.Contains(am, "PATCH") || !strings.Contains(am, "DELETE") {
			t.Errorf("preflight %s: Allow-Methods %q", p, am)
		}
	}
	tok := e.scoped("patient/*.rs")
	r := e.get("/fhir/Observation/o1", tok, "Origin", "https://app.example")
	if eh := r.header.Get("Access-Control-Expose-Headers"); !strings.Contains(eh, "ETag") || !strings.Contains(eh, "Location") || !strings.Contains(eh, "WWW-Authenticate") || !strings.Contains(eh, "Content-Location") {
		t.Errorf("Expose-Headers %q", eh)
	}
	if r := e.get("/fhir/Observation/o1", "", "Origin", "https://app.example"); r.header.Get("Access-Control-Allow-Origin") == "" {
		t.Error("401 lacks CORS headers (browser could not read WWW-Authenticate)")
	}
}

func TestSimulatedRequestErrors(t *testing.T) {
	e := newEnv(t, nil)
	cases := []struct {
		name   smart.SimulatedError
		status int
		header string
	}{
		{"request_invalid_token", 401, `Bearer error="invalid_token"`},
		{"request_expired_token", 401, `Bearer error="invalid_token"`},
		{"request_insufficient_scope", 403, `Bearer error="insufficient_scope"`},
		{"request_server_error", 500, ""},
		{"request_rate_limited", 429, ""},
	}
	for _, c := range cases {
		tok := e.token(smart.Grant{Scopes: []string{"user/*.cruds"}, SimulateError: c.name})
		r := e.get("/fhir/Patient/p1", tok)
		expectOutcome(t, r, c.status, string(c.name))
		if c.header != "" && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), c.header) {
			t.Errorf("%s: WWW-Authenticate %q", c.name, r.header.Get("WWW-Authenticate"))
		}
		if c.name == "request_expired_token" && !strings.Contains(r.header.Get("WWW-Authenticate"), "expired") {
			t.Errorf("expired: %q", r.header.Get("WWW-Authenticate"))
		}
		if c.name == "request_rate_limited" && r.header.Get("Retry-After") != "1" {
			t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
		}
	}
	fast := newEnv(t, nil, func(o *Options) { o.SlowDelay = time.Millisecond })
	slow := fast.token(smart.Grant{Scopes: []string{"user/*.rs"}, SimulateError: smart.SimRequestSlow})
	if r := fast.get("/fhir/Patient/p1", slow); r.status != 200 {
		t.Errorf("request_slow: %d", r.status)
	}
	// A cancelled request during the delay does not proceed.
	e = newEnv(t, nil, func(o *Options) { o.SlowDelay = time.Hour })
	slowLong := e.token(smart.Grant{Scopes: []string{"user/*.rs"}, SimulateError: smart.SimRequestSlow})
	req, _ := http.NewRequest("GET", e.ts.URL+"/fhir/Patient/p1", nil)
	req.Header.Set("Authorization", "Bearer "+slowLong)
	ctx, cancel := contextWithCancel()
	cancel()
	if _, err := e.ts.Client().Do(req.WithContext(ctx)); err == nil {
		t.Error("cancelled slow request returned a response")
	}
}

// TestWellKnownNotShadowed: authz serves .well-known/smart-configuration on
// the same bases with method patterns; Mount must neither panic nor win.
func TestWellKnownNotShadowed(t *testing.T) {
	e := newEnv(t, nil)
	for _, p := range []string{"/fhir/.well-known/smart-configuration", "/sim/{scenario}/fhir/.well-known/smart-configuration"} {
		e.mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"authz":true}`)) })
		e.mux.HandleFunc("OPTIONS "+p, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) })
	}
	for _, p := range []string{"/fhir/.well-known/smart-configuration", "/sim/sc1/fhir/.well-known/smart-configuration"} {
		if r := e.get(p, ""); r.status != 200 || string(r.body) != `{"authz":true}` {
			t.Errorf("%s: %d %s", p, r.status, r.body)
		}
		if r := e.do("OPTIONS", p, "", ""); r.status != 299 {
			t.Errorf("OPTIONS %s: %d", p, r.status)
		}
	}
}
