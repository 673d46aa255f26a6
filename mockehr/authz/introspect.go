package authz

import (
	"context"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// inactive is the exact RFC 7662 §2.2 answer for anything not active (INT-09).
var inactive = map[string]bool{"active": false}

// handleIntrospect is RFC 7662 with SMART 2.2's access rules (INT-01…12):
// a client-authenticated caller (Basic / post secret or client assertion),
// a caller presenting a valid bearer token (INT-11), or, in sandbox mode,
// an unauthenticated caller (as Inferno does, INT-02).
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) {
	if err := formRequest(w, r); err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	bearer, err := s.introspectionCaller(r)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		s.writeOAuthError(w, r, errInvalidRequest("token is required"))
		return
	}
	var answer any
	if bearer != nil && bearer.token == token {
		// A token introspecting itself (as apps do): it was just found
		// active, no second lookup.
		answer = s.introspection(bearer.entry)
	} else {
		answer = s.introspect(token)
	}
	active := "active"
	if _, ok := answer.(*introspection); !ok {
		active = "inactive"
	}
	s.recordTokenUse(r, inspect.KindIntrospect, token, http.StatusOK, active)
	apierr.WriteJSON(w, http.StatusOK, answer)
}

// introspectionCaller authenticates the caller (INT-02, INT-11): a valid
// bearer token, client authentication like at the token endpoint, or, in
// sandbox mode, nothing at all (as the Inferno kits call it). For a bearer
// caller it returns the token and its entry.
func (s *Server) introspectionCaller(r *http.Request) (*bearerCaller, error) {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		bearer = strings.TrimSpace(bearer)
		// As ResolveGrant: an access token, neither revoked nor expired.
		e, ok := s.tokens.lookup(bearer)
		if !ok || e.kind != kindAccess || !e.active(s.now()) {
			return nil, &oauthError{Code: "invalid_token", Description: "the bearer token is not active",
				Challenge: `Bearer realm="ehrsim", error="invalid_token"`, Status: http.StatusUnauthorized}
		}
		return &bearerCaller{token: bearer, entry: e}, nil
	}
	cc, err := parseClientCreds(r)
	if err != nil {
		return nil, err
	}
	if cc.Assertion == "" && cc.Secret == "" {
		if s.opts.Strict {
			return nil, errInvalidClient("introspection requires client authentication or a bearer token")
		}
		return nil, nil
	}
	_, err = s.authenticate(r.Context(), r, cc, grantRef{})
	return nil, err
}

// bearerCaller is the active access token an introspection caller presented.
type bearerCaller struct {
	token string
	entry *tokenEntry
}

// introspection is an active token's RFC 7662 answer: the token's
// metadata plus the launch context exactly as the token response gave it
// (INT-04…08).
type introspection struct {
	Active    bool   `json:"active"`
	Scope     string `json:"scope"`
	ClientID  string `json:"client_id"`
	Sub       string `json:"sub"`
	Iss       string `json:"iss"`
	Aud       string `json:"aud"`
	Exp       int64  `json:"exp"`
	Iat       int64  `json:"iat"`
	TokenType string `json:"token_type"`
	FHIRUser  string `json:"fhirUser,omitempty"`
	smart.LaunchContext
}

// introspect answers for an access or refresh token.
func (s *Server) introspect(token string) any {
	e, ok := s.tokens.lookup(token)
	if !ok || !e.active(s.now()) {
		return inactive
	}
	return s.introspection(e)
}

// introspection is the answer for e, an active token.
func (s *Server) introspection(e *tokenEntry) *introspection {
	f := e.fam
	out := &introspection{
		Active: true, Scope: joinScopes(e.scopes), ClientID: f.ClientID, Sub: f.Subject, Iss: s.issuer, Aud: f.Audience,
		Exp: e.expiresAt.Unix(), Iat: e.issuedAt.Unix(), TokenType: "Bearer", FHIRUser: f.FHIRUserURL, LaunchContext: f.Context,
	}
	if e.kind == kindRefresh {
		out.TokenType = "refresh_token"
	}
	return out
}

// revoke is RFC 7009: the caller is authenticated like at the token
// endpoint, against the token's own client when the token is known (a
// wrong secret is 401 invalid_client and revokes nothing; REV-07); unknown
// tokens are fine (REV-03); a refresh token takes its whole family with it
// (REV-05); another client's token is refused and stays valid (REV-06).
func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	if err := formRequest(w, r); err != nil {
		return err
	}
	if r.PostForm.Get("grant_type") != "" {
		return errInvalidRequest("grant_type does not belong in a revocation request")
	}
	ctx := r.Context()
	cc, err := parseClientCreds(r)
	if err != nil {
		return err
	}
	def, err := s.authenticate(ctx, r, cc, s.grantOf(ctx, r))
	if err != nil {
		return err
	}
	token := r.PostForm.Get("token")
	if token == "" {
		return errInvalidRequest("token is required")
	}
	e, ok := s.tokens.lookup(token)
	if !ok {
		return nil
	}
	if e.fam.ClientID != def.id() {
		s.recordTokenUse(r, inspect.KindRevoke, token, http.StatusBadRequest, "refused: the token was issued to another client")
		return errUnauthorizedClient("the token was issued to another client")
	}
	s.recordTokenUse(r, inspect.KindRevoke, token, http.StatusOK, "revoked")
	if e.kind == kindRefresh {
		err = s.tokens.revokeFamily(ctx, e.fam)
	} else {
		err = s.tokens.revokeToken(ctx, token, e)
	}
	if err != nil {
		return errServer(err)
	}
	return nil
}

// UserInfo answers sub and fhirUser for an active access token.
func (ss *smartServer) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	s := ss.srv
	e, ok := s.tokens.lookup(r.Data.AccessToken)
	if !ok || e.kind != kindAccess || !e.active(s.now()) {
		return nil, op.NewStatusError(oidc.ErrAccessDenied().WithDescription("access token invalid"), http.StatusUnauthorized)
	}
	if !contains(e.scopes, "openid") || e.fam.FHIRUser == "" {
		return nil, op.NewStatusError(oidc.ErrAccessDenied().WithDescription("the token was not granted openid for a user"), http.StatusForbidden)
	}
	info := map[string]any{"sub": e.fam.Subject}
	if contains(e.scopes, "fhirUser") || contains(e.scopes, "profile") {
		info["fhirUser"] = e.fam.FHIRUserURL
	}
	return op.NewResponse(info), nil
}
