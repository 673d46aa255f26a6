package authz

import (
	"context"
	"errors"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage implements op.Storage for zitadel. Auth requests and codes live
// in a requestStore (requests.go: memory, or PostgreSQL shared by several
// instances); tokens live in tokenStore (zitadel's token paths are
// overridden).
type storage struct {
	srv  *Server
	reqs requestStore
}

var (
	_ op.Storage                   = (*storage)(nil)
	_ op.CanSetUserinfoFromRequest = (*storage)(nil)
)

func newStorage(s *Server) *storage {
	return &storage{srv: s, reqs: requestStoreFor(s.opts.DB, s.now)}
}

// add stores a new auth request.
func (st *storage) add(ctx context.Context, a *authRequest) error { return st.reqs.add(ctx, a) }

func (st *storage) sweep(ctx context.Context) error { return st.reqs.sweep(ctx, st.srv.now()) }

// errRequestChanged: a page answered a request that another answer (a
// second tab, a double submit) changed or finished meanwhile.
var errRequestChanged = errors.New("this authorization request was already answered or has finished")

// snapshot returns a copy of the pending (not finished, not expired)
// request id, for the pages to read and to change; changes go back through
// commit.
func (st *storage) snapshot(ctx context.Context, id string) (*authRequest, error) {
	return st.reqs.get(ctx, id, true)
}

// commit stores a changed snapshot: a check-and-set on the version it was
// taken at, so of two concurrent answers to one page only the first counts.
func (st *storage) commit(ctx context.Context, a *authRequest) error { return st.reqs.commit(ctx, a) }

// deny ends a pending request without a code (the user chose Deny).
func (st *storage) deny(ctx context.Context, id string) error { return st.reqs.deny(ctx, id) }

// peekCode returns the auth request of an unredeemed, unexpired code.
func (st *storage) peekCode(ctx context.Context, code string) (*authRequest, bool) {
	return st.reqs.peekCode(ctx, code)
}

// Errors of takeCode.
var (
	errCodeUnknown  = errors.New("authorization code is unknown")
	errCodeExpired  = errors.New("authorization code has expired")
	errCodeReplayed = errors.New("authorization code was already used")
)

// takeCode redeems a code exactly once, even under concurrent requests on
// any instances. A redeemed code is remembered by the request store until
// its family is saved (bindFamily); after that the family's row names the
// code's hash (tokenStore.codeFamily), which is how a replay minutes or
// days later, or on another instance, is still recognised (TOK-15).
func (st *storage) takeCode(ctx context.Context, code string) (*authRequest, string, error) {
	a, famID, err := st.reqs.takeCode(ctx, code)
	// Unknown to the request store (forgotten once bound), or a replay
	// whose family the store has not been told of (its bindFamily is
	// still to come, or never came: the instance died between saving the
	// family and binding it): the family's row names the code.
	if err == errCodeUnknown || (err == errCodeReplayed && famID == "") {
		if fam, _, _, ok := st.srv.tokens.codeFamily(ctx, code); ok {
			return nil, fam, errCodeReplayed
		}
	}
	return a, famID, err
}

// usedCodeLaunch names the launch and client of a redeemed code.
func (st *storage) usedCodeLaunch(ctx context.Context, code string) (launchID, clientID string) {
	if launchID, clientID, ok := st.reqs.usedCode(ctx, code); ok {
		return launchID, clientID
	}
	_, launchID, clientID, _ = st.srv.tokens.codeFamily(ctx, code)
	return launchID, clientID
}

// bindFamily is called once the family a redeemed code produced is saved
// (with the code's hash): the request store forgets the code, and a replay
// that came in between revokes the family now (TOK-15).
func (st *storage) bindFamily(ctx context.Context, code, familyID string) {
	replayed, err := st.reqs.bindFamily(ctx, code)
	if err != nil {
		st.srv.log.WarnContext(ctx, "forgetting a redeemed code failed; the sweep removes it", "err", err)
	}
	if replayed {
		if err := st.srv.tokens.revokeFamilyID(ctx, familyID); err != nil {
			st.srv.log.ErrorContext(ctx, "revoking the tokens of a replayed code failed", "family", familyID, "err", err)
		}
	}
}

// issueCode finishes the pending request id with a fresh code: a
// check-and-set, so one request yields at most one code however many
// answers race to finish it.
func (st *storage) issueCode(ctx context.Context, id string) (string, error) {
	code := randomHandle(32)
	if err := st.reqs.issueCode(ctx, id, code, st.srv.now().Add(st.srv.opts.CodeLifetime)); err != nil {
		return "", err
	}
	return code, nil
}

// --- op.AuthStorage ---

// CreateAuthRequest is not used: Authorize builds our authRequest itself
// (it needs the launch context zitadel's request type cannot carry).
func (st *storage) CreateAuthRequest(context.Context, *oidc.AuthRequest, string) (op.AuthRequest, error) {
	return nil, oidc.ErrServerError().WithDescription("auth requests are created by the SMART Authorize override")
}

func (st *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	a, err := st.reqs.get(ctx, id, false)
	if errors.Is(err, errNoRequest) {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown or expired authorization request")
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return a, nil
}

func (st *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	a, ok := st.peekCode(ctx, code)
	if !ok {
		return nil, oidc.ErrInvalidGrant().WithDescription("invalid code")
	}
	return a, nil
}

// SaveAuthCode is zitadel's way to finish a request with a code; ours is
// issueCode, with the same check-and-set.
func (st *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	if err := st.reqs.issueCode(ctx, id, code, st.srv.now().Add(st.srv.opts.CodeLifetime)); err != nil {
		return oidc.ErrInvalidRequest().WithDescription("unknown or finished authorization request")
	}
	return nil
}

func (st *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	return st.reqs.delete(ctx, id)
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
