package authz

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

func boundedStore(t *testing.T, capacity int) (*tokenStore, func(id string) string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	now := func() time.Time { return time.Unix(1_800_000_000, 0) }
	ts := newTokenStore(db, now)
	ts.setCapacity(capacity)
	issue := func(id string) string {
		fam := &family{ID: id, ClientID: "c", Subject: "u", Scopes: []string{"patient/*.rs"},
			Context: smart.LaunchContext{Patient: "p-" + id}, ExpiresAt: now().Add(time.Hour)}
		tok := ts.mint(kindAccess, fam, fam.Scopes, time.Hour)
		if err := ts.save(ctx, fam, true, "", nil, "", tok); err != nil {
			t.Fatal(err)
		}
		return tok.handle
	}
	return ts, issue
}

// The in-memory token index is a bounded cache over the database: a server
// that has issued many more tokens than the cache holds keeps at most the
// cache's worth of tokens and families in memory, and every token still
// resolves, with its own grant, from the database.
func TestTokenIndexIsBounded(t *testing.T) {
	const capacity, issued = 256, 3000
	ts, issue := boundedStore(t, capacity)
	handles := make([]string, issued)
	for i := range handles {
		handles[i] = issue(fmt.Sprint("f", i))
	}
	limit := ts.perShard * shardCount
	if n := ts.tokensInMemory(); n > limit {
		t.Fatalf("%d tokens in memory after %d issued, want at most %d", n, issued, limit)
	}
	for i, h := range handles {
		e, ok := ts.lookup(h)
		if !ok || e.grant.Patient != fmt.Sprint("p-f", i) {
			t.Fatalf("token %d does not resolve to its grant after eviction: %v", i, ok)
		}
	}
	if n := ts.tokensInMemory(); n > limit {
		t.Fatalf("%d tokens in memory after reading all back, want at most %d", n, limit)
	}
	runtime.GC()
	runtime.GC()
	ts.famMu.Lock()
	for id := range ts.families {
		ts.familyLocked(id)
	}
	ts.famMu.Unlock()
	if n := ts.familiesInMemory(); n > limit+16 {
		t.Errorf("%d families held in memory with %d tokens cached, want them to go with their tokens", n, limit)
	}
}

// Revocation is exact while tokens are evicted and reloaded concurrently:
// once revokeFamilyID or revokeToken returns, no lookup of the token
// succeeds on any copy, evicted, cached or being loaded (REV-03, REV-04).
func TestRevocationHoldsUnderEvictionChurn(t *testing.T) {
	ts, issue := boundedStore(t, 4) // tiny: every lookup churns the cache
	const n = 200
	handles := make([]string, n)
	for i := range handles {
		handles[i] = issue(fmt.Sprint("f", i))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := g; !stop.Load(); i = (i + 7) % n {
				ts.lookup(handles[i])
			}
		}(g)
	}
	ctx := context.Background()
	for i := 0; i < n; i++ {
		if i%2 == 0 {
			if err := ts.revokeFamilyID(ctx, fmt.Sprint("f", i)); err != nil {
				t.Fatal(err)
			}
		} else {
			e, ok := ts.lookup(handles[i])
			if !ok {
				t.Fatalf("token %d unknown before its revocation", i)
			}
			if err := ts.revokeToken(ctx, handles[i], e); err != nil {
				t.Fatal(err)
			}
		}
		for k := 0; k < 3; k++ {
			if e, ok := ts.lookup(handles[i]); ok && e.active(ts.now()) {
				stop.Store(true)
				wg.Wait()
				t.Fatalf("token %d still active after its revocation returned", i)
			}
		}
	}
	stop.Store(true)
	wg.Wait()
	for i, h := range handles {
		if e, ok := ts.lookup(h); ok && e.active(ts.now()) {
			t.Errorf("revoked token %d active at the end", i)
		}
	}
}

// BenchmarkTokenSave is the database write of a code exchange: a family,
// its access and refresh tokens and the code's row, in one transaction.
func BenchmarkTokenSave(b *testing.B) {
	ctx := context.Background()
	db, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := migrate(ctx, db); err != nil {
		b.Fatal(err)
	}
	ts := newTokenStore(db, time.Now)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		fam := &family{ID: fmt.Sprint("f", i), ClientID: "c", Subject: "u", Scopes: []string{"launch", "offline_access", "patient/*.rs"},
			Context: smart.LaunchContext{Patient: "p-1"}, ExpiresAt: time.Now().Add(time.Hour), RefreshTTL: time.Hour}
		at := ts.mint(kindAccess, fam, fam.Scopes, time.Hour)
		rt := ts.mint(kindRefresh, fam, fam.Scopes, time.Hour)
		if err := ts.save(ctx, fam, true, fmt.Sprint("code-", i), nil, "", at, rt); err != nil {
			b.Fatal(err)
		}
	}
}

// familiesInMemory counts the families held in memory.
func (ts *tokenStore) familiesInMemory() int {
	ts.famMu.Lock()
	defer ts.famMu.Unlock()
	n := 0
	for id := range ts.families {
		if ts.familyLocked(id) != nil {
			n++
		}
	}
	return n
}

// tokensInMemory counts the tokens the index holds.
func (ts *tokenStore) tokensInMemory() int {
	n := 0
	for i := range ts.shards {
		sh := &ts.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Tokens and inspector events in memory never keep their requests' bytes
// alive: a family holds copies of the few strings it needs (client id,
// scopes, audience) and an event copies (and cuts) the parameters it shows,
// not slices of the request lines they came in, so 100 authorizations with
// 256 KB of padding each leave far less than 25 MB behind. (The harness's
// h.get keeps its responses until the test ends, so this test does not use
// it.)
func TestTokensDoNotHoldTheirRequests(t *testing.T) {
	h := newTestServer(t)
	aud := h.mint(launcher.Request{LaunchType: "patient-standalone", Patient: "p-1", SkipLogin: true, SkipConsent: true}).FHIRBaseURL
	pad := strings.Repeat("x", 256<<10)
	heap := func() uint64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	browser := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	var toks []*oauth2.Token
	before := heap()
	for range 100 {
		f := h.newFlow("pub", "", aud, "offline_access", "patient/*.rs").with("pad", pad)
		resp, err := browser.Get(f.authURL())
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %s", resp.StatusCode, resp.Header.Get("Location"))
		}
		toks = append(toks, h.exchange(f, loc.Query().Get("code")))
	}
	browser.CloseIdleConnections()
	after := heap()
	// Held, the padding alone is 25 MB; other tests running in parallel
	// move the heap by a few MB.
	if grown := int64(after) - int64(before); grown > 10<<20 {
		t.Errorf("100 tokens hold %d KB; their requests' bytes are kept alive", grown>>10)
	}
	for _, tok := range toks { // the tokens are still in use
		if _, err := h.srv.ResolveGrant(context.Background(), tok.AccessToken); err != nil {
			t.Fatal(err)
		}
	}
}
