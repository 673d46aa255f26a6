package authz

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// family is one authorization: everything the tokens issued from one code
// exchange (or one client_credentials request) share. Refreshes add tokens
// to the same family; revoking the family kills them all.
type family struct {
	ID            string               `json:"id"`
	ClientID      string               `json:"client_id"`
	Subject       string               `json:"sub"`
	FHIRUser      string               `json:"fhir_user,omitempty"` // relative, e.g. Practitioner/pr-1
	FHIRUserURL   string               `json:"fhir_user_url,omitempty"`
	Scopes        []string             `json:"scopes"`
	Context       smart.LaunchContext  `json:"context"` // repeated by every token response and introspection
	Audience      string               `json:"aud"`
	SimulateError smart.SimulatedError `json:"simulate_error,omitempty"`
	LaunchID      string               `json:"launch_id,omitempty"` // for the launch inspector
	AccessTTL     time.Duration        `json:"access_ttl"`
	RefreshTTL    time.Duration        `json:"refresh_ttl"`
	Online        bool                 `json:"online,omitempty"`     // online_access refresh: dies with the login session
	SessionID     string               `json:"session_id,omitempty"` // login session (for online_access and end_session)
	AuthTime      time.Time            `json:"auth_time"`
	Client        clientDef            `json:"client"` // the client rules the tokens were issued under
	ExpiresAt     time.Time            `json:"expires_at"`

	revoked atomic.Bool
}

// UnmarshalJSON also reads families saved before the launch context had
// its own type (its members were top-level keys then, fhirContext as
// fhir_context), so tokens issued before an upgrade keep their context.
func (f *family) UnmarshalJSON(b []byte) error {
	type plain family // no methods: no recursion
	var v struct {
		*plain
		Patient     string                  `json:"patient"`
		Encounter   string                  `json:"encounter"`
		FHIRContext []smart.FHIRContextItem `json:"fhir_context"`
		NeedBanner  *bool                   `json:"need_patient_banner"`
		StyleURL    string                  `json:"smart_style_url"`
		Intent      string                  `json:"intent"`
		Tenant      string                  `json:"tenant"`
	}
	v.plain = (*plain)(f)
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	c := &f.Context
	if c.Patient == "" && c.Encounter == "" && c.FHIRContext == nil && c.NeedPatientBanner == nil && c.SmartStyleURL == "" && c.Intent == "" && c.Tenant == "" {
		*c = smart.LaunchContext{Patient: v.Patient, Encounter: v.Encounter, FHIRContext: v.FHIRContext,
			NeedPatientBanner: v.NeedBanner, SmartStyleURL: v.StyleURL, Intent: v.Intent, Tenant: v.Tenant}
	}
	return nil
}

// grantOf is the grant an access token of fam with scopes stands for.
func grantOf(e *tokenEntry, fam *family) *smart.Grant {
	return &smart.Grant{
		TokenID: e.id, ClientID: fam.ClientID, Subject: fam.Subject, FHIRUser: fam.FHIRUser,
		Scopes: e.scopes, Patient: fam.Context.Patient, Encounter: fam.Context.Encounter, Audience: fam.Audience,
		IssuedAt: e.issuedAt, ExpiresAt: e.expiresAt, SimulateError: fam.SimulateError,
		LaunchID: fam.LaunchID, Refreshable: fam.RefreshTTL > 0 && (slices.Contains(fam.Scopes, "offline_access") || slices.Contains(fam.Scopes, "online_access")),
	}
}

const (
	kindAccess  = "access"
	kindRefresh = "refresh"
	kindCode    = "code" // a redeemed authorization code's row (codeFamily), never a token
)

// tokenEntry is one access or refresh token in memory.
type tokenEntry struct {
	kind      string
	id        string
	fam       *family
	scopes    []string
	issuedAt  time.Time
	expiresAt time.Time
	grant     *smart.Grant // access tokens only; built once at issue time
	revoked   atomic.Bool
	// checked is when the database last confirmed the token unrevoked
	// (unix ns); with a shared database, tokenStore.recheck bounds how old
	// that may be when the token is used.
	checked atomic.Int64
}

func (e *tokenEntry) active(now time.Time) bool {
	return !e.revoked.Load() && !e.fam.revoked.Load() && now.Before(e.expiresAt)
}

const shardCount = 64

// defaultTokenCache is how many tokens the in-memory index holds at most
// (about 0.5 KB each with their grant). The database holds every token;
// the index is a cache of the ones in use, so a server that has issued a
// million tokens holds no more than this many in memory.
const defaultTokenCache = 8 << 10

type shard struct {
	mu sync.RWMutex
	m  map[[32]byte]*tokenEntry
}

// tokenStore indexes tokens by the SHA-256 of their handle and persists
// families and token hashes through tokenRows (SQLite, or PostgreSQL shared
// by several instances).
//
// Memory is bounded: the index is a cache of at most perShard tokens per
// shard (a full shard evicts its oldest sampled entries), and families are
// held weakly, alive only while a cached token (or a request in flight)
// refers to them. Everything evicted reloads from the database on its next
// use (loadOne), so eviction never changes an answer.
//
// Revocation stays exact with eviction: a revoker writes the database
// first, then bumps revocations, then marks whatever is in memory; a
// loader that read the database before that write publishes its entry and
// then sees revocations changed, and re-checks the database. Either the
// revoker finds the loaded entry or the loader sees the revocation.
//
// Another instance's revocation cannot mark this instance's memory; with a
// shared database (recheck > 0) a cached token whose last confirmation is
// older than recheck is confirmed again on use (one indexed query), so a
// token revoked anywhere stops working everywhere within recheck plus one
// query. Rotation needs no such help: it is a check-and-set in the
// database, which every instance's refresh goes through.
type tokenStore struct {
	rows     tokenRows
	now      func() time.Time
	recheck  time.Duration
	shards   [shardCount]shard
	perShard int

	revocations atomic.Uint64 // bumped after every revocation written to the database

	famMu    sync.Mutex
	families map[string]weak.Pointer[family]
}

// sharedRecheck is tokenStore.recheck with a shared database: the 1-second
// bound on serving a token revoked by another instance, with room for the
// query.
const sharedRecheck = 500 * time.Millisecond

// confirmTimeout bounds a confirmation's query: a database that does not
// answer delays a request by at most this, then the cached answer serves.
const confirmTimeout = 2 * time.Second

func newTokenStore(db *store.DB, now func() time.Time) *tokenStore {
	ts := &tokenStore{rows: tokenRowsFor(db), now: now, families: map[string]weak.Pointer[family]{}}
	if db.Postgres() {
		ts.recheck = sharedRecheck
	}
	ts.setCapacity(defaultTokenCache)
	for i := range ts.shards {
		ts.shards[i].m = map[[32]byte]*tokenEntry{}
	}
	return ts
}

// setCapacity bounds the in-memory index to about n tokens.
func (ts *tokenStore) setCapacity(n int) { ts.perShard = max(n/shardCount, 4) }

// family returns the family with id when one is in memory, else nil.
// The caller holds famMu.
func (ts *tokenStore) familyLocked(id string) *family {
	if wp, ok := ts.families[id]; ok {
		if f := wp.Value(); f != nil {
			return f
		}
		delete(ts.families, id)
	}
	return nil
}

// keepFamily indexes fam weakly; the index entry goes when fam is collected.
// The caller holds famMu.
func (ts *tokenStore) keepFamilyLocked(fam *family) {
	wp := weak.Make(fam)
	ts.families[fam.ID] = wp
	runtime.AddCleanup(fam, func(id string) {
		ts.famMu.Lock()
		if cur, ok := ts.families[id]; ok && cur == wp {
			delete(ts.families, id)
		}
		ts.famMu.Unlock()
	}, fam.ID)
}

func (ts *tokenStore) shard(h [32]byte) *shard { return &ts.shards[h[0]%shardCount] }

func (ts *tokenStore) lookup(token string) (*tokenEntry, bool) {
	if len(token) == 0 || len(token) > 512 {
		return nil, false
	}
	h := sha256.Sum256([]byte(token))
	sh := ts.shard(h)
	sh.mu.RLock()
	e, ok := sh.m[h]
	sh.mu.RUnlock()
	if !ok {
		// Issued before a restart (or by another instance): read it once.
		return ts.loadOne(context.Background(), h)
	}
	if ts.recheck > 0 && !e.revoked.Load() {
		ts.confirm(h, e)
	}
	return e, true
}

// confirm re-reads whether e is still unrevoked when its last confirmation
// is older than ts.recheck (a shared database: another instance may have
// revoked it). Concurrent users of a stale entry may each query; one
// query per token per recheck interval is the steady state.
func (ts *tokenStore) confirm(h [32]byte, e *tokenEntry) {
	now := time.Now().UnixNano() // wall clock of this process, not ts.now (tests move that)
	last := e.checked.Load()
	if now-last < int64(ts.recheck) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), confirmTimeout)
	live, err := ts.rows.live(ctx, h[:])
	cancel()
	if err != nil {
		// The database did not answer: keep serving what is known, and
		// ask again on the next use.
		return
	}
	if !live {
		e.revoked.Store(true)
		return
	}
	e.checked.CompareAndSwap(last, now)
}

// put indexes e, evicting when the shard is full: first what can no
// longer be used, else the oldest of a few sampled entries (map iteration
// order is random). An evicted token is still in the database.
func (ts *tokenStore) put(h [32]byte, e *tokenEntry) {
	sh := ts.shard(h)
	sh.mu.Lock()
	if _, ok := sh.m[h]; !ok && len(sh.m) >= ts.perShard {
		ts.evictLocked(sh)
	}
	sh.m[h] = e
	sh.mu.Unlock()
}

func (ts *tokenStore) evictLocked(sh *shard) {
	now := ts.now()
	var oldest [32]byte
	var oldestAt time.Time
	sampled := 0
	for h, e := range sh.m {
		if !e.active(now) {
			delete(sh.m, h)
			return
		}
		if sampled == 0 || e.issuedAt.Before(oldestAt) {
			oldest, oldestAt = h, e.issuedAt
		}
		if sampled++; sampled == 8 {
			break
		}
	}
	delete(sh.m, oldest)
}

// markRevoked marks the in-memory copies of a token revoked after its
// revocation was written: e (when not nil) and whatever the index holds
// under h, which may be a reloaded copy of an evicted e.
func (ts *tokenStore) markRevoked(h [32]byte, e *tokenEntry) {
	ts.revocations.Add(1)
	if e != nil {
		e.revoked.Store(true)
	}
	sh := ts.shard(h)
	sh.mu.RLock()
	cur := sh.m[h]
	sh.mu.RUnlock()
	if cur != nil {
		cur.revoked.Store(true)
	}
}

// newToken is a token about to be issued.
type newToken struct {
	handle string
	entry  *tokenEntry
}

func (ts *tokenStore) mint(kind string, fam *family, scopes []string, ttl time.Duration) newToken {
	now := ts.now()
	e := &tokenEntry{kind: kind, id: randomHandle(9), fam: fam, scopes: scopes, issuedAt: now, expiresAt: now.Add(ttl)}
	e.checked.Store(time.Now().UnixNano())
	if kind == kindAccess {
		e.grant = grantOf(e, fam)
	}
	return newToken{handle: randomHandle(32), entry: e}
}

// save persists a new family (when isNew) and tokens in one transaction,
// retires the rotated refresh token (when not nil; a check-and-set) and
// extends its family, then indexes the tokens.
//
// code is the authorization code a new family was issued from ("" for
// none): its hash is saved with the family, so a replay of the code is
// recognised for as long as the family lives (codeFamily).
func (ts *tokenStore) save(ctx context.Context, fam *family, isNew bool, code string, rotated *tokenEntry, rotatedHandle string, toks ...newToken) error {
	op := saveOp{famID: fam.ID, tokens: make([]tokenRow, len(toks))}
	if isNew {
		data, err := json.Marshal(fam)
		if err != nil {
			return err
		}
		op.family = &famRow{id: fam.ID, data: data, expiresAt: fam.ExpiresAt.Unix()}
		if code != "" {
			h := codeHash(code)
			op.codeHash, op.codeAt = h[:], ts.now().UnixMilli()
		}
	}
	var rotatedHash [32]byte
	var extendTo time.Time
	if rotated != nil {
		// The check-and-set of rotation: of two refreshes racing with one
		// token (on this instance or another), one retires it, the other
		// finds it retired and fails (REF-06). A refresh pushes the
		// family's expiry out, in the same transaction.
		rotatedHash = sha256.Sum256([]byte(rotatedHandle))
		extendTo = refreshedUntil(fam, ts.now())
		op.rotated, op.extendTo = rotatedHash[:], extendTo.Unix()
	}
	hashes := make([][32]byte, len(toks))
	for i, t := range toks {
		hashes[i] = sha256.Sum256([]byte(t.handle))
		e := t.entry
		scope, _ := json.Marshal(e.scopes)
		op.tokens[i] = tokenRow{hash: hashes[i][:], kind: e.kind, id: e.id, scope: scope, issuedAt: e.issuedAt.UnixMilli(), expiresAt: e.expiresAt.UnixMilli()}
	}
	if err := ts.rows.save(ctx, op); err != nil {
		return err
	}
	if rotated != nil {
		ts.markRevoked(rotatedHash, rotated)
		ts.famMu.Lock()
		if extendTo.After(fam.ExpiresAt) {
			fam.ExpiresAt = extendTo
		}
		ts.famMu.Unlock()
	}
	if isNew {
		ts.famMu.Lock()
		ts.keepFamilyLocked(fam)
		ts.famMu.Unlock()
	}
	for i, t := range toks {
		ts.put(hashes[i], t.entry)
	}
	return nil
}

// refreshedUntil is how long a family lives after a refresh at now.
func refreshedUntil(fam *family, now time.Time) time.Time {
	return now.Add(max(fam.RefreshTTL, fam.AccessTTL))
}

// errRefreshUsed is a refresh token retired by a concurrent refresh.
var errRefreshUsed = errors.New("authz: the refresh token was already used")

// revokeFamily kills every token of the family, in memory and on disk.
func (ts *tokenStore) revokeFamily(ctx context.Context, fam *family) error {
	fam.revoked.Store(true) // at once: nothing of it is served from here on
	return ts.revokeFamilyID(ctx, fam.ID)
}

// revokeFamilyID kills the family with id, whether or not it is in memory.
func (ts *tokenStore) revokeFamilyID(ctx context.Context, id string) error {
	err := ts.rows.revokeFamily(ctx, id)
	ts.revocations.Add(1)
	ts.famMu.Lock()
	fam := ts.familyLocked(id)
	ts.famMu.Unlock()
	if fam != nil {
		fam.revoked.Store(true)
	}
	return err
}

// revokeToken kills one token.
func (ts *tokenStore) revokeToken(ctx context.Context, handle string, e *tokenEntry) error {
	e.revoked.Store(true)
	h := sha256.Sum256([]byte(handle))
	err := ts.rows.revokeToken(ctx, h[:])
	ts.markRevoked(h, e)
	return err
}

// revokeSession kills the online_access families of a login session
// (SMART app-launch §refresh: online_access ends with the user's session).
func (ts *tokenStore) revokeSession(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	// On disk first (families not in memory never load again), then what is
	// in memory: the order tokenStore's doc comment relies on.
	err := ts.rows.revokeSession(ctx, sessionID)
	ts.revocations.Add(1)
	ts.famMu.Lock()
	for id := range ts.families {
		if f := ts.familyLocked(id); f != nil && f.SessionID == sessionID && f.Online {
			f.revoked.Store(true)
		}
	}
	ts.famMu.Unlock()
	return err
}

// loadOne reads the token with hash h from the database and keeps it in
// memory. Tokens are loaded lazily, not at start, so start-up does not grow
// with the number of tokens issued; a token of a revoked family is never
// loaded (it stays invalid). A miss costs one indexed query.
func (ts *tokenStore) loadOne(ctx context.Context, h [32]byte) (*tokenEntry, bool) {
	seen := ts.revocations.Load()
	checked := time.Now().UnixNano()
	row, data, err := ts.rows.load(ctx, h[:])
	if err != nil {
		return nil, false
	}
	famID := row.famID
	ts.famMu.Lock()
	fam := ts.familyLocked(famID)
	if fam == nil {
		fam = new(family)
		if err := json.Unmarshal(data, fam); err != nil {
			ts.famMu.Unlock()
			return nil, false
		}
		ts.keepFamilyLocked(fam)
	}
	ts.famMu.Unlock()
	e := &tokenEntry{kind: row.kind, id: row.id, fam: fam, issuedAt: time.UnixMilli(row.issuedAt), expiresAt: time.UnixMilli(row.expiresAt)}
	e.checked.Store(checked)
	if json.Unmarshal(row.scope, &e.scopes) != nil {
		return nil, false
	}
	if e.kind == kindAccess {
		e.grant = grantOf(e, fam)
	}
	ts.put(h, e)
	if ts.revocations.Load() != seen {
		// A revocation was written while this token loaded: it may be this
		// one, and its revoker may have missed the entry just published.
		live, err := ts.rows.live(ctx, h[:])
		if err != nil || !live {
			e.revoked.Store(true)
			return nil, false
		}
	}
	return e, true
}

// sweep drops expired tokens and families from memory and disk.
func (ts *tokenStore) sweep(ctx context.Context) error {
	now := ts.now()
	for i := range ts.shards {
		sh := &ts.shards[i]
		sh.mu.Lock()
		for h, e := range sh.m {
			if !now.Before(e.expiresAt) || e.revoked.Load() || e.fam.revoked.Load() {
				delete(sh.m, h)
			}
		}
		sh.mu.Unlock()
	}
	ts.famMu.Lock()
	for id := range ts.families {
		ts.familyLocked(id) // drops the entries of collected families
	}
	ts.famMu.Unlock()
	return ts.rows.sweep(ctx, now)
}

// codeHash is what authz_tokens keeps of an authorization code (kind
// "code"); the prefix keeps it apart from token hashes.
func codeHash(code string) [32]byte { return sha256.Sum256([]byte("code\x00" + code)) }

// codeFamily names the family an authorization code was exchanged for, with
// its launch and client, when the code was redeemed (on any instance) and
// the family still exists.
func (ts *tokenStore) codeFamily(ctx context.Context, code string) (famID, launchID, clientID string, ok bool) {
	if code == "" || len(code) > 512 {
		return "", "", "", false
	}
	h := codeHash(code)
	famID, data, err := ts.rows.codeFamily(ctx, h[:])
	if err != nil {
		return "", "", "", false
	}
	var f struct {
		LaunchID string `json:"launch_id"`
		ClientID string `json:"client_id"`
	}
	json.Unmarshal(data, &f)
	return famID, f.LaunchID, f.ClientID, true
}

// ResolveGrant implements smart.GrantResolver: one hash and one map lookup,
// no database. The returned Grant is a copy the caller may keep.
func (s *Server) ResolveGrant(_ context.Context, accessToken string) (*smart.Grant, error) {
	e, ok := s.tokens.lookup(accessToken)
	if !ok || e.kind != kindAccess || e.revoked.Load() || e.fam.revoked.Load() {
		return nil, smart.ErrInvalidToken
	}
	g := *e.grant
	if !s.now().Before(e.expiresAt) {
		return &g, smart.ErrExpiredToken
	}
	return &g, nil
}
