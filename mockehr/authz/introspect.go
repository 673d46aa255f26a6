package authz

import (
	"context"
	"net/http"
	"net/url"
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
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeOAuthError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST with application/x-www-form-urlencoded")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "malformed form body")
		return
	}
	if status, code, desc := s.introspectionCaller(r); status != 0 {
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", strings.Replace(challengeFor(r), "invalid_client", code, 1))
		}
		writeOAuthError(w, status, code, desc)
		return
	}
	token := r.PostForm.Get("token")
	if token == "" {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "token is required")
		return
	}
	writeJSON(w, http.StatusOK, s.introspect(token))
}

// introspectionCaller authenticates the caller; status 0 means allowed.
func (s *Server) introspectionCaller(r *http.Request) (int, string, string) {
	auth := r.Header.Get("Authorization")
	form := r.PostForm
	if bearer, ok := strings.CutPrefix(auth, "Bearer "); ok {
		if _, err := s.ResolveGrant(r.Context(), strings.TrimSpace(bearer)); err != nil {
			return http.StatusUnauthorized, "invalid_token", "the bearer token is not active"
		}
		return 0, "", ""
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if assertion := form.Get("client_assertion"); assertion != "" {
		if s.opts.Assertions == nil {
			return http.StatusUnauthorized, "invalid_client", "private_key_jwt is not available"
		}
		if _, err := s.opts.Assertions.Verify(r.Context(), form.Get("client_assertion_type"), assertion, id, nil); err != nil {
			return http.StatusUnauthorized, "invalid_client", err.Error()
		}
		return 0, "", ""
	}
	if secret != "" {
		if s.opts.Clients == nil || !s.opts.Clients.CheckSecret(r.Context(), id, secret) {
			return http.StatusUnauthorized, "invalid_client", "client authentication failed"
		}
		return 0, "", ""
	}
	if s.opts.Strict {
		return http.StatusUnauthorized, "invalid_client", "introspection requires client authentication or a bearer token"
	}
	return 0, "", ""
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

// Revocation is RFC 7009: unknown tokens are fine (REV-03); a refresh
// token takes its whole family with it (REV-05); another client's token is
// refused and stays valid (REV-06).
func (ss *smartServer) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	s := ss.srv
	e, ok := s.tokens.lookup(r.Data.Token)
	if !ok {
		return op.NewResponse(struct{}{}), nil
	}
	if e.fam.ClientID != r.Client.GetID() {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the token was issued to another client")
	}
	var err error
	if e.kind == kindRefresh {
		err = s.tokens.revokeFamily(ctx, e.fam)
	} else {
		err = s.tokens.revokeToken(ctx, r.Data.Token, e)
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return op.NewResponse(struct{}{}), nil
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
