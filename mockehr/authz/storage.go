package authz

import (
	"context"
	"errors"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// maxAuthRequests bounds the in-memory auth requests (docs/architecture.md, state and storage: short-lived
// state must be bounded). When full, expired ones are dropped first; if none
// expired, new requests are refused with temporarily_unavailable.
const maxAuthRequests = 100_000

// storage implements op.Storage for zitadel. Auth requests and codes live
// here; tokens live in tokenStore (zitadel's token paths are overridden).
type storage struct {
	srv *Server

	mu       sync.Mutex
	requests map[string]*authRequest
	codes    map[string]*authRequest
	// used remembers redeemed codes until they would have expired, so a
	// replay can be refused and the family issued from it revoked (TOK-15).
	used map[string]usedCode
}

// usedCodeWindow is how long past its expiry a redeemed code is
// remembered: a replay within it is refused as a replay and revokes the
// tokens the code produced (TOK-15); after it, the code is merely unknown
// (still invalid_grant). It bounds the memory of busy servers.
const usedCodeWindow = 10 * time.Minute

type usedCode struct {
	familyID           string
	launchID, clientID string // for the inspector
	until              time.Time
	replayed           bool // replayed before its family was bound: bindFamily revokes it
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

func newStorage(s *Server) *storage {
	return &storage{srv: s, requests: map[string]*authRequest{}, codes: map[string]*authRequest{}, used: map[string]usedCode{}}
}

// add stores a new auth request.
func (st *storage) add(a *authRequest) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if len(st.requests) >= maxAuthRequests {
		st.sweepLocked(st.srv.now())
		if len(st.requests) >= maxAuthRequests {
			return &oidc.Error{ErrorType: "temporarily_unavailable", Description: "too many pending authorization requests"}
		}
	}
	st.requests[a.ID] = a
	return nil
}

func (st *storage) sweepLocked(now time.Time) {
	for id, a := range st.requests {
		if !now.Before(a.ExpiresAt) {
			delete(st.requests, id)
			if a.Code != "" {
				delete(st.codes, a.Code)
			}
		}
	}
	for c, u := range st.used {
		if !now.Before(u.until) {
			delete(st.used, c)
		}
	}
}

func (st *storage) sweep() {
	st.mu.Lock()
	st.sweepLocked(st.srv.now())
	st.mu.Unlock()
}

func (st *storage) byID(id string) (*authRequest, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.requests[id]
	if !ok || !st.srv.now().Before(a.ExpiresAt) {
		return nil, false
	}
	return a, true
}

// errRequestChanged: a page answered a request that another answer (a
// second tab, a double submit) changed or finished meanwhile.
var errRequestChanged = errors.New("this authorization request was already answered or has finished")

// snapshot returns a copy of the pending (not finished, not expired)
// request id, for the pages to read and to change; changes go back through
// commit. The stored request is only ever changed under st.mu.
func (st *storage) snapshot(id string) (*authRequest, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.requests[id]
	if !ok || a.done || !st.srv.now().Before(a.ExpiresAt) {
		return nil, false
	}
	cp := *a
	return &cp, true
}

// commit stores a changed snapshot: a check-and-set on the version it was
// taken at, so of two concurrent answers to one page only the first counts.
func (st *storage) commit(a *authRequest) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	cur, ok := st.requests[a.ID]
	if !ok || cur.done || cur.version != a.version {
		return errRequestChanged
	}
	a.version++
	*cur = *a
	return nil
}

// deny ends a pending request without a code (the user chose Deny).
func (st *storage) deny(id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	cur, ok := st.requests[id]
	if !ok || cur.done {
		return errRequestChanged
	}
	delete(st.requests, id)
	return nil
}

// peekCode returns the auth request of an unredeemed, unexpired code.
func (st *storage) peekCode(code string) (*authRequest, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.codes[code]
	if !ok || !st.srv.now().Before(a.ExpiresAt) {
		return nil, false
	}
	return a, true
}

// Errors of takeCode.
var (
	errCodeUnknown  = errors.New("authorization code is unknown")
	errCodeExpired  = errors.New("authorization code has expired")
	errCodeReplayed = errors.New("authorization code was already used")
)

// takeCode redeems a code exactly once, even under concurrent requests.
// A code redeemed on this instance is remembered in memory until its
// family is saved (bindFamily); after that the family's row names the
// code's hash (tokenStore.codeFamily), which is how a replay minutes or
// days later, or on another instance, is still recognised (TOK-15).
func (st *storage) takeCode(ctx context.Context, code string) (*authRequest, string, error) {
	st.mu.Lock()
	if u, ok := st.used[code]; ok {
		if u.familyID == "" {
			u.replayed = true
			st.used[code] = u
		}
		st.mu.Unlock()
		return nil, u.familyID, errCodeReplayed
	}
	a, ok := st.codes[code]
	if !ok {
		st.mu.Unlock()
		if fam, _, _, ok := st.srv.tokens.codeFamily(ctx, code); ok {
			return nil, fam, errCodeReplayed
		}
		return nil, "", errCodeUnknown
	}
	defer st.mu.Unlock()
	delete(st.codes, code)
	delete(st.requests, a.ID)
	// Remembered for usedCodeWindow past the code's expiry, keyed by the
	// code string ehrsim generated: the caller's code and the client id of
	// the authorize request are slices of whole request lines and bodies,
	// which a map entry living for minutes would keep alive.
	u := usedCode{until: a.ExpiresAt.Add(usedCodeWindow), clientID: strings.Clone(a.ClientID)}
	if a.Launch != nil {
		u.launchID = a.Launch.ID
	}
	if len(st.used) >= maxAuthRequests {
		st.sweepLocked(st.srv.now())
	}
	st.used[a.Code] = u
	if !st.srv.now().Before(a.ExpiresAt) {
		return nil, "", errCodeExpired
	}
	return a, "", nil
}

// usedCodeLaunch names the launch and client of a redeemed code.
func (st *storage) usedCodeLaunch(ctx context.Context, code string) (launchID, clientID string) {
	st.mu.Lock()
	u, ok := st.used[code]
	st.mu.Unlock()
	if ok {
		return u.launchID, u.clientID
	}
	_, launchID, clientID, _ = st.srv.tokens.codeFamily(ctx, code)
	return launchID, clientID
}

// bindFamily is called once the family a redeemed code produced is saved
// (with the code's hash): memory forgets the code, and a replay that came
// in between revokes the family now (TOK-15).
func (st *storage) bindFamily(ctx context.Context, code, familyID string) {
	st.mu.Lock()
	u, ok := st.used[code]
	delete(st.used, code)
	st.mu.Unlock()
	if ok && u.replayed {
		if err := st.srv.tokens.revokeFamilyID(ctx, familyID); err != nil {
			st.srv.log.ErrorContext(ctx, "revoking the tokens of a replayed code failed", "family", familyID, "err", err)
		}
	}
}

// issueCode finishes the pending request id with a fresh code: a
// check-and-set, so one request yields at most one code however many
// answers race to finish it.
func (st *storage) issueCode(id string) (string, error) {
	code := randomHandle(32)
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.requests[id]
	if !ok || a.done || !st.srv.now().Before(a.ExpiresAt) {
		return "", errRequestChanged
	}
	a.done = true
	a.Code = code
	a.ExpiresAt = st.srv.now().Add(st.srv.opts.CodeLifetime)
	st.codes[code] = a
	return code, nil
}

// --- op.AuthStorage ---

// CreateAuthRequest is not used: Authorize builds our authRequest itself
// (it needs the launch context zitadel's request type cannot carry).
func (st *storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, oidc.ErrServerError().WithDescription("auth requests are created by the SMART Authorize override")
}

func (st *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	a, ok := st.byID(id)
	if !ok {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	return a, nil
}

func (st *storage) AuthRequestByCode(_ context.Context, code string) (op.AuthRequest, error) {
	a, ok := st.peekCode(code)
	if !ok {
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	}
	return a, nil
}

func (st *storage) SaveAuthCode(_ context.Context, id, code string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	a, ok := st.requests[id]
	if !ok {
		return oidc.ErrInvalidRequest().WithDescription("unknown authorization request")
	}
	a.Code = code
	a.ExpiresAt = st.srv.now().Add(st.srv.opts.CodeLifetime)
	st.codes[code] = a
	return nil
}

func (st *storage) DeleteAuthRequest(_ context.Context, id string) error {
	st.mu.Lock()
	defer st.mu.Unlock()
	if a, ok := st.requests[id]; ok {
		delete(st.codes, a.Code)
		delete(st.requests, id)
	}
	return nil
}

// Token creation through zitadel is not used: CodeExchange, RefreshToken
// and ClientCredentialsExchange are overridden and mint opaque handles.
func (st *storage) CreateAccessToken(context.Context, op.TokenRequest) (string, time.Time, error) {
	return "", time.Time{}, oidc.ErrServerError().WithDescription("tokens are minted by the SMART overrides")
}

func (st *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrServerError().WithDescription("tokens are minted by the SMART overrides")
}

func (st *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (st *storage) TerminateSession(context.Context, string, string) error { return nil }

func (st *storage) RevokeToken(context.Context, string, string, string) *oidc.Error { return nil }

func (st *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

func (st *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return st.srv.keys.current(ctx), nil
}

func (st *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (st *storage) KeySet(ctx context.Context) ([]op.Key, error) { return st.srv.keys.keySet(ctx), nil }

// --- op.OPStorage ---

func (st *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	if st.srv.opts.Clients != nil {
		if c, err := st.srv.opts.Clients.Get(ctx, id); err == nil {
			return &opClient{def: &clientDef{Client: *c, Registered: true}}, nil
		}
	}
	return nil, oidc.ErrInvalidClient().WithDescription("unknown client_id")
}

func (st *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	if st.srv.opts.Clients != nil && st.srv.opts.Clients.CheckSecret(ctx, id, secret) {
		return nil
	}
	return oidc.ErrInvalidClient()
}

func (st *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

func (st *storage) SetUserinfoFromToken(context.Context, *oidc.UserInfo, string, string, string) error {
	return oidc.ErrServerError().WithDescription("userinfo is served by the SMART override")
}

func (st *storage) SetIntrospectionFromToken(context.Context, *oidc.IntrospectionResponse, string, string, string) error {
	return oidc.ErrServerError().WithDescription("introspection is served by the SMART handler")
}

func (st *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (st *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrInvalidClient().WithDescription("jwt-bearer grant is not supported")
}

func (st *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType()
}

func (st *storage) Health(context.Context) error { return nil }

// SetUserinfoFromRequest puts sub and fhirUser (an absolute URL, OIDC-08)
// into the id_token. Subject must be set or zitadel blanks the id_token's
// sub (docs/zitadel.md, fhirUser and sub in the id_token).
func (st *storage) SetUserinfoFromRequest(_ context.Context, ui *oidc.UserInfo, req op.IDTokenRequest, granted []string) error {
	ui.Subject = req.GetSubject()
	var url string
	switch r := req.(type) {
	case *authRequest:
		url = st.srv.fhirUserURL(r.Aud, r.FHIRUser)
	case *refreshIDRequest:
		url = r.fam.FHIRUserURL
	}
	if url != "" && (contains(granted, "fhirUser") || contains(granted, "profile")) {
		ui.AppendClaims("fhirUser", url)
		if contains(granted, "profile") {
			// SMART 1.0 §identity: v1 apps read the user from "profile".
			ui.Profile = url
		}
	}
	return nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
