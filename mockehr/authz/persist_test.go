package authz

import (
	"context"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// Tokens, refresh tokens and signing keys survive a restart (docs/architecture.md, state and storage).
func TestRestartKeepsTokensAndKeys(t *testing.T) {
	h := newTestServer(t)
	body := refreshable(t, h, "openid", "fhirUser", "offline_access", "patient/*.rs")
	keys1 := h.srv.keys.keySet(t.Context())
	srv2, err := New(t.Context(), Options{BaseURL: h.base, DB: h.db, Clients: h.reg, Launches: h.launches, Directory: fakeDir(), Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	g, err := srv2.ResolveGrant(t.Context(), body["access_token"].(string))
	if err != nil || g.Patient != "p-1" || g.ClientID != "conf" {
		t.Fatalf("after restart: %+v %v", g, err)
	}
	if in, ok := srv2.introspect(body["refresh_token"].(string)).(*introspection); !ok || !in.Active || in.Patient != "p-1" {
		t.Fatalf("refresh token after restart: %+v", in)
	}
	keys2 := srv2.keys.keySet(t.Context())
	if len(keys2) != 1 || keys2[0].ID() != keys1[0].ID() {
		t.Fatalf("signing key changed across restart")
	}
	// a revoked family stays revoked after restart
	srv2.tokens.revokeFamily(t.Context(), srv2.tokensFamily(body["access_token"].(string)))
	srv3, _ := New(t.Context(), Options{BaseURL: h.base, DB: h.db, Now: h.clock.Now})
	if _, err := srv3.ResolveGrant(t.Context(), body["access_token"].(string)); err == nil {
		t.Fatal("revoked token alive after restart")
	}
}

func (s *Server) tokensFamily(tok string) *family {
	e, _ := s.tokens.lookup(tok)
	return e.fam
}

func TestRotateKeysKeepsOldKeyPublished(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	clk := func() time.Time { return now }
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	kr, err := newKeyRing(ctx, db, clk)
	if err != nil {
		t.Fatal(err)
	}
	old := kr.current(ctx).ID()
	if err := RotateKeys(ctx, db); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute) // past keyReload: the ring reloads
	if cur := kr.current(ctx).ID(); cur == old {
		t.Fatal("active key did not change")
	}
	ids := map[string]bool{}
	for _, k := range kr.keySet(ctx) {
		ids[k.ID()] = true
	}
	if !ids[old] || len(ids) != 2 {
		t.Fatalf("published %v, want old %s and the new key", ids, old)
	}
	now = now.Add(KeyGracePeriod + time.Hour)
	if ks := kr.keySet(ctx); len(ks) != 1 || ks[0].ID() == old {
		t.Fatalf("after grace: %d keys", len(ks))
	}
}
