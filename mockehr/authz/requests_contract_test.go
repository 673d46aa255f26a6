package authz

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// requestBackends gives, per implementation, a function making another
// instance's requestStore. Memory is one process's, so its "instances"
// are one store; PostgreSQL's are stores on separate connections pools to
// one database.
func requestBackends() map[string]func(t *testing.T, now func() time.Time) func() requestStore {
	dbs := keyBackends()
	return map[string]func(t *testing.T, now func() time.Time) func() requestStore{
		"memory": func(t *testing.T, now func() time.Time) func() requestStore {
			m := newMemRequests(now)
			return func() requestStore { return m }
		},
		"postgres": func(t *testing.T, now func() time.Time) func() requestStore {
			open := dbs["postgres"](t)
			return func() requestStore {
				st := requestStoreFor(open(), now)
				if _, ok := st.(*pgRequests); !ok {
					t.Fatalf("requestStoreFor chose %T on PostgreSQL", st)
				}
				return st
			}
		},
	}
}

// TestRequestStoreContract is the one contract of requestStore: the
// check-and-sets of the pages (commit, deny, issueCode), the single use of
// codes under concurrent redemption on two instances, replay bookkeeping,
// expiry, and a request's fields surviving the store (a launch keeps its
// scenario and sealed code).
func TestRequestStoreContract(t *testing.T) {
	for name, backend := range requestBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			var clock atomic.Int64
			start := time.Now().Truncate(time.Millisecond)
			clock.Store(start.UnixNano())
			now := func() time.Time { return time.Unix(0, clock.Load()) }
			advance := func(d time.Duration) { clock.Add(int64(d)) }
			instance := backend(t, now)
			a, b := instance(), instance()

			granted, errs := scopes.ParseList("launch/patient openid fhirUser patient/Observation.rs?category=vital-signs")
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			l := (&launcher.Stored{Launch: &launcher.Launch{ID: "l-1", Type: launcher.PatientStandalone, Patients: []string{"p-1", "p-2"},
				Client: launcher.Client{ClientID: "app", ClientSecret: "s3cret"}}, Scenario: "sc-1"}).Restore()
			req := &authRequest{
				ID: "r-1", CreatedAt: now(), ExpiresAt: now().Add(10 * time.Minute),
				ClientID: "app", RedirectURI: "https://app.test/cb", State: "st", Nonce: "n",
				ResponseType: oidc.ResponseTypeCode, Challenge: &oidc.CodeChallenge{Challenge: "ch", Method: oidc.CodeChallengeMethodS256},
				Requested: granted, Granted: granted, Aud: "http://127.0.0.1/fhir", Launch: l,
				Client:    &clientDef{Client: clients.Client{ID: "app", Type: "public"}, AnyRedirect: true, SecretSalt: []byte{1, 2}},
				BrowserID: "br", SessionID: "se", PatientChoice: []string{"p-1", "p-2"},
			}
			if err := a.add(ctx, req); err != nil {
				t.Fatal(err)
			}

			// Two pages read the request on different instances; the first
			// answer counts, the second is refused.
			p1, err1 := a.get(ctx, "r-1", true)
			p2, err2 := b.get(ctx, "r-1", true)
			if err1 != nil || err2 != nil {
				t.Fatal("a new request is not pending on both instances")
			}
			if got := p2; got.RedirectURI != req.RedirectURI || got.Challenge.Challenge != "ch" || len(got.Granted) != 4 ||
				got.Granted[3].Params[0].Value != "vital-signs" || got.Launch == nil || got.Launch.Scenario() != "sc-1" ||
				got.Launch.ID != "l-1" || len(got.Launch.Patients) != 2 || got.Client.Client.ID != "app" || !got.Client.AnyRedirect ||
				len(got.Client.SecretSalt) != 2 || got.BrowserID != "br" || len(got.PatientChoice) != 2 || !got.ExpiresAt.Equal(req.ExpiresAt) {
				t.Fatalf("the request read back differs: %+v", got)
			}
			p1.FHIRUser, p1.encounterAsked = "Patient/p-1", true
			if err := a.commit(ctx, p1); err != nil {
				t.Fatal(err)
			}
			p2.FHIRUser = "Patient/p-2"
			if err := b.commit(ctx, p2); !errors.Is(err, errRequestChanged) {
				t.Fatalf("a commit on a stale copy: %v, want errRequestChanged", err)
			}
			got, _ := b.get(ctx, "r-1", true)
			if got.FHIRUser != "Patient/p-1" || !got.encounterAsked {
				t.Fatalf("after commit: user %q encounterAsked %v", got.FHIRUser, got.encounterAsked)
			}
			// The copy that was committed can be committed again (its version moved on).
			got.Consented = true
			if err := b.commit(ctx, got); err != nil {
				t.Fatal(err)
			}

			// issueCode: of concurrent finishes on both instances, one wins.
			var wg sync.WaitGroup
			var won atomic.Int32
			codes := make([]string, 8)
			for i := range codes {
				codes[i] = randomHandle(32)
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := []requestStore{a, b}[i%2].issueCode(ctx, "r-1", codes[i], now().Add(time.Minute))
					if err == nil {
						won.Add(1)
					} else if !errors.Is(err, errRequestChanged) {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if won.Load() != 1 {
				t.Fatalf("%d codes issued for one request, want 1", won.Load())
			}
			var code string
			for _, c := range codes {
				if _, ok := b.peekCode(ctx, c); ok {
					code = c
				}
			}
			if code == "" {
				t.Fatal("the issued code cannot be peeked")
			}
			if _, err := a.get(ctx, "r-1", true); !errors.Is(err, errNoRequest) {
				t.Error("a request with a code is still pending")
			}
			if r, err := a.get(ctx, "r-1", false); err != nil || !r.Done() {
				t.Error("a request with a code is not found as done")
			}
			if err := a.commit(ctx, got); !errors.Is(err, errRequestChanged) {
				t.Errorf("commit after the code: %v", err)
			}
			if err := a.deny(ctx, "r-1"); !errors.Is(err, errRequestChanged) {
				t.Errorf("deny after the code: %v", err)
			}

			// takeCode: concurrent redemptions on both instances, one wins;
			// the others are replays with no family yet.
			var taken, replays atomic.Int32
			var winner atomic.Pointer[authRequest]
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r, fam, err := []requestStore{a, b}[i%2].takeCode(ctx, code)
					switch {
					case err == nil:
						taken.Add(1)
						winner.Store(r)
					case errors.Is(err, errCodeReplayed) && fam == "":
						replays.Add(1)
					default:
						t.Error(err, fam)
					}
				}()
			}
			wg.Wait()
			if taken.Load() != 1 || replays.Load() != 7 {
				t.Fatalf("takeCode: %d taken, %d replays, want 1 and 7", taken.Load(), replays.Load())
			}
			w := winner.Load()
			if w.Code != code || w.FHIRUser != "Patient/p-1" || !w.Consented || w.Launch.Scenario() != "sc-1" {
				t.Errorf("the redeemed request: %+v", w)
			}
			if _, ok := a.peekCode(ctx, code); ok {
				t.Error("a redeemed code still peeks")
			}
			if launchID, clientID, ok := b.usedCode(ctx, code); !ok || launchID != "l-1" || clientID != "app" {
				t.Errorf("usedCode = %q %q %v", launchID, clientID, ok)
			}
			if replayed, err := b.bindFamily(ctx, code); err != nil || !replayed {
				t.Errorf("bindFamily after replays = %v %v, want replayed", replayed, err)
			}
			if _, _, err := a.takeCode(ctx, code); !errors.Is(err, errCodeUnknown) {
				t.Errorf("takeCode after bindFamily: %v, want errCodeUnknown (the token store knows it from here)", err)
			}

			// A code taken once and bound with no replay reports none.
			for _, id := range []string{"r-2", "r-3", "r-4"} {
				r := *req
				r.ID, r.ExpiresAt = id, now().Add(time.Minute)
				if err := a.add(ctx, &r); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.issueCode(ctx, "r-2", "code-2", now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.takeCode(ctx, "code-2"); err != nil {
				t.Fatal(err)
			}
			if replayed, err := a.bindFamily(ctx, "code-2"); err != nil || replayed {
				t.Errorf("bindFamily without a replay = %v %v", replayed, err)
			}
			// Deny ends a pending request on every instance.
			if err := b.deny(ctx, "r-3"); err != nil {
				t.Fatal(err)
			}
			if _, err := a.get(ctx, "r-3", false); !errors.Is(err, errNoRequest) {
				t.Error("a denied request is still found")
			}
			// An expired code is redeemed all the same (a replay is still one) and refused.
			if err := a.issueCode(ctx, "r-4", "code-4", now().Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
			advance(2 * time.Minute)
			if _, ok := b.peekCode(ctx, "code-4"); ok {
				t.Error("an expired code peeks")
			}
			if _, _, err := b.takeCode(ctx, "code-4"); !errors.Is(err, errCodeExpired) {
				t.Errorf("expired code: %v, want errCodeExpired", err)
			}
			if _, _, err := a.takeCode(ctx, "code-4"); !errors.Is(err, errCodeReplayed) {
				t.Errorf("expired code again: %v, want errCodeReplayed", err)
			}
			if _, _, err := a.takeCode(ctx, "never-issued"); !errors.Is(err, errCodeUnknown) {
				t.Errorf("unknown code: %v", err)
			}
			// An expired request is gone, and issues no code.
			r5 := *req
			r5.ID, r5.ExpiresAt = "r-5", now().Add(time.Second)
			if err := a.add(ctx, &r5); err != nil {
				t.Fatal(err)
			}
			advance(2 * time.Second)
			if _, err := b.get(ctx, "r-5", false); !errors.Is(err, errNoRequest) {
				t.Error("an expired request is found")
			}
			if err := b.issueCode(ctx, "r-5", "code-5", now().Add(time.Minute)); !errors.Is(err, errRequestChanged) {
				t.Errorf("issueCode on an expired request: %v", err)
			}
			// The sweep forgets redeemed codes after usedCodeWindow.
			if err := a.sweep(ctx, now().Add(usedCodeWindow+time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.takeCode(ctx, "code-4"); !errors.Is(err, errCodeUnknown) {
				t.Errorf("a swept code: %v, want errCodeUnknown", err)
			}
			// A request added finished, with its code (nothing to ask), is
			// no longer pending and its code redeems once.
			r7 := *req
			r7.ID, r7.ExpiresAt, r7.done, r7.Code = "r-7", now().Add(time.Minute), true, "code-7"
			if err := a.add(ctx, &r7); err != nil {
				t.Fatal(err)
			}
			if _, err := b.get(ctx, "r-7", true); !errors.Is(err, errNoRequest) {
				t.Error("a request added with its code is pending")
			}
			if got, ok := b.peekCode(ctx, "code-7"); !ok || got.ID != "r-7" {
				t.Error("the code of a request added with it does not peek")
			}
			if got, _, err := b.takeCode(ctx, "code-7"); err != nil || got.ID != "r-7" || got.Code != "code-7" {
				t.Errorf("takeCode of a request added with its code: %v", err)
			}
			if _, _, err := a.takeCode(ctx, "code-7"); !errors.Is(err, errCodeReplayed) {
				t.Errorf("second take: %v", err)
			}
			// delete removes a request and its code.
			r6 := *req
			r6.ID, r6.ExpiresAt = "r-6", now().Add(time.Minute)
			a.add(ctx, &r6)
			b.issueCode(ctx, "r-6", "code-6", now().Add(time.Minute))
			if err := b.delete(ctx, "r-6"); err != nil {
				t.Fatal(err)
			}
			if _, ok := a.peekCode(ctx, "code-6"); ok {
				t.Error("the code of a deleted request peeks")
			}
		})
	}
}

// A launch-defined client secret and the code never reach the shared
// database: the stored request keeps the launch without the secret (the
// client's salted HMAC is what the token endpoint checks) and the code as
// its hash, in a column.
func TestStoredRequestDropsTheLaunchSecret(t *testing.T) {
	l := &launcher.Launch{ID: "l-1", Client: launcher.Client{ClientID: "app", ClientSecret: "s3cret-value"}}
	data, err := encodeRequest(&authRequest{ID: "r", Launch: l, Code: "the-code-itself"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), "the-code-itself") {
		t.Errorf("stored request holds its code: %s", data)
	}
	if strings.Contains(string(data), "s3cret-value") {
		t.Errorf("stored request holds the launch's client secret: %s", data)
	}
	if l.Client.ClientSecret != "s3cret-value" {
		t.Error("encoding changed the launch")
	}
	a, err := decodeRequest(data, 3, true, 42)
	if err != nil || a.Launch.ID != "l-1" || a.Launch.Client.ClientID != "app" || a.version != 3 || !a.done {
		t.Errorf("decoded %+v %v", a, err)
	}
}
