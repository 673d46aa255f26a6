package authz

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestTokenRowsContract is the one contract of tokenRows, run against
// SQLite and PostgreSQL through two instances sharing the data (two
// *store.DB on one database; with SQLite, one file).
func TestTokenRowsContract(t *testing.T) {
	for name, backend := range keyBackends() {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			open := backend(t)
			a, b := tokenRowsFor(open()), tokenRowsFor(open())
			now := time.Now()
			hash := func(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }
			famData := func(id, user, session string, online bool) []byte {
				return fmt.Appendf(nil, `{"id":%q,"fhir_user":%q,"session_id":%q,"online":%t}`, id, user, session, online)
			}
			tok := func(handle, kind string) tokenRow {
				return tokenRow{hash: hash(handle), kind: kind, id: "id-" + handle, scope: []byte(`["openid","patient/*.rs"]`),
					issuedAt: now.UnixMilli(), expiresAt: now.Add(time.Hour).UnixMilli()}
			}
			exp := now.Add(2 * time.Hour).Unix()

			// A new family with its code and two tokens, written on a, read on b.
			if err := a.save(ctx, saveOp{family: &famRow{id: "f1", data: famData("f1", "Practitioner/pr-1", "s1", true), expiresAt: exp},
				codeHash: hash("code-1"), codeAt: now.UnixMilli(), famID: "f1", tokens: []tokenRow{tok("at-1", kindAccess), tok("rt-1", kindRefresh)}}); err != nil {
				t.Fatal(err)
			}
			row, data, err := b.load(ctx, hash("at-1"))
			if err != nil || row.famID != "f1" || row.kind != kindAccess || row.id != "id-at-1" || string(row.scope) != `["openid","patient/*.rs"]` ||
				row.expiresAt != now.Add(time.Hour).UnixMilli() || string(data) != string(famData("f1", "Practitioner/pr-1", "s1", true)) {
				t.Fatalf("load on the other instance = %+v %s %v", row, data, err)
			}
			if _, _, err := b.load(ctx, hash("code-1")); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("a code's row loads as a token: %v", err)
			}
			if id, _, err := b.codeFamily(ctx, hash("code-1")); err != nil || id != "f1" {
				t.Errorf("codeFamily = %q %v, want f1", id, err)
			}
			if _, _, err := b.codeFamily(ctx, hash("at-1")); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("a token's row reads as a code: %v", err)
			}
			if _, _, err := b.load(ctx, hash("nope")); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("unknown hash: %v", err)
			}

			// Rotation: concurrent refreshes of rt-1 on both instances, one wins (REF-06).
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins, used := 0, 0
			for i := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s := []tokenRows{a, b}[i%2]
					err := s.save(ctx, saveOp{famID: "f1", rotated: hash("rt-1"), extendTo: exp + 3600,
						tokens: []tokenRow{tok(fmt.Sprint("at-r", i), kindAccess), tok(fmt.Sprint("rt-r", i), kindRefresh)}})
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						wins++
					case errors.Is(err, errRefreshUsed):
						used++
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 || used != 7 {
				t.Fatalf("rotation: %d won, %d refused, want 1 and 7", wins, used)
			}
			if live, err := a.live(ctx, hash("rt-1")); err != nil || live {
				t.Errorf("rotated refresh token live = %v %v", live, err)
			}
			if live, err := a.live(ctx, hash("at-1")); err != nil || !live {
				t.Errorf("access token live = %v %v", live, err)
			}
			// The losers wrote nothing.
			lost := 0
			for i := range 8 {
				if _, _, err := a.load(ctx, hash(fmt.Sprint("at-r", i))); errors.Is(err, sql.ErrNoRows) {
					lost++
				}
			}
			if lost != 7 {
				t.Errorf("%d of the losing refreshes' tokens are missing, want 7", lost)
			}
			// The winner pushed the family's expiry out.
			gs, err := b.grants(ctx, "Practitioner/pr-1", now)
			if err != nil || len(gs) != 1 || gs[0].id != "f1" || gs[0].expiresAt != exp+3600 {
				t.Fatalf("grants = %+v %v", gs, err)
			}

			// Revocations on one instance are read on the other.
			if err := b.revokeToken(ctx, hash("at-1")); err != nil {
				t.Fatal(err)
			}
			if _, _, err := a.load(ctx, hash("at-1")); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("revoked token loads: %v", err)
			}
			if err := a.save(ctx, saveOp{family: &famRow{id: "f2", data: famData("f2", "Practitioner/pr-1", "s1", false), expiresAt: exp},
				famID: "f2", tokens: []tokenRow{tok("at-2", kindAccess)}}); err != nil {
				t.Fatal(err)
			}
			if err := a.save(ctx, saveOp{family: &famRow{id: "f3", data: famData("f3", "Patient/p-1", "s2", true), expiresAt: exp},
				famID: "f3", tokens: []tokenRow{tok("at-3", kindAccess)}}); err != nil {
				t.Fatal(err)
			}
			// The session's online families go; its offline one and other sessions stay.
			if err := b.revokeSession(ctx, "s1"); err != nil {
				t.Fatal(err)
			}
			for h, want := range map[string]bool{"rt-1": false, "at-2": true, "at-3": true} {
				live, err := a.live(ctx, hash(h))
				if err != nil {
					t.Fatal(err)
				}
				if live != want {
					t.Errorf("after revokeSession(s1): %s live = %v, want %v", h, live, want)
				}
			}
			if gs, err := a.grants(ctx, "Practitioner/pr-1", now); err != nil || len(gs) != 1 || gs[0].id != "f2" {
				t.Errorf("grants after the session's revocation = %+v %v, want f2 only", gs, err)
			}
			if err := a.revokeFamily(ctx, "f3"); err != nil {
				t.Fatal(err)
			}
			if live, err := b.live(ctx, hash("at-3")); err != nil || live {
				t.Errorf("token of a revoked family live = %v %v", live, err)
			}

			// A save that fails (a duplicate family) writes nothing.
			if err := a.save(ctx, saveOp{family: &famRow{id: "f2", data: famData("f2", "", "", false), expiresAt: exp},
				famID: "f2", tokens: []tokenRow{tok("at-dup", kindAccess)}}); err == nil {
				t.Error("a second family with one id was saved")
			}
			if _, _, err := b.load(ctx, hash("at-dup")); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("a failed save left its token: %v", err)
			}

			// The sweep deletes what expired, on every instance.
			if err := a.sweep(ctx, now.Add(90*time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := b.load(ctx, hash("at-2")); !errors.Is(err, sql.ErrNoRows) {
				t.Errorf("expired token survived the sweep: %v", err)
			}
			if gs, err := b.grants(ctx, "Practitioner/pr-1", now); err != nil || len(gs) != 1 {
				t.Errorf("unexpired family swept: %+v %v", gs, err)
			}
		})
	}
}
