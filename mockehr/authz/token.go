package authz

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// tokenResponse is RFC 6749 §5.1 plus the SMART launch context
// (app-launch §token response, TOK-03…11).
type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	smart.LaunchContext
}

// tokenSimError maps the token_* simulated errors that fail a grant.
func tokenSimError(sim smart.SimulatedError) error {
	switch sim {
	case smart.SimTokenInvalidToken:
		return errInvalidGrant("simulated error token_invalid_token")
	case smart.SimTokenInvalidScope:
		return errInvalidScope("simulated error token_invalid_scope")
	case smart.SimTokenServerError:
		return newOAuthError("server_error", "simulated error token_server_error")
	}
	return nil
}

// validVerifier checks RFC 7636 §4.1: 43–128 unreserved characters (PKCE-10).
func validVerifier(v string) bool {
	if len(v) < 43 || len(v) > 128 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// codeExchange redeems an authorization code (RFC 6749 §4.1.3) for the
// authenticated client def: single use with replay revocation (TOK-15),
// expiry (TOK-16), the code's client and redirect_uri (TOK-13/14), PKCE for
// every client type (PKCE-04…09).
func (s *Server) codeExchange(ctx context.Context, def *clientDef, form url.Values) (*tokenResponse, error) {
	code, redirect := form.Get("code"), form.Get("redirect_uri")
	if code == "" {
		return nil, errInvalidRequest("code is missing") // ERR-03
	}
	if redirect == "" {
		return nil, errInvalidRequest("redirect_uri is missing") // ERR-03
	}
	a, famID, err := s.storage.takeCode(ctx, code)
	switch err {
	case nil:
	case errCodeReplayed:
		if famID != "" {
			if err := s.tokens.revokeFamilyID(ctx, famID); err != nil {
				s.log.ErrorContext(ctx, "revoking the tokens of a replayed code failed", "family", famID, "err", err)
				return nil, errServer(err)
			}
		}
		return nil, errInvalidGrant("the authorization code was already used; tokens issued from it are revoked")
	case errCodeUnknown, errCodeExpired:
		return nil, errInvalidGrant("%s", err.Error())
	default:
		return nil, errServer(err) // the request store did not answer
	}
	if def.id() != a.ClientID {
		return nil, errInvalidGrant("the code was issued to another client") // TOK-13
	}
	if redirect != a.RedirectURI {
		return nil, errInvalidGrant("redirect_uri differs from the authorization request") // TOK-14
	}
	if a.Challenge != nil {
		v := form.Get("code_verifier")
		if v == "" {
			return nil, errInvalidRequest("code_verifier is required") // PKCE-04/05
		}
		if !validVerifier(v) {
			return nil, errInvalidGrant("code_verifier must be 43-128 unreserved characters (RFC 7636 §4.1)")
		}
		if err := op.AuthorizeCodeChallenge(v, a.Challenge); err != nil {
			return nil, errInvalidGrant("code_verifier does not match the code_challenge (RFC 7636 §4.6)")
		}
	}
	if err := tokenSimError(smart.SimulatedError(a.simulate())); err != nil {
		return nil, err
	}
	fam := s.familyFrom(a)
	resp, err := s.issue(ctx, fam, true, nil, "", fam.Scopes, a, code)
	if err != nil {
		return nil, err
	}
	s.storage.bindFamily(ctx, code, fam.ID)
	s.rememberClient(ctx, a.Client, fam.ExpiresAt)
	return resp, nil
}

// familyFrom turns a finished auth request into the token family.
func (s *Server) familyFrom(a *authRequest) *family {
	now := s.now()
	fam := &family{
		ID: randomHandle(12), ClientID: a.ClientID, Subject: a.GetSubject(), FHIRUser: a.FHIRUser,
		FHIRUserURL: s.fhirUserURL(a.Aud, a.FHIRUser), Scopes: rawScopes(a.Granted),
		Audience: a.Aud, SessionID: a.SessionID, AuthTime: a.AuthTime, Client: *a.Client,
	}
	set := scopes.NewSet(a.Granted)
	fam.Online = set.Has(scopes.KindOnlineAccess) && !set.Has(scopes.KindOfflineAccess)
	if l := a.Launch; l != nil {
		fam.Context = l.Context()
		fam.SimulateError, fam.LaunchID = simulateOf(l), l.ID
	}
	// The pickers (or the signed-in patient) decide these.
	fam.Context.Patient, fam.Context.Encounter = a.Patient, a.Encounter
	if fam.Context.NeedPatientBanner == nil && a.Patient != "" {
		t := true // SMART app-launch: apps show a banner unless the EHR already does
		fam.Context.NeedPatientBanner = &t
	}
	fam.AccessTTL, fam.RefreshTTL = s.lifetimes(a.Launch, &a.Client.Client)
	if set.Has(scopes.KindOfflineAccess) || set.Has(scopes.KindOnlineAccess) {
		fam.ExpiresAt = now.Add(max(fam.RefreshTTL, fam.AccessTTL))
	} else {
		fam.ExpiresAt = now.Add(fam.AccessTTL)
	}
	return fam
}

// lifetimes: launch, then client, then server defaults (docs/architecture.md, launch API contract).
func (s *Server) lifetimes(l *launcher.Launch, c *clients.Client) (access, refresh time.Duration) {
	access, refresh = s.opts.AccessTokenLifetime, s.opts.RefreshTokenLifetime
	if c != nil && c.AccessTokenLifetime > 0 {
		access = time.Duration(c.AccessTokenLifetime) * time.Second
	}
	if c != nil && c.RefreshTokenLifetime > 0 {
		refresh = time.Duration(c.RefreshTokenLifetime) * time.Second
	}
	if l != nil && l.AccessTokenLifetime > 0 {
		access = time.Duration(l.AccessTokenLifetime) * time.Second
	}
	if l != nil && l.RefreshTokenLifetime > 0 {
		refresh = time.Duration(l.RefreshTokenLifetime) * time.Second
	}
	return access, refresh
}

// issue mints an access token (and a refresh token when offline_access or
// online_access is granted and the client may refresh), signs an id_token
// when openid is granted, persists everything, and builds the response.
// idReq is the auth request (code exchange) or nil (refresh).
func (s *Server) issue(ctx context.Context, fam *family, isNew bool, rotated *tokenEntry, rotatedHandle string, scope []string, idReq op.IDTokenRequest, code string) (*tokenResponse, error) {
	at := s.tokens.mint(kindAccess, fam, scope, fam.AccessTTL)
	toks := []newToken{at}
	wantsRefresh := slices.Contains(fam.Scopes, "offline_access") || slices.Contains(fam.Scopes, "online_access")
	var rt newToken
	if wantsRefresh && slices.Contains(fam.Client.Client.GrantTypes(), clients.GrantRefreshToken) {
		rt = s.tokens.mint(kindRefresh, fam, fam.Scopes, fam.RefreshTTL)
		toks = append(toks, rt)
	}
	resp := &tokenResponse{
		AccessToken: at.handle, TokenType: "Bearer", ExpiresIn: int64(fam.AccessTTL / time.Second),
		Scope: joinScopes(scope), RefreshToken: rt.handle, LaunchContext: fam.Context,
	}
	if slices.Contains(scope, "openid") && fam.FHIRUser != "" {
		if idReq == nil {
			idReq = &refreshIDRequest{fam: fam, scopes: scope}
		}
		client := s.opClientFor(&fam.Client, "")
		idt, err := op.CreateIDToken(ctx, s.issuer, idReq, fam.AccessTTL, at.handle, code, s.storage, client)
		if err != nil {
			return nil, errServer(err)
		}
		resp.IDToken = idt
	}
	if err := s.tokens.save(ctx, fam, isNew, code, rotated, rotatedHandle, toks...); errors.Is(err, errRefreshUsed) {
		return nil, errInvalidGrant("the refresh token was already used") // REF-06: rotation is single use
	} else if err != nil {
		return nil, errServer(err)
	}
	return resp, nil
}

func joinScopes(ss []string) string {
	n := 0
	for _, s := range ss {
		n += len(s) + 1
	}
	b := make([]byte, 0, n)
	for i, s := range ss {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, s...)
	}
	return string(b)
}

// refreshIDRequest is the op.IDTokenRequest of a refresh (no nonce: OIDC
// Core §12.2).
type refreshIDRequest struct {
	fam    *family
	scopes []string
}

func (r *refreshIDRequest) GetAMR() []string       { return nil }
func (r *refreshIDRequest) GetAudience() []string  { return []string{r.fam.ClientID} }
func (r *refreshIDRequest) GetAuthTime() time.Time { return r.fam.AuthTime }
func (r *refreshIDRequest) GetClientID() string    { return r.fam.ClientID }
func (r *refreshIDRequest) GetScopes() []string    { return r.scopes }
func (r *refreshIDRequest) GetSubject() string     { return r.fam.Subject }

// refresh is RFC 6749 §6: rotation (the old refresh token dies), scope
// narrowing only (REF-05), the launch context repeated (REF-09).
func (s *Server) refresh(ctx context.Context, def *clientDef, form url.Values) (*tokenResponse, error) {
	handle := form.Get("refresh_token")
	if handle == "" {
		return nil, errInvalidRequest("refresh_token is missing") // ERR-03
	}
	e, ok := s.tokens.lookup(handle)
	if !ok || e.kind != kindRefresh || !e.active(s.now()) {
		return nil, errInvalidGrant("the refresh token is unknown, expired or revoked") // REF-06
	}
	fam := e.fam
	if fam.ClientID != def.id() {
		return nil, errInvalidGrant("the refresh token was issued to another client") // REF-07
	}
	if fam.SimulateError == smart.SimTokenExpiredRefreshToken {
		return nil, errInvalidGrant("the refresh token has expired (simulated error token_expired_refresh_token)")
	}
	if err := tokenSimError(fam.SimulateError); err != nil {
		return nil, err
	}
	scope := fam.Scopes
	if req := strings.Fields(strings.Clone(form.Get("scope"))); len(req) > 0 { // a copy: the tokens outlive the request
		for _, sc := range req {
			if !slices.Contains(fam.Scopes, sc) {
				return nil, errInvalidScope("scope %q was not granted originally", sc) // REF-05
			}
		}
		scope = req
	}
	resp, err := s.issue(ctx, fam, false, e, handle, scope, nil, "")
	if err != nil {
		return nil, err
	}
	s.rememberClient(ctx, &fam.Client, refreshedUntil(fam, s.now()))
	return resp, nil
}

// clientCredentials is SMART Backend Services (BES-02…04, 16): system/
// scopes only, at most 5 minutes, never a refresh token.
func (s *Server) clientCredentials(ctx context.Context, def *clientDef, r *http.Request) (*tokenResponse, error) {
	l, aud := s.ccLaunch(ctx, r)
	if aud == "" {
		return nil, newOAuthError("invalid_target", "resource does not name a FHIR base URL of this server (RFC 8707)")
	}
	if err := tokenSimError(simulateOf(l)); err != nil {
		return nil, err
	}
	requested, _ := scopes.ParseList(strings.Clone(r.PostForm.Get("scope"))) // a copy: the family outlives the request
	var system []scopes.Scope
	for _, sc := range requested {
		if sc.Kind == scopes.KindResource && sc.Context == scopes.ContextSystem {
			system = append(system, sc)
		}
	}
	if l != nil && (l.Client.ClientID == "" || l.Client.ClientID == def.id()) && def.LaunchScope == "" {
		d := *def
		d.LaunchScope = l.Client.Scope
		def = &d
	}
	granted, _ := def.grantScopes(system)
	if len(granted) == 0 {
		return nil, errInvalidScope("no requested system/ scope is valid and allowed for this client") // BES-16
	}
	now := s.now()
	access, _ := s.lifetimes(l, &def.Client)
	access = min(access, 5*time.Minute) // BES-04
	fam := &family{
		ID: randomHandle(12), ClientID: def.Client.ID, Subject: def.Client.ID, Scopes: rawScopes(granted),
		Audience: aud, AccessTTL: access, Client: *def, ExpiresAt: now.Add(access), AuthTime: now,
	}
	if l != nil {
		fam.SimulateError, fam.LaunchID = simulateOf(l), l.ID
	}
	at := s.tokens.mint(kindAccess, fam, fam.Scopes, access)
	if err := s.tokens.save(ctx, fam, true, "", nil, "", at); err != nil {
		return nil, errServer(err)
	}
	s.rememberClient(ctx, def, fam.ExpiresAt)
	return &tokenResponse{AccessToken: at.handle, TokenType: "Bearer", ExpiresIn: int64(access / time.Second), Scope: joinScopes(fam.Scopes)}, nil
}

// ccLaunch finds the launch and FHIR base of a client_credentials request:
// the resource (RFC 8707) or aud parameter when given, else the scenario of
// the token endpoint it was posted to (/sim/{scenario}/auth/token, which the
// scenario's discovery advertises), else the plain /fhir base. A
// /sim/{scenario}/fhir base brings that scenario's client rules and
// simulated error.
func (s *Server) ccLaunch(ctx context.Context, r *http.Request) (*launcher.Launch, string) {
	res := r.PostForm.Get("resource")
	if res == "" {
		res = r.PostForm.Get("aud")
	}
	fb := smart.FHIRBase{Origin: s.base, Scenario: r.PathValue("scenario")}
	if res != "" {
		var ok bool
		if fb, ok = smart.ParseFHIRBase(s.base, res); !ok {
			return nil, ""
		}
	}
	if fb.Scenario == "" {
		return nil, fb.URL()
	}
	l, err := s.openScenario(ctx, fb.Scenario)
	if err != nil {
		return nil, ""
	}
	return l, fb.URL()
}
