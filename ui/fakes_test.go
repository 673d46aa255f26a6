package ui

import (
	"context"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/smarttest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// newFakeDir is a small directory (the FHIR store implements the real one).
func newFakeDir() *smarttest.Directory {
	return &smarttest.Directory{
		Patients: []smart.PersonSummary{
			{ResourceType: "Patient", ID: "p1", Name: "Amy V. Shaw", Gender: "female", BirthDate: "1987-02-20", MRN: "MRN-1001", Summary: "Type 2 diabetes, hypertension", Patients: []string{"p1"}},
			{ResourceType: "Patient", ID: "p2", Name: "Bob Kramer", Gender: "male", BirthDate: "1950-11-02", MRN: "MRN-1002", Summary: "COPD", Patients: []string{"p2"}},
			{ResourceType: "Patient", ID: "p3", Name: "Cara Lee", Gender: "female", BirthDate: "2024-01-15", MRN: "MRN-1003", Summary: "Well child", Patients: []string{"p3"}},
		},
		PractitionerList: []smart.PersonSummary{
			{ResourceType: "Practitioner", ID: "pr-1", Name: "Dr. Susan Clark", Role: "Family medicine physician"},
			{ResourceType: "Practitioner", ID: "pr-2", Name: "Dr. Omar Haddad", Role: "Cardiologist"},
		},
		EncounterList: []smart.EncounterSummary{
			{ID: "enc-1", PatientID: "p1", Status: "in-progress", Class: "AMB", Type: "Office visit", Start: time.Date(2025, 2, 28, 9, 0, 0, 0, time.UTC), Location: "Clinic A"},
			{ID: "enc-2", PatientID: "p1", Status: "finished", Class: "AMB", Type: "Annual checkup", Start: time.Date(2024, 5, 1, 9, 0, 0, 0, time.UTC)},
			{ID: "enc-3", PatientID: "p2", Status: "in-progress", Class: "IMP", Type: "Inpatient stay", Start: time.Date(2025, 2, 20, 9, 0, 0, 0, time.UTC)},
		},
		AllergyLists: map[string][]string{"p1": {"Penicillin", "Peanuts"}, "p2": {}},
		Resources:    map[string]bool{"Observation/obs-1": true, "DocumentReference/doc-1": true, "Observation/doc-1": true, "DocumentReference/obs-1": true},
	}
}

// testUI is a ui.Handler over the real launcher service and client
// registry (on a temporary database) and a fake directory.
type testUI struct {
	srv      *httptest.Server
	base     string
	launches *launcher.Service
	registry *clients.Registry
	dir      *smarttest.Directory
	now      time.Time
	client   *http.Client // does not follow redirects
}

func newTestUI(t *testing.T) *testUI {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	tu := &testUI{dir: newFakeDir(), now: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
	mux := http.NewServeMux()
	tu.srv = httptest.NewServer(mux)
	t.Cleanup(tu.srv.Close)
	tu.base = tu.srv.URL
	clock := func() time.Time { return tu.now }
	if tu.registry, err = clients.NewRegistry(ctx, db, clients.RegistryOptions{BaseURL: tu.base, Now: clock}); err != nil {
		t.Fatal(err)
	}
	if tu.launches, err = launcher.New(ctx, launcher.Options{BaseURL: tu.base, DB: db, Directory: tu.dir, Clients: tu.registry, Now: clock}); err != nil {
		t.Fatal(err)
	}
	h := &Handler{BaseURL: tu.base, Launches: tu.launches, Directory: tu.dir, Clients: tu.registry, Now: clock}
	h.Mount(mux)
	jar, _ := cookiejar.New(nil)
	tu.client = &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return tu
}

// get and post return status, headers and body.
func (tu *testUI) get(t *testing.T, path string) (int, http.Header, string) {
	t.Helper()
	res, err := tu.client.Get(tu.base + path)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, res)
}

func (tu *testUI) post(t *testing.T, path string, form url.Values) (int, http.Header, string) {
	t.Helper()
	res, err := tu.client.PostForm(tu.base+path, form)
	if err != nil {
		t.Fatal(err)
	}
	return read(t, res)
}

func read(t *testing.T, res *http.Response) (int, http.Header, string) {
	t.Helper()
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

// mustContain fails for each want missing from body.
func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func mustNotContain(t *testing.T, body string, bad ...string) {
	t.Helper()
	for _, w := range bad {
		if strings.Contains(body, w) {
			t.Errorf("page has %q", w)
		}
	}
}
