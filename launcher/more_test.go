package launcher

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

func TestEHR09_ConcurrentConsumeOneWinner(t *testing.T) {
	e := newEnv(t, "")
	_, l, err := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1", LaunchOnce: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 16
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cp, err := e.svc.Open(ctx, l.Code())
			if err == nil {
				err = e.svc.Consume(ctx, cp)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	won, used := 0, 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, ErrLaunchUsed):
			used++
		default:
			t.Errorf("unexpected: %v", err)
		}
	}
	if won != 1 || used != n-1 {
		t.Fatalf("winners %d, used %d; want 1 and %d", won, used, n-1)
	}
}

func TestEHR09_ExpiredLaunchOnceNotConsumable(t *testing.T) {
	e := newEnv(t, "")
	_, l, _ := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1", LaunchOnce: true})
	e.clock.Add(24 * time.Hour)
	if err := e.svc.Consume(ctx, l); !errors.Is(err, ErrExpiredLaunch) {
		t.Fatalf("Consume expired: %v", err)
	}
}

func TestPruneAfterExpiry(t *testing.T) {
	e := newEnv(t, "")
	_, old, _ := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1", LaunchOnce: true})
	if err := e.svc.Consume(ctx, old); err != nil {
		t.Fatal(err)
	}
	count := func(table string) int {
		var n int
		if err := e.db.SQL.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if count("launcher_launches") != 1 || count("launcher_consumed") != 1 {
		t.Fatal("rows not recorded")
	}
	e.clock.Add(24*time.Hour + time.Minute)
	if _, _, err := e.svc.Mint(ctx, Request{LaunchType: "provider-ehr", Patient: "pt-1"}); err != nil {
		t.Fatal(err)
	}
	if count("launcher_launches") != 1 || count("launcher_consumed") != 0 {
		t.Fatalf("expired rows not pruned: launches %d consumed %d", count("launcher_launches"), count("launcher_consumed"))
	}
}

func TestRestartGetByID(t *testing.T) {
	e := newEnv(t, "")
	_, body, _ := e.post(`{"launch_type":"provider-standalone","patient":"pt-2","app_launch_url":"https://app.example/launch"}`)
	e.db.Close()
	e2 := newEnv(t, e.dir)
	e2.t = t
	status, got, _ := e2.do("GET", "/api/launches/"+body["id"].(string), "", nil)
	if status != http.StatusOK || got["fhir_base_url"] != body["fhir_base_url"] || got["launch_url"] != body["launch_url"] {
		t.Fatalf("after restart: %d %v, minted %v", status, got, body)
	}
	if body["launch_url"] != "https://app.example/launch?iss="+strings.ReplaceAll(strings.ReplaceAll(body["fhir_base_url"].(string), ":", "%3A"), "/", "%2F") {
		t.Fatalf("standalone launch_url %v", body["launch_url"])
	}
}

func TestBackendLaunch(t *testing.T) {
	e := newEnv(t, "")
	jwks := `{"keys":[{"kty":"EC","crv":"P-384","kid":"k","x":"AAAA","y":"BBBB"}]}`
	status, body, _ := e.post(`{"launch_type":"backend-service","encounter":"NONE","simulate_error":"token_invalid_jti","client":{"client_id":"bulk-1","jwks":` + jwks + `,"scope":"system/*.rs"}}`)
	if status != http.StatusCreated {
		t.Fatalf("%d %v", status, body)
	}
	if body["launch"] != "" || body["sim_ehr_url"] != "" || body["launch_url"] != "" || !strings.HasPrefix(body["fhir_base_url"].(string), testBase+"/sim/") {
		t.Fatalf("backend result %v", body)
	}
	sc := strings.TrimSuffix(strings.TrimPrefix(body["fhir_base_url"].(string), testBase+"/sim/"), "/fhir")
	l, err := e.svc.OpenScenario(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if l.Client.ClientType != clients.TypeAsymmetric || l.Client.PKCE != "" || string(l.Client.JWKS) != jwks ||
		l.Practitioner != "" || l.Encounter != "" || l.NeedPatientBanner != nil || l.SmartStyleURL != "" || l.AppLaunchURL != "" {
		t.Fatalf("backend launch %+v", l)
	}
	// A registered backend client needs no keys in the launch.
	if status, body, _ := e.post(`{"launch_type":"backend-service","client":{"client_id":"reg-app"}}`); status != http.StatusCreated {
		t.Fatalf("registered backend: %d %v", status, body)
	}
}

func TestSimulatedErrorApplies(t *testing.T) {
	e := newEnv(t, "")
	for _, name := range smart.SimulatedErrorNames() {
		for _, lt := range LaunchTypes {
			want := !(lt == BackendService && (strings.HasPrefix(name, "auth_") || name == "token_expired_refresh_token"))
			if got := SimulatedErrorApplies(lt, name); got != want {
				t.Errorf("%s in %s: %v, want %v", name, lt, got, want)
			}
			req := Request{LaunchType: string(lt), SimulateError: name}
			if lt == BackendService {
				req.Client = Client{ClientID: "reg-app"}
			} else {
				req.Patient = "pt-1"
			}
			_, _, err := e.svc.Mint(ctx, req)
			var fe *FieldError
			if want && err != nil || !want && (!errors.As(err, &fe) || fe.Field != "simulate_error") {
				t.Errorf("Mint %s in %s: %v", name, lt, err)
			}
		}
	}
	if SimulatedErrorApplies(ProviderEHR, "nope") {
		t.Error("unknown name applies")
	}
}

func TestIDFromInjectedRand(t *testing.T) {
	e := newEnv(t, "")
	svc, err := New(ctx, Options{BaseURL: testBase, DB: e.db, Directory: fakeDir(), Now: e.clock.Now, Rand: bytes.NewReader(bytes.Repeat([]byte{0xfb}, 32))})
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := svc.Mint(ctx, Request{LaunchType: "provider-ehr"})
	if err != nil || res.ID != "-_v7-_v7-_v7-_v7-_v7-w" {
		t.Fatalf("id %q %v", res.ID, err)
	}
	// An exhausted random source is an internal error, not a FieldError.
	svc.rand = bytes.NewReader(nil)
	var fe *FieldError
	if _, _, err := svc.Mint(ctx, Request{LaunchType: "provider-ehr"}); err == nil || errors.As(err, &fe) {
		t.Fatalf("exhausted rand: %v", err)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	e := newEnv(t, "")
	for _, o := range []Options{
		{BaseURL: "localhost:8080", DB: e.db, Directory: fakeDir()},
		{BaseURL: "/relative", DB: e.db, Directory: fakeDir()},
		{BaseURL: testBase, Directory: fakeDir()},
		{BaseURL: testBase, DB: e.db},
	} {
		if _, err := New(ctx, o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
}

// FuzzOpen: arbitrary input never panics and never opens.
func FuzzOpen(f *testing.F) {
	e := newEnv(f, "")
	res, _, err := e.svc.Mint(ctx, fullRequest())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(res.Launch)
	f.Add("AQ")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		l, err := e.svc.Open(ctx, s)
		if s == res.Launch {
			return
		}
		if err == nil || l != nil && !errors.Is(err, ErrExpiredLaunch) {
			t.Fatalf("%q opened: %v %v", s, l, err)
		}
	})
}
