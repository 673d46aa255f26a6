package launcher

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/smarttest"
)

func TestBadInputNamesTheField(t *testing.T) {
	e := newEnv(t, "")
	rsaPub := `{"keys":[{"kty":"RSA","kid":"k1","n":"sXch","e":"AQAB"}]}`
	cases := []struct {
		name, body, field string
	}{
		{"launch_type missing", `{}`, "launch_type"},
		{"launch_type unknown", `{"launch_type":"ehr"}`, "launch_type"},
		{"unknown patient", `{"launch_type":"provider-ehr","patient":"x"}`, "patient"},
		{"empty id in list", `{"launch_type":"provider-ehr","patient":"pt-1,,pt-2"}`, "patient"},
		{"bad id syntax", `{"launch_type":"provider-ehr","patient":"pt 1"}`, "patient"},
		{"portal without patient", `{"launch_type":"patient-portal"}`, "patient"},
		{"portal with two patients", `{"launch_type":"patient-portal","patient":"pt-1,pt-2"}`, "patient"},
		{"patient as array", `{"launch_type":"provider-ehr","patient":["pt-1"]}`, "patient"},
		{"unknown encounter", `{"launch_type":"provider-ehr","patient":"pt-1","encounter":"enc-x"}`, "encounter"},
		{"encounter of another patient", `{"launch_type":"provider-ehr","patient":"pt-1","encounter":"enc-2a"}`, "encounter"},
		{"encounter without patient", `{"launch_type":"provider-ehr","encounter":"enc-1a"}`, "encounter"},
		{"encounter with two patients", `{"launch_type":"provider-ehr","patient":"pt-1,pt-2","encounter":"enc-1a"}`, "encounter"},
		{"unknown practitioner", `{"launch_type":"provider-ehr","practitioner":"pr-9"}`, "practitioner"},
		{"practitioner on patient launch", `{"launch_type":"patient-portal","patient":"pt-1","practitioner":"pr-1"}`, "practitioner"},
		{"context item empty", `{"launch_type":"provider-ehr","fhir_context":[{"type":"Observation"}]}`, "fhir_context"},
		{"context item two kinds", `{"launch_type":"provider-ehr","fhir_context":[{"reference":"Observation/obs-1","canonical":"http://x/Q/1"}]}`, "fhir_context"},
		{"context STU2 string", `{"launch_type":"provider-ehr","fhir_context":["Observation/obs-1"]}`, "fhir_context"},
		{"context absolute reference", `{"launch_type":"provider-ehr","fhir_context":[{"reference":"http://x/fhir/Observation/obs-1"}]}`, "fhir_context.reference"},
		{"context missing resource", `{"launch_type":"provider-ehr","fhir_context":[{"reference":"Observation/nope"}]}`, "fhir_context.reference"},
		{"context empty role", `{"launch_type":"provider-ehr","fhir_context":[{"reference":"Observation/obs-1","role":""}]}`, "fhir_context.role"},
		{"context relative role", `{"launch_type":"provider-ehr","fhir_context":[{"reference":"Observation/obs-1","role":"focus"}]}`, "fhir_context.role"},
		{"context patient without role", `{"launch_type":"provider-ehr","fhir_context":[{"reference":"Patient/pt-2"}]}`, "fhir_context.role"},
		{"context type mismatch", `{"launch_type":"provider-ehr","fhir_context":[{"reference":"Observation/obs-1","type":"Condition"}]}`, "fhir_context.type"},
		{"context relative canonical", `{"launch_type":"provider-ehr","fhir_context":[{"canonical":"Questionnaire/1"}]}`, "fhir_context.canonical"},
		{"context identifier string", `{"launch_type":"provider-ehr","fhir_context":[{"identifier":"42"}]}`, "fhir_context.identifier"},
		{"context identifier no value", `{"launch_type":"provider-ehr","fhir_context":[{"identifier":{"system":"urn:x"}}]}`, "fhir_context.identifier"},
		{"context unknown member", `{"launch_type":"provider-ehr","fhir_context":[{"ref":"Observation/obs-1"}]}`, "fhir_context.ref"},
		{"app_launch_url relative", `{"launch_type":"provider-ehr","app_launch_url":"/launch.html"}`, "app_launch_url"},
		{"app_launch_url ftp", `{"launch_type":"provider-ehr","app_launch_url":"ftp://x/launch"}`, "app_launch_url"},
		{"smart_style_url relative", `{"launch_type":"provider-ehr","smart_style_url":"style.json"}`, "smart_style_url"},
		{"need_patient_banner string", `{"launch_type":"provider-ehr","need_patient_banner":"yes"}`, "need_patient_banner"},
		{"intent control chars", `{"launch_type":"provider-ehr","intent":"a\nb"}`, "intent"},
		{"tenant too long", `{"launch_type":"provider-ehr","tenant":"` + strings.Repeat("t", 257) + `"}`, "tenant"},
		{"redirect relative", `{"launch_type":"provider-ehr","client":{"client_id":"x","redirect_uris":["/cb"]}}`, "client.redirect_uris"},
		{"redirect fragment", `{"launch_type":"provider-ehr","client":{"client_id":"x","redirect_uris":["https://a/cb#x"]}}`, "client.redirect_uris"},
		{"redirect_uris string", `{"launch_type":"provider-ehr","client":{"client_id":"x","redirect_uris":"https://a/cb"}}`, "client.redirect_uris"},
		{"client_type unknown", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"private"}}`, "client.client_type"},
		{"symmetric without secret", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-symmetric"}}`, "client.client_secret"},
		{"symmetric with jwks", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-symmetric","client_secret":"s","jwks":` + rsaPub + `}}`, "client.jwks"},
		{"public with secret", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_secret":"s"}}`, "client.client_secret"},
		{"asymmetric without keys", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric"}}`, "client.jwks"},
		{"asymmetric both keys", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric","jwks":` + rsaPub + `,"jwks_url":"https://a/jwks"}}`, "client.jwks_url"},
		{"asymmetric with secret", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric","client_secret":"s","jwks":` + rsaPub + `}}`, "client.client_secret"},
		{"jwks array", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric","jwks":[]}}`, "client.jwks"},
		{"jwks without keys", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric","jwks":{"k":[]}}}`, "client.jwks"},
		{"jwks empty keys", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric","jwks":{"keys":[]}}}`, "client.jwks"},
		{"jwks key without kty", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric","jwks":{"keys":[{"n":"a"}]}}}`, "client.jwks"},
		{"jwks private key", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric","jwks":{"keys":[{"kty":"EC","crv":"P-384","x":"a","y":"b","d":"c"}]}}}`, "client.jwks"},
		{"jwks_url not url", `{"launch_type":"provider-ehr","client":{"client_id":"x","client_type":"confidential-asymmetric","jwks_url":"keys.json"}}`, "client.jwks_url"},
		{"pkce plain", `{"launch_type":"provider-ehr","client":{"client_id":"x","pkce":"plain"}}`, "client.pkce"},
		{"pkce plain registered", `{"launch_type":"provider-ehr","client":{"client_id":"reg-app","pkce":"plain"}}`, "client.pkce"},
		{"pkce S256", `{"launch_type":"provider-ehr","client":{"client_id":"x","pkce":"S256"}}`, "client.pkce"},
		{"scope with quote", `{"launch_type":"provider-ehr","client":{"client_id":"x","scope":"launch \"openid\""}}`, "client.scope"},
		{"scope double space", `{"launch_type":"provider-ehr","client":{"client_id":"x","scope":"launch  openid"}}`, "client.scope"},
		{"client_id with space", `{"launch_type":"provider-ehr","client":{"client_id":"my app"}}`, "client.client_id"},
		{"registered with secret", `{"launch_type":"provider-ehr","client":{"client_id":"reg-app","client_secret":"s"}}`, "client.client_secret"},
		{"registered with type", `{"launch_type":"provider-ehr","client":{"client_id":"reg-app","client_type":"public"}}`, "client.client_type"},
		{"default sample-app with type", `{"launch_type":"provider-ehr","client":{"client_type":"confidential-symmetric","client_secret":"s"}}`, "client.client_type"},
		{"standalone creds without id", `{"launch_type":"provider-standalone","client":{"client_type":"public"}}`, "client.client_id"},
		{"client unknown member", `{"launch_type":"provider-ehr","client":{"client_id":"x","secret":"s"}}`, "client.secret"},
		{"backend without client", `{"launch_type":"backend-service"}`, "client.client_id"},
		{"backend public", `{"launch_type":"backend-service","client":{"client_id":"b","client_type":"public"}}`, "client.client_type"},
		{"backend with patient", `{"launch_type":"backend-service","patient":"pt-1","client":{"client_id":"b","jwks_url":"https://a/jwks"}}`, "patient"},
		{"backend with app url", `{"launch_type":"backend-service","app_launch_url":"https://a/l","client":{"client_id":"b","jwks_url":"https://a/jwks"}}`, "app_launch_url"},
		{"backend with redirect", `{"launch_type":"backend-service","client":{"client_id":"b","jwks_url":"https://a/jwks","redirect_uris":["https://a/cb"]}}`, "client.redirect_uris"},
		{"backend with pkce", `{"launch_type":"backend-service","client":{"client_id":"b","jwks_url":"https://a/jwks","pkce":"required"}}`, "client.pkce"},
		{"backend auth error", `{"launch_type":"backend-service","simulate_error":"auth_access_denied","client":{"client_id":"b","jwks_url":"https://a/jwks"}}`, "simulate_error"},
		{"unknown simulated error", `{"launch_type":"provider-ehr","simulate_error":"auth_boom"}`, "simulate_error"},
		{"negative access lifetime", `{"launch_type":"provider-ehr","access_token_lifetime":-1}`, "access_token_lifetime"},
		{"huge access lifetime", `{"launch_type":"provider-ehr","access_token_lifetime":604801}`, "access_token_lifetime"},
		{"fractional lifetime", `{"launch_type":"provider-ehr","access_token_lifetime":1.5}`, "access_token_lifetime"},
		{"negative refresh lifetime", `{"launch_type":"provider-ehr","refresh_token_lifetime":-5}`, "refresh_token_lifetime"},
		{"unknown member", `{"launch_type":"provider-ehr","patients":"pt-1"}`, "patients"},
		{"mis-cased member", `{"Launch_Type":"provider-ehr"}`, "Launch_Type"},
		{"launch_once string", `{"launch_type":"provider-ehr","launch_once":"true"}`, "launch_once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			status, body, _ := e.post(c.body)
			if status != http.StatusBadRequest || body["error"] != "invalid_request" || body["field"] != c.field {
				t.Fatalf("got %d %v; want 400 invalid_request field %q", status, body, c.field)
			}
			if d, _ := body["error_description"].(string); d == "" {
				t.Fatalf("no error_description: %v", body)
			}
		})
	}
}

func TestBadInputMessages(t *testing.T) {
	e := newEnv(t, "")
	_, body, _ := e.post(`{"launch_type":"provider-ehr","patient":"x"}`)
	if body["error_description"] != `unknown patient id "x"` {
		t.Fatalf("description %q", body["error_description"])
	}
}

func TestBodyErrors(t *testing.T) {
	e := newEnv(t, "")
	cases := []struct {
		name, ctype string
		body        []byte
		status      int
		errCode     string
	}{
		{"text/plain", "text/plain", []byte(`{"launch_type":"provider-ehr"}`), 415, "unsupported_media_type"},
		{"no content type", "", []byte(`{"launch_type":"provider-ehr"}`), 415, "unsupported_media_type"},
		{"form", "application/x-www-form-urlencoded", []byte(`launch_type=provider-ehr`), 415, "unsupported_media_type"},
		{"too large", "application/json", append([]byte(`{"launch_type":"provider-ehr","intent":"`), bytes.Repeat([]byte("a"), MaxRequestBody)...), 413, "request_too_large"},
		{"not JSON", "application/json", []byte(`{"launch_type":`), 400, "invalid_request"},
		{"array", "application/json", []byte(`[]`), 400, "invalid_request"},
		{"null", "application/json", []byte(`null`), 400, "invalid_request"},
		{"trailing data", "application/json", []byte(`{"launch_type":"provider-ehr"} {}`), 400, "invalid_request"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e.t = t
			status, body, h := e.do("POST", "/api/launches", c.ctype, c.body)
			if status != c.status || body["error"] != c.errCode || h.Get("Content-Type") != "application/json" {
				t.Fatalf("got %d %v (%s); want %d %s", status, body, h.Get("Content-Type"), c.status, c.errCode)
			}
		})
	}
	// A charset parameter is fine.
	e.t = t
	status, _, _ := e.do("POST", "/api/launches", "application/json; charset=utf-8", []byte(`{"launch_type":"provider-ehr"}`))
	if status != http.StatusCreated {
		t.Fatalf("charset: %d", status)
	}
}

func TestMintOverHTTP(t *testing.T) {
	e := newEnv(t, "")
	status, body, h := e.post(`{"launch_type":"provider-ehr","patient":"pt-1"}`)
	if status != http.StatusCreated {
		t.Fatalf("status %d %v", status, body)
	}
	for _, k := range []string{"id", "launch", "iss", "launch_url", "fhir_base_url", "sim_ehr_url"} {
		if v, ok := body[k].(string); !ok || v == "" {
			t.Errorf("%s missing: %v", k, body)
		}
	}
	if len(body) != 6 {
		t.Errorf("extra members: %v", body)
	}
	if h.Get("Location") != "/api/launches/"+body["id"].(string) || h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", h)
	}
	if body["iss"] != testBase+"/fhir" {
		t.Errorf("iss %v", body["iss"])
	}
}

// TestSecretNeverReadable: the client secret is not in the answer, not in
// any URL, not in the code's bytes, not in GET, not in the data dir.
func TestSecretNeverReadable(t *testing.T) {
	e := newEnv(t, "")
	const secret = "Zq7-very-distinct-secret-4711"
	for _, typ := range []string{"provider-ehr", "provider-standalone"} {
		req := `{"launch_type":"` + typ + `","patient":"pt-1","client":{"client_id":"conf-app","client_type":"confidential-symmetric","client_secret":"` + secret + `"}}`
		status, body, _ := e.do("POST", "/api/launches", "application/json", []byte(req))
		if status != http.StatusCreated {
			t.Fatalf("%s: %d %v", typ, status, body)
		}
		for k, v := range body {
			s := v.(string)
			if strings.Contains(s, secret) {
				t.Errorf("%s: %s carries the secret", typ, k)
			}
			for _, part := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune("/?&=", r) }) {
				if raw, err := base64.RawURLEncoding.DecodeString(part); err == nil && bytes.Contains(raw, []byte(secret)) {
					t.Errorf("%s: %s decodes to the plaintext secret", typ, k)
				}
			}
		}
		for _, id := range []string{body["id"].(string), body["launch"].(string)} {
			if id == "" {
				continue
			}
			st, got, _ := e.do("GET", "/api/launches/"+id, "", nil)
			if st != http.StatusOK {
				t.Fatalf("GET %s: %d %v", id, st, got)
			}
			details := got["details"].(map[string]any)
			client := details["client"].(map[string]any)
			if _, ok := client["client_secret"]; ok || got["client_secret_set"] != true {
				t.Errorf("GET shows the secret or hides that one is set: %v", got)
			}
			if client["client_id"] != "conf-app" || details["launch_type"] != typ {
				t.Errorf("GET details %v", details)
			}
		}
	}
	e.db.SQL.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	files, _ := filepath.Glob(filepath.Join(e.dir, "*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("%s holds the plaintext secret", filepath.Base(f))
		}
	}
}

func TestGetLaunch(t *testing.T) {
	e := newEnv(t, "")
	_, body, _ := e.post(`{"launch_type":"provider-ehr","patient":"pt-1","launch_once":true}`)
	id := body["id"].(string)
	status, got, _ := e.do("GET", "/api/launches/"+id, "", nil)
	if status != http.StatusOK || got["launch"] != body["launch"] || got["launch_url"] != body["launch_url"] || got["used"] != false {
		t.Fatalf("GET: %d %v", status, got)
	}
	d := got["details"].(map[string]any)
	if d["id"] != id || d["encounter"] != "enc-1a" || d["practitioner"] != "pr-1" || d["launch_once"] != true {
		t.Fatalf("details %v", d)
	}
	l, _ := e.svc.Open(ctx, body["launch"].(string))
	if err := e.svc.Consume(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, got, _ = e.do("GET", "/api/launches/"+id, "", nil); got["used"] != true {
		t.Fatalf("used not reported: %v", got)
	}
	if status, got, _ = e.do("GET", "/api/launches/nope", "", nil); status != http.StatusNotFound || got["error"] != "not_found" {
		t.Fatalf("unknown: %d %v", status, got)
	}
	e.clock.Add(25 * time.Hour)
	if status, got, _ = e.do("GET", "/api/launches/"+id, "", nil); status != http.StatusGone || got["error"] != "expired" {
		t.Fatalf("expired: %d %v", status, got)
	}
}

// TestHTTPRoundTripEveryField posts every contract field as JSON and reads
// each back from GET /api/launches/{id} under the same key (patient becomes
// the patients list; the secret is withheld).
func TestHTTPRoundTripEveryField(t *testing.T) {
	e := newEnv(t, "")
	raw, _ := json.Marshal(fullRequest())
	var sent map[string]any
	json.Unmarshal(raw, &sent)
	if len(sent) != len(requestKeys) {
		t.Fatalf("fullRequest sets %d of %d fields", len(sent), len(requestKeys))
	}
	status, body, _ := e.do("POST", "/api/launches", "application/json", raw)
	if status != http.StatusCreated {
		t.Fatalf("%d %v", status, body)
	}
	_, got, _ := e.do("GET", "/api/launches/"+body["id"].(string), "", nil)
	d := got["details"].(map[string]any)
	for k, v := range sent {
		switch k {
		case "patient":
			if !reflect.DeepEqual(d["patients"], []any{v}) {
				t.Errorf("patients %v, sent %v", d["patients"], v)
			}
		case "client":
			c := v.(map[string]any)
			delete(c, "client_secret")
			if !reflect.DeepEqual(d[k], c) {
				t.Errorf("client %v, sent %v", d[k], c)
			}
		default:
			if !reflect.DeepEqual(d[k], v) {
				t.Errorf("%s: got %v, sent %v", k, d[k], v)
			}
		}
	}
}

// A data source that is down (an upstream FHIR server) is a 503 naming it,
// with Retry-After, not an internal error; the launch API answers again
// when it is back.
func TestMintWhileTheDirectoryIsDown(t *testing.T) {
	e := newEnv(t, "")
	dir := e.svc.dir.(*smarttest.Directory)
	dir.Down = fmt.Errorf("the upstream FHIR server refused the connection (%w)", smart.ErrUnavailable)
	status, body, h := e.post(`{"launch_type":"provider-ehr","patient":"pt-1"}`)
	if status != http.StatusServiceUnavailable || body["error"] != "unavailable" || h.Get("Retry-After") == "" ||
		!strings.Contains(fmt.Sprint(body["error_description"]), "refused the connection") {
		t.Fatalf("directory down: %d %v %v", status, body, h)
	}
	dir.Down = nil
	if status, body, _ := e.post(`{"launch_type":"provider-ehr","patient":"pt-1"}`); status != http.StatusCreated {
		t.Fatalf("directory back: %d %v", status, body)
	}
}
