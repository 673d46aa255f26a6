package launcher

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/smarttest"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// fakeDir is a tiny directory: three patients, two practitioners,
// encounters with one in-progress for pt-1, and a few other resources.
func fakeDir() *smarttest.Directory {
	d := &smarttest.Directory{PractitionerList: fakePractitioners, EncounterList: fakeEncounters, Resources: fakeResources}
	for _, id := range []string{"pt-1", "pt-2", "pt-3"} {
		d.Patients = append(d.Patients, smart.PersonSummary{ResourceType: "Patient", ID: id, Patients: []string{id}})
	}
	return d
}

var (
	fakePractitioners = []smart.PersonSummary{{ResourceType: "Practitioner", ID: "pr-1"}, {ResourceType: "Practitioner", ID: "pr-2"}}
	t0                = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	fakeEncounters    = []smart.EncounterSummary{ // most recent first per patient
		{ID: "enc-1b", PatientID: "pt-1", Status: "finished", Start: t0.Add(48 * time.Hour)},
		{ID: "enc-1a", PatientID: "pt-1", Status: "in-progress", Start: t0.Add(24 * time.Hour)},
		{ID: "enc-1z", PatientID: "pt-1", Status: "in-progress", Start: t0},
		{ID: "enc-2a", PatientID: "pt-2", Status: "finished", Start: t0},
	}
	fakeResources = map[string]bool{"Observation/obs-1": true, "ImagingStudy/img-1": true}
)

// fakeClients registers the ids given to newFakeClients and records the
// clients launches define.
type fakeClients struct {
	registered map[string]bool

	mu      sync.Mutex
	defined []definedClient
}

type definedClient struct {
	client clients.Client
	secret string
	until  time.Time
}

func newFakeClients(ids ...string) *fakeClients {
	f := &fakeClients{registered: map[string]bool{}}
	for _, id := range ids {
		f.registered[id] = true
	}
	return f
}

func (f *fakeClients) ClientExists(_ context.Context, id string) (bool, error) {
	return f.registered[id], nil
}

func (f *fakeClients) DefineLaunchClient(_ context.Context, c clients.Client, secret string, until time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.defined = append(f.defined, definedClient{c, secret, until})
	return nil
}

func (f *fakeClients) definitions() []definedClient {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]definedClient(nil), f.defined...)
}

const testBase = "http://ehr.test:8080"

type env struct {
	t       *testing.T
	clients *fakeClients
	dir     string
	db      *store.DB
	svc     *Service
	clock   *smarttest.Clock
	srv     *httptest.Server
}

// newEnv opens a store in a temp data dir (or dir, when given) and serves
// the Service's Mount on httptest.
func newEnv(t testing.TB, dir string) *env {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	ctx := context.Background()
	db, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ck := smarttest.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
	fc := newFakeClients("sample-app", "reg-app")
	svc, err := New(ctx, Options{
		BaseURL: testBase + "/", Now: ck.Now, DB: db, Directory: fakeDir(),
		Clients: fc,
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := &env{dir: dir, db: db, svc: svc, clock: ck, srv: srv, clients: fc}
	if tt, ok := t.(*testing.T); ok {
		e.t = tt
	}
	return e
}

// post sends body (a string or a value to marshal) as JSON.
func (e *env) post(body any) (int, map[string]any, http.Header) {
	e.t.Helper()
	var b []byte
	switch v := body.(type) {
	case string:
		b = []byte(v)
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			e.t.Fatal(err)
		}
	}
	return e.do("POST", "/api/launches", "application/json", b)
}

func (e *env) do(method, path, ctype string, body []byte) (int, map[string]any, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		e.t.Fatalf("%s %s: %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, m, resp.Header
}
