package authz

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// Tokens load lazily after a restart (start-up must not grow with the
// number of tokens issued), and revocations reach tokens not loaded yet:
// ending a login session revokes its online_access families on disk
// (REF-10), and revoking a family by id works without it in memory.
func TestTokensLoadLazilyAndRevocationsReachUnloadedFamilies(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	issue := func(ts *tokenStore, id string, online bool, session string) string {
		fam := &family{ID: id, ClientID: "c", Subject: "u", Scopes: []string{"patient/*.rs"}, Context: smart.LaunchContext{Patient: "p-1"},
			Online: online, SessionID: session, ExpiresAt: now().Add(time.Hour)}
		tok := ts.mint(kindAccess, fam, fam.Scopes, time.Hour)
		if err := ts.save(ctx, fam, true, "", nil, "", tok); err != nil {
			t.Fatal(err)
		}
		return tok.handle
	}
	before := newTokenStore(db, now)
	online := issue(before, "fam-online", true, "sess-1")
	offline := issue(before, "fam-offline", false, "sess-1")
	other := issue(before, "fam-other", false, "sess-2")

	// "Restart": a new store on the same database holds nothing in memory.
	after := newTokenStore(db, now)
	if n := after.familiesInMemory(); n != 0 {
		t.Fatalf("%d families in memory at start, want 0 (lazy)", n)
	}
	after.revokeSession(ctx, "sess-1")
	if err := after.revokeFamilyID(ctx, "fam-other"); err != nil {
		t.Fatal(err)
	}
	if _, ok := after.lookup(online); ok {
		t.Error("online_access token of an ended session still resolves after restart")
	}
	if _, ok := after.lookup(other); ok {
		t.Error("token of a family revoked by id still resolves")
	}
	e, ok := after.lookup(offline)
	if !ok || e.grant == nil || e.grant.Patient != "p-1" {
		t.Fatalf("offline_access token did not load lazily: %v %+v", ok, e)
	}
	if n := after.familiesInMemory(); n != 1 {
		t.Errorf("%d families loaded, want only the one used", n)
	}
}

// A family saved before the launch context had its own type (top-level
// keys, fhir_context) still loads its context: tokens issued before an
// upgrade keep answering with it.
func TestFamilyLoadsLegacyContext(t *testing.T) {
	var f family
	legacy := `{"id":"f1","client_id":"c","sub":"u","scopes":["launch"],"patient":"p-1","encounter":"e-1",
		"fhir_context":[{"reference":"DocumentReference/d-1"}],"need_patient_banner":false,"smart_style_url":"https://s/v1.json",
		"intent":"i","tenant":"t","aud":"http://x/fhir","client":{"client":{"client_id":"c","client_type":"public"}}}`
	if err := json.Unmarshal([]byte(legacy), &f); err != nil {
		t.Fatal(err)
	}
	c := f.Context
	if f.ID != "f1" || f.Client.Client.ID != "c" || c.Patient != "p-1" || c.Encounter != "e-1" || len(c.FHIRContext) != 1 ||
		c.NeedPatientBanner == nil || *c.NeedPatientBanner || c.SmartStyleURL != "https://s/v1.json" || c.Intent != "i" || c.Tenant != "t" {
		t.Fatalf("legacy family = %+v", &f)
	}
	b, _ := json.Marshal(&f)
	var again family
	if err := json.Unmarshal(b, &again); err != nil || again.Context.Patient != "p-1" || len(again.Context.FHIRContext) != 1 {
		t.Fatalf("round trip %s: %+v %v", b, &again, err)
	}
}
