package authz

import (
	"context"
	"net/http"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
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
	if err := s.introspectionCaller(r); err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		s.writeOAuthError(w, r, errInvalidRequest("token is required"))
		return
	}
	writeJSON(w, http.StatusOK, s.introspect(token))
}

// introspectionCaller authenticates the caller (INT-02, INT-11): a valid
// bearer token, client authentication like at the token endpoint, or, in
// sandbox mode, nothing at all (as the Inferno kits call it).
func (s *Server) introspectionCaller(r *http.Request) error {
	if bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		if _, err := s.ResolveGrant(r.Context(), strings.TrimSpace(bearer)); err != nil {
			return &oauthError{Code: "invalid_token", Description: "the bearer token is not active",
				Challenge: `Bearer realm="ehrsim", error="invalid_token"`, Status: http.StatusUnauthorized}
		}
		return nil
	}
	cc, err := parseClientCreds(r)
	if err != nil {
		return err
	}
	if cc.Assertion == "" && cc.Secret == "" {
		if s.opts.Strict {
			return errInvalidClient("introspection requires client authentication or a bearer token")
		}
		return nil
	}
	_, err = s.authenticate(r.Context(), r, cc, grantRef{})
	return err
}

// introspect answers for an access or refresh token; the launch context is
// repeated exactly as in the token response (INT-04…08).
func (s *Server) introspect(token string) any {
	e, ok := s.tokens.lookup(token)
	if !ok || !e.active(s.now()) {
		return inactive
	}
	f := e.fam
	out := map[string]any{
		"active":     true,
		"scope":      joinScopes(e.scopes),
		"client_id":  f.ClientID,
		"sub":        f.Subject,
		"iss":        s.issuer,
		"aud":        f.Audience,
		"exp":        e.expiresAt.Unix(),
		"iat":        e.issuedAt.Unix(),
		"token_type": "Bearer",
	}
	if e.kind == kindRefresh {
		out["token_type"] = "refresh_token"
	}
	if f.FHIRUserURL != "" {
		out["fhirUser"] = f.FHIRUserURL
	}
	if f.Patient != "" {
		out["patient"] = f.Patient
	}
	if f.Encounter != "" {
		out["encounter"] = f.Encounter
	}
	if len(f.FHIRContext) > 0 {
		out["fhirContext"] = f.FHIRContext
	}
	if f.NeedBanner != nil {
		out["need_patient_banner"] = *f.NeedBanner
	}
	for k, v := range map[string]string{"smart_style_url": f.StyleURL, "intent": f.Intent, "tenant": f.Tenant} {
		if v != "" {
			out[k] = v
		}
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
		return errUnauthorizedClient("the token was issued to another client")
	}
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
