package authz

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/store"
)

// requestStore keeps authorization requests from /authorize until their
// code is redeemed, and redeemed codes until their family is saved. Every
// change is a check-and-set, so one request yields at most one code and a
// code is redeemed at most once, however many requests (or instances) race.
// Reads return copies the caller may change; changes go back through
// commit.
//
// Two implementations: memRequests (one process; the default with SQLite)
// and pgRequests (PostgreSQL shared by several instances, so the pages and
// the token exchange of one flow may each land on any instance). They pass
// one contract test (requests_contract_test.go).
type requestStore interface {
	// add stores a new request; one with a code (a.Code, a.done) is
	// stored finished, as issueCode leaves it.
	add(ctx context.Context, a *authRequest) error
	// get returns the unexpired request id; with pending, only when no
	// code was issued for it yet. errNoRequest when there is none; any
	// other error is the store's (the database did not answer).
	get(ctx context.Context, id string, pending bool) (*authRequest, error)
	// commit stores a changed copy when the request is still pending at
	// the version the copy was read at (errRequestChanged otherwise).
	commit(ctx context.Context, a *authRequest) error
	// deny ends a pending request without a code.
	deny(ctx context.Context, id string) error
	// issueCode finishes the pending, unexpired request id with code,
	// valid until expires.
	issueCode(ctx context.Context, id, code string, expires time.Time) error
	// peekCode returns the request of an unredeemed, unexpired code.
	peekCode(ctx context.Context, code string) (*authRequest, bool)
	// takeCode redeems code once. errCodeExpired (redeemed all the same),
	// errCodeReplayed with the family it was bound to ("" if none yet; the
	// replay is then remembered and bindFamily reports it), or
	// errCodeUnknown when this store has no record of it.
	takeCode(ctx context.Context, code string) (*authRequest, string, error)
	// usedCode names the launch and client of a code taken and not yet
	// bound.
	usedCode(ctx context.Context, code string) (launchID, clientID string, ok bool)
	// bindFamily forgets a taken code once its family is saved (with the
	// code's hash) and reports whether it was replayed in between.
	bindFamily(ctx context.Context, code string) (replayed bool, err error)
	delete(ctx context.Context, id string) error
	sweep(ctx context.Context, now time.Time) error
}

// usedCodeWindow is how long past its expiry a redeemed code is
// remembered: a replay within it is refused as a replay and revokes the
// tokens the code produced (TOK-15); after it, the code is merely unknown
// (still invalid_grant). It bounds the memory of busy servers.
const usedCodeWindow = 10 * time.Minute

// maxAuthRequests bounds the in-memory auth requests (docs/architecture.md, state and storage: short-lived
// state must be bounded). When full, expired ones are dropped first; if none
// expired, new requests are refused with temporarily_unavailable.
const maxAuthRequests = 100_000

// errNoRequest is requestStore.get's answer for an unknown, finished or
// expired request.
var errNoRequest = errors.New("no such pending authorization request")

func requestStoreFor(db *store.DB, now func() time.Time) requestStore {
	if db != nil && db.Postgres() {
		return &pgRequests{db: db.PG, now: now}
	}
	return newMemRequests(now)
}

// --- memory ---

type memRequests struct {
	now func() time.Time

	mu       sync.Mutex
	requests map[string]*authRequest
	codes    map[string]*authRequest
	// used remembers redeemed codes until their family is saved, or until
	// usedCodeWindow past their expiry.
	used map[string]usedCode
}

type usedCode struct {
	launchID, clientID string // for the inspector
	until              time.Time
	replayed           bool // replayed before its family was bound: bindFamily reports it
}

func newMemRequests(now func() time.Time) *memRequests {
	return &memRequests{now: now, requests: map[string]*authRequest{}, codes: map[string]*authRequest{}, used: map[string]usedCode{}}
}

func (m *memRequests) add(_ context.Context, a *authRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.requests) >= maxAuthRequests {
		m.sweepLocked(m.now())
		if len(m.requests) >= maxAuthRequests {
			return &oidc.Error{ErrorType: "temporarily_unavailable", Description: "too many pending authorization requests"}
		}
	}
	cp := *a
	m.requests[a.ID] = &cp
	if a.Code != "" {
		m.codes[a.Code] = &cp
	}
	return nil
}

func (m *memRequests) sweepLocked(now time.Time) {
	for id, a := range m.requests {
		if !now.Before(a.ExpiresAt) {
			delete(m.requests, id)
			if a.Code != "" {
				delete(m.codes, a.Code)
			}
		}
	}
	for c, u := range m.used {
		if !now.Before(u.until) {
			delete(m.used, c)
		}
	}
}

func (m *memRequests) sweep(_ context.Context, now time.Time) error {
	m.mu.Lock()
	m.sweepLocked(now)
	m.mu.Unlock()
	return nil
}

func (m *memRequests) get(_ context.Context, id string, pending bool) (*authRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.requests[id]
	if !ok || (pending && a.done) || !m.now().Before(a.ExpiresAt) {
		return nil, errNoRequest
	}
	cp := *a
	return &cp, nil
}

func (m *memRequests) commit(_ context.Context, a *authRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.requests[a.ID]
	if !ok || cur.done || cur.version != a.version {
		return errRequestChanged
	}
	a.version++
	*cur = *a
	return nil
}

func (m *memRequests) deny(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.requests[id]
	if !ok || cur.done {
		return errRequestChanged
	}
	delete(m.requests, id)
	return nil
}

func (m *memRequests) issueCode(_ context.Context, id, code string, expires time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.requests[id]
	if !ok || a.done || !m.now().Before(a.ExpiresAt) {
		return errRequestChanged
	}
	a.done = true
	a.Code = code
	a.ExpiresAt = expires
	m.codes[code] = a
	return nil
}

func (m *memRequests) peekCode(_ context.Context, code string) (*authRequest, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.codes[code]
	if !ok || !m.now().Before(a.ExpiresAt) {
		return nil, false
	}
	cp := *a
	return &cp, true
}

func (m *memRequests) takeCode(_ context.Context, code string) (*authRequest, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if u, ok := m.used[code]; ok {
		u.replayed = true
		m.used[code] = u
		return nil, "", errCodeReplayed
	}
	a, ok := m.codes[code]
	if !ok {
		return nil, "", errCodeUnknown
	}
	delete(m.codes, code)
	delete(m.requests, a.ID)
	// Remembered for usedCodeWindow past the code's expiry, keyed by the
	// code string ehrsim generated: the caller's code and the client id of
	// the authorize request are slices of whole request lines and bodies,
	// which a map entry living for minutes would keep alive.
	u := usedCode{until: a.ExpiresAt.Add(usedCodeWindow), clientID: strings.Clone(a.ClientID)}
	if a.Launch != nil {
		u.launchID = a.Launch.ID
	}
	if len(m.used) >= maxAuthRequests {
		m.sweepLocked(m.now())
	}
	m.used[a.Code] = u
	if !m.now().Before(a.ExpiresAt) {
		return nil, "", errCodeExpired
	}
	return a, "", nil
}

func (m *memRequests) usedCode(_ context.Context, code string) (string, string, bool) {
	m.mu.Lock()
	u, ok := m.used[code]
	m.mu.Unlock()
	return u.launchID, u.clientID, ok
}

func (m *memRequests) bindFamily(_ context.Context, code string) (bool, error) {
	m.mu.Lock()
	u, ok := m.used[code]
	delete(m.used, code)
	m.mu.Unlock()
	return ok && u.replayed, nil
}

func (m *memRequests) delete(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if a, ok := m.requests[id]; ok {
		delete(m.codes, a.Code)
		delete(m.requests, id)
	}
	return nil
}

// --- PostgreSQL ---

// pgRequests keeps requests in authz_requests: the request's JSON
// (storedRequest) plus the columns its check-and-sets test. Codes are
// kept as their hash (codeHash), like the token store keeps them. Every
// change is one statement.
type pgRequests struct {
	db  *sql.DB
	now func() time.Time
}

// storedRequest is an authRequest's JSON in authz_requests: its exported
// fields but the code, the launch without its client secret, and the one
// unexported field a page sets. ExpiresAt, the version, done and the
// code's hash are columns.
type storedRequest struct {
	*authRequest
	Launch         *launcher.Stored `json:"Launch,omitempty"`
	EncounterAsked bool             `json:"encounter_asked,omitempty"`
}

func encodeRequest(a *authRequest) ([]byte, error) {
	cp := *a
	cp.Code = "" // a column, as its hash: never the code itself
	sr := storedRequest{authRequest: &cp, EncounterAsked: a.encounterAsked}
	if a.Launch != nil {
		sr.Launch = a.Launch.Store()
	}
	return json.Marshal(sr)
}

func decodeRequest(data []byte, version int, done bool, expiresAt int64) (*authRequest, error) {
	a := new(authRequest)
	sr := storedRequest{authRequest: a}
	if err := json.Unmarshal(data, &sr); err != nil {
		return nil, err
	}
	a.Launch = sr.Launch.Restore()
	a.encounterAsked = sr.EncounterAsked
	a.version, a.done, a.ExpiresAt = version, done, time.UnixMilli(expiresAt)
	return a, nil
}

func requestCodeHash(code string) []byte {
	h := sha256.Sum256([]byte("request-code\x00" + code))
	return h[:]
}

func (p *pgRequests) add(ctx context.Context, a *authRequest) error {
	data, err := encodeRequest(a)
	if err != nil {
		return err
	}
	var code []byte
	if a.Code != "" {
		code = requestCodeHash(a.Code)
	}
	_, err = p.db.ExecContext(ctx, `INSERT INTO authz_requests (id, data, version, done, code_hash, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		a.ID, data, a.version, a.done, code, a.ExpiresAt.UnixMilli())
	return err
}

func (p *pgRequests) get(ctx context.Context, id string, pending bool) (*authRequest, error) {
	var data []byte
	var version int
	var done bool
	var exp int64
	err := p.db.QueryRowContext(ctx, `SELECT data, version, done, expires_at FROM authz_requests
		WHERE id = $1 AND NOT used AND expires_at > $2 AND (NOT done OR NOT $3)`, id, p.now().UnixMilli(), pending).Scan(&data, &version, &done, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoRequest
	}
	if err != nil {
		return nil, err
	}
	return decodeRequest(data, version, done, exp)
}

func (p *pgRequests) commit(ctx context.Context, a *authRequest) error {
	data, err := encodeRequest(a)
	if err != nil {
		return err
	}
	if err := p.changeOne(ctx, `UPDATE authz_requests SET data = $1, version = version + 1
		WHERE id = $2 AND version = $3 AND NOT done`, data, a.ID, a.version); err != nil {
		return err
	}
	a.version++
	return nil
}

// changeOne runs a check-and-set statement: errRequestChanged unless it
// changed exactly one row.
func (p *pgRequests) changeOne(ctx context.Context, stmt string, args ...any) error {
	res, err := p.db.ExecContext(ctx, stmt, args...)
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil {
		return err
	} else if n != 1 {
		return errRequestChanged
	}
	return nil
}

func (p *pgRequests) deny(ctx context.Context, id string) error {
	return p.changeOne(ctx, `DELETE FROM authz_requests WHERE id = $1 AND NOT done`, id)
}

func (p *pgRequests) issueCode(ctx context.Context, id, code string, expires time.Time) error {
	return p.changeOne(ctx, `UPDATE authz_requests SET done = true, code_hash = $1, expires_at = $2
		WHERE id = $3 AND NOT done AND expires_at > $4`, requestCodeHash(code), expires.UnixMilli(), id, p.now().UnixMilli())
}

func (p *pgRequests) peekCode(ctx context.Context, code string) (*authRequest, bool) {
	var data []byte
	var version int
	var exp int64
	err := p.db.QueryRowContext(ctx, `SELECT data, version, expires_at FROM authz_requests
		WHERE code_hash = $1 AND NOT used AND expires_at > $2`, requestCodeHash(code), p.now().UnixMilli()).Scan(&data, &version, &exp)
	if err != nil {
		return nil, false
	}
	a, err := decodeRequest(data, version, true, exp)
	if err != nil {
		return nil, false
	}
	a.Code = code
	return a, true
}

func (p *pgRequests) takeCode(ctx context.Context, code string) (*authRequest, string, error) {
	h := requestCodeHash(code)
	var data []byte
	var version int
	var exp int64
	// The atomic take: of concurrent redemptions on any instances, one
	// UPDATE finds used false.
	err := p.db.QueryRowContext(ctx, `UPDATE authz_requests SET used = true, used_until = expires_at + $1
		WHERE code_hash = $2 AND NOT used RETURNING data, version, expires_at`, usedCodeWindow.Milliseconds(), h).Scan(&data, &version, &exp)
	if err == nil {
		a, err := decodeRequest(data, version, true, exp)
		if err != nil {
			return nil, "", err
		}
		a.Code = code
		if !p.now().Before(a.ExpiresAt) {
			return nil, "", errCodeExpired
		}
		return a, "", nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, "", err
	}
	// Taken before: remember the replay for bindFamily, in the same
	// statement that reads whether the code is still unbound.
	var replayed bool
	err = p.db.QueryRowContext(ctx, `UPDATE authz_requests SET replayed = true WHERE code_hash = $1 AND used RETURNING replayed`, h).Scan(&replayed)
	switch {
	case err == nil:
		return nil, "", errCodeReplayed
	case errors.Is(err, sql.ErrNoRows):
		return nil, "", errCodeUnknown
	default:
		return nil, "", err
	}
}

func (p *pgRequests) usedCode(ctx context.Context, code string) (string, string, bool) {
	var data []byte
	err := p.db.QueryRowContext(ctx, `SELECT data FROM authz_requests WHERE code_hash = $1 AND used`, requestCodeHash(code)).Scan(&data)
	if err != nil {
		return "", "", false
	}
	a, err := decodeRequest(data, 0, true, 0)
	if err != nil {
		return "", "", false
	}
	launchID := ""
	if a.Launch != nil {
		launchID = a.Launch.ID
	}
	return launchID, a.ClientID, true
}

func (p *pgRequests) bindFamily(ctx context.Context, code string) (bool, error) {
	// The row goes (the family's row now names the code's hash); a replay
	// that marked it before this DELETE is reported, one after it finds
	// the family through the token store.
	var replayed bool
	err := p.db.QueryRowContext(ctx, `DELETE FROM authz_requests WHERE code_hash = $1 AND used RETURNING replayed`, requestCodeHash(code)).Scan(&replayed)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return replayed, err
}

func (p *pgRequests) delete(ctx context.Context, id string) error {
	_, err := p.db.ExecContext(ctx, `DELETE FROM authz_requests WHERE id = $1`, id)
	return err
}

func (p *pgRequests) sweep(ctx context.Context, now time.Time) error {
	_, err := p.db.ExecContext(ctx, `DELETE FROM authz_requests
		WHERE (NOT used AND expires_at <= $1) OR (used AND used_until <= $1)`, now.UnixMilli())
	return err
}
