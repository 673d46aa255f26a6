package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// The token endpoint (RFC 6749 §3.2) and the revocation endpoint (RFC 7009)
// are ours, not zitadel's: every grant needs SMART rules zitadel lacks
// (PKCE for every client, SMART private_key_jwt, launch-defined clients,
// launch context in the response), and owning the HTTP layer means one
// error writer (writeOAuthError) instead of rewriting zitadel's answers.
//
// Each request: POST with a form body (ERR-06), client credentials parsed
// once (at most one method, ERR-04), the client authenticated against the
// rules of the grant it presents (a code's or refresh token's client, a
// scenario's backend client), or else against the client its id names
// (registered or launch-defined; clientsNamed), then the grant.

// clientCreds are the client credentials of a token-endpoint request.
type clientCreds struct {
	ID            string // client_id (form or Basic user)
	Secret        string // client_secret (form or Basic password)
	AssertionType string
	Assertion     string
}

// parseClientCreds reads the client credentials of r (RFC 6749 §2.3):
// HTTP Basic, client_secret in the body, or a client assertion (RFC 7523),
// never more than one method (ERR-04).
func parseClientCreds(r *http.Request) (clientCreds, error) {
	f := r.PostForm
	cc := clientCreds{ID: f.Get("client_id"), Secret: f.Get("client_secret"),
		AssertionType: f.Get("client_assertion_type"), Assertion: f.Get("client_assertion")}
	if cc.Assertion != "" && cc.Secret != "" {
		return cc, errInvalidRequest("client authentication must use one method: client_secret and client_assertion were both sent (RFC 6749 §2.3)")
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if cc.Assertion != "" || cc.Secret != "" {
			return cc, errInvalidRequest("client authentication must use one method: HTTP Basic and credentials in the body were both sent (RFC 6749 §2.3)")
		}
		// RFC 6749 §2.3.1: both parts are form-urlencoded before base64.
		bid, err1 := url.QueryUnescape(id)
		bsecret, err2 := url.QueryUnescape(secret)
		if err1 != nil || err2 != nil {
			return cc, &oauthError{Code: "invalid_client", Description: "the Basic credentials are not form-urlencoded (RFC 6749 §2.3.1)", Challenge: `Basic realm="ehrsim", error="invalid_client"`}
		}
		if cc.ID != "" && cc.ID != bid {
			return cc, errInvalidRequest("client_id %q in the body differs from the Basic credentials' %q", cc.ID, bid)
		}
		cc.ID, cc.Secret = bid, bsecret
	}
	return cc, nil
}

// formRequest checks the shape every token and revocation request has:
// POST, a form body (RFC 6749 §3.2, ERR-06), and parses it.
func formRequest(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return &oauthError{Status: http.StatusMethodNotAllowed, Code: "invalid_request", Description: "use POST with an application/x-www-form-urlencoded body"}
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		return errInvalidRequest("the body must be application/x-www-form-urlencoded (RFC 6749 §3.2), not %q", ct)
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return errInvalidRequest("malformed form body: %v", err)
	}
	return nil
}

// handleToken serves POST /auth/oauth/token (and a scenario's
// /sim/{scenario}/auth/token, which brings that launch to
// client_credentials).
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	resp, g, err := s.token(w, r)
	s.recordToken(r, g, resp, err)
	if err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, resp)
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) (*tokenResponse, grantRef, error) {
	if err := formRequest(w, r); err != nil {
		return nil, grantRef{}, err
	}
	ctx := r.Context()
	if sc := r.PathValue("scenario"); sc != "" {
		// A scenario's own token endpoint: its assertions name it in aud.
		if _, err := s.openScenario(ctx, sc); err != nil {
			return nil, grantRef{}, errInvalidRequest("this token endpoint belongs to an unknown or expired scenario: mint a new launch")
		}
		ctx = clients.WithTokenURL(ctx, smart.FHIRBase{Origin: s.base, Scenario: sc}.ScenarioTokenURL())
	}
	form := r.PostForm
	grant := form.Get("grant_type")
	switch grant {
	case "":
		return nil, grantRef{}, errInvalidRequest("grant_type is missing") // ERR-02
	case "authorization_code", "refresh_token", "client_credentials":
	default:
		return nil, grantRef{}, newOAuthError("unsupported_grant_type", "grant_type %q is not supported: use authorization_code, refresh_token or client_credentials", grant)
	}
	cc, err := parseClientCreds(r)
	if err != nil {
		return nil, grantRef{}, err
	}
	g := s.grantOf(ctx, r)
	def, err := s.authenticate(ctx, r, cc, g)
	if err != nil {
		return nil, g, err
	}
	if !clientMay(def, grant) {
		return nil, g, errUnauthorizedClient("client %q may not use grant_type %s (a %s client)", def.id(), grant, def.Client.Type) // ERR-05
	}
	var resp *tokenResponse
	switch grant {
	case "authorization_code":
		resp, err = s.codeExchange(ctx, def, form)
	case "refresh_token":
		resp, err = s.refresh(ctx, def, form)
	default:
		resp, err = s.clientCredentials(ctx, def, r)
	}
	return resp, g, err
}

func clientMay(def *clientDef, grant string) bool {
	for _, g := range def.Client.GrantTypes() {
		if g == grant {
			return true
		}
	}
	return false
}

// handleRevoke serves POST /auth/revoke (RFC 7009).
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) {
	if err := s.revoke(w, r); err != nil {
		s.writeOAuthError(w, r, err)
		return
	}
	apierr.WriteJSON(w, http.StatusOK, struct{}{})
}

// grantRef is what a token or revocation request presents: the client
// rules and simulated error of its code, refresh token, revoked token or
// backend scenario. def is nil when it names nothing live.
type grantRef struct {
	def *clientDef
	sim smart.SimulatedError
	// launchID and clientID attribute the request for the inspector.
	launchID, clientID string
}

// grantOf finds the grant a request presents, before the client is
// authenticated (its rules decide how).
func (s *Server) grantOf(ctx context.Context, r *http.Request) grantRef {
	form := r.PostForm
	switch form.Get("grant_type") {
	case "authorization_code":
		if a, ok := s.storage.peekCode(ctx, form.Get("code")); ok {
			g := grantRef{def: a.Client, sim: smart.SimulatedError(a.simulate()), clientID: a.ClientID}
			if a.Launch != nil {
				g.launchID = a.Launch.ID
			}
			return g
		}
		// A redeemed code still names its launch, for the inspector.
		launchID, clientID := s.storage.usedCodeLaunch(ctx, form.Get("code"))
		return grantRef{launchID: launchID, clientID: clientID}
	case "refresh_token":
		if e, ok := s.tokens.lookup(form.Get("refresh_token")); ok && e.kind == kindRefresh {
			c := e.fam.Client
			return grantRef{def: &c, sim: e.fam.SimulateError, launchID: e.fam.LaunchID, clientID: e.fam.ClientID}
		}
	case "client_credentials":
		if l, _ := s.ccLaunch(ctx, r); l != nil {
			id := l.Client.ClientID
			if id == "" {
				return grantRef{sim: simulateOf(l), launchID: l.ID}
			}
			def, msg := s.resolveClient(ctx, id, l)
			if msg != "" {
				def = nil
			}
			return grantRef{def: def, sim: simulateOf(l), launchID: l.ID, clientID: id}
		}
	case "":
		// Revocation: the token's own client rules (RFC 7009 §2.1).
		if e, ok := s.tokens.lookup(form.Get("token")); ok {
			c := e.fam.Client
			return grantRef{def: &c, launchID: e.fam.LaunchID, clientID: e.fam.ClientID}
		}
	}
	return grantRef{}
}

// authenticate decides which client is calling (RFC 6749 §2.3, §3.2.1):
// the rules of the grant presented when the caller claims that client, else
// the rules of the client its id names (registered, or launch-defined in
// sandbox mode). An unknown client, or credentials that do not fit, are
// invalid_client (TOK-18, TOK-19, REV-07); a known client presenting a bad
// grant then gets the grant's error (invalid_grant; TOK-15, TOK-17, REF-06).
func (s *Server) authenticate(ctx context.Context, r *http.Request, cc clientCreds, g grantRef) (*clientDef, error) {
	switch g.sim {
	case smart.SimAuthInvalidClientSecret:
		return nil, errInvalidClient("client authentication failed (simulated error auth_invalid_client_secret)")
	case smart.SimTokenInvalidJTI:
		return nil, errInvalidClient("the client assertion jti was already used (simulated error token_invalid_jti)")
	case smart.SimTokenExpiredRegistration:
		return nil, errInvalidClient("the client registration has expired (simulated error token_expired_registration_token)")
	}
	if cc.Assertion != "" {
		return s.authenticateAssertion(ctx, cc, g.def)
	}
	id := cc.ID
	if id == "" && g.def != nil && g.def.Client.Type == clients.TypePublic && r.PostForm.Get("grant_type") == "refresh_token" {
		// SMART 2.2 §refresh lists only grant_type, refresh_token and scope
		// for public apps (fhirclient sends just those): the refresh
		// token's public client is the caller.
		id = g.def.id()
	}
	if id == "" {
		if g.def != nil {
			// RFC 6749 §5.2: a confidential client's grant without client authentication.
			return nil, errInvalidClient("this %s belongs to a confidential client: authenticate it (client_secret_basic, client_secret_post or private_key_jwt)", presented(r))
		}
		return nil, errInvalidClient("no client authentication: send client_id (public clients), HTTP Basic or client_secret_post, or a client_assertion")
	}
	var candidates []*clientDef
	if g.def != nil && g.def.id() == id {
		candidates = []*clientDef{g.def}
	} else {
		// Another client presents this grant, or the grant names nothing:
		// authenticate the caller on its own rules; the grant step then
		// answers invalid_grant (TOK-13, REF-07).
		var err error
		if candidates, err = s.clientsNamed(ctx, id); err != nil {
			return nil, errServer(err)
		}
		if len(candidates) == 0 {
			return nil, errInvalidClient("unknown client_id %q: it is not registered and no live launch defines it", id)
		}
	}
	var why string
	for _, d := range candidates {
		if ok, reason := s.checkSecret(ctx, d, cc); ok {
			return d, nil
		} else if why == "" {
			why = reason
		}
	}
	return nil, errInvalidClient("%s", why)
}

// presented names what the request presents, for messages.
func presented(r *http.Request) string {
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		return "authorization code"
	case "refresh_token":
		return "refresh token"
	}
	return "token"
}

// checkSecret authenticates a caller without an assertion against d.
func (s *Server) checkSecret(ctx context.Context, d *clientDef, cc clientCreds) (bool, string) {
	switch d.Client.Type {
	case clients.TypePublic:
		return true, ""
	case clients.TypeSymmetric:
		ok := false
		if d.Registered {
			ok = cc.Secret != "" && s.opts.Clients.CheckSecret(ctx, d.id(), cc.Secret)
		} else {
			ok = d.checkAdhocSecret(cc.Secret)
		}
		if !ok {
			return false, "client authentication failed: wrong or missing client_secret" // TOK-19
		}
		return true, ""
	default:
		return false, "this client must authenticate with a private_key_jwt client_assertion"
	}
}

// authenticateAssertion checks a SMART private_key_jwt client assertion
// (client-confidential-asymmetric, backend services) against the grant's
// client, else the client named by the assertion's iss: registered, or a
// launch-defined client (each live definition's keys are tried).
func (s *Server) authenticateAssertion(ctx context.Context, cc clientCreds, gdef *clientDef) (*clientDef, error) {
	if s.opts.Assertions == nil {
		return nil, errInvalidClient("private_key_jwt is not available")
	}
	id := cc.ID
	if id == "" {
		id = unverifiedIssuer(cc.Assertion)
	}
	var candidates []*clientDef
	switch {
	case gdef != nil && gdef.id() == id:
		candidates = []*clientDef{gdef}
	default:
		var err error
		if candidates, err = s.clientsNamed(ctx, id); err != nil {
			return nil, errServer(err)
		}
	}
	var last error = errInvalidClient("client_assertion iss %q is not a registered client and no live launch defines it", id)
	for _, d := range candidates {
		if d.Client.AuthMethod() != clients.AuthPrivateKeyJWT {
			last = errInvalidClient("client %q does not authenticate with private_key_jwt (it is a %s client)", d.id(), d.Client.Type)
			continue
		}
		var adhoc *clients.Client
		if !d.Registered {
			c := d.Client
			adhoc = &c
		}
		if _, err := s.opts.Assertions.Verify(ctx, cc.AssertionType, cc.Assertion, cc.ID, adhoc); err != nil {
			var ae *clients.AuthError
			if asAuthError(err, &ae) && ae.Code == clients.CodeInvalidRequest {
				return nil, errInvalidRequest("%s", ae.Description) // BES-06
			}
			if ae != nil {
				last = errInvalidClient("%s", ae.Description)
			} else {
				last = errInvalidClient("%s", err.Error())
			}
			continue
		}
		return d, nil
	}
	return nil, last
}

func asAuthError(err error, target **clients.AuthError) bool { return errors.As(err, target) }

// unverifiedIssuer reads the iss claim of a JWT without verifying it, only
// to know whose keys to verify it with. "" when it cannot be read.
func unverifiedIssuer(jwt string) string {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return ""
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return ""
	}
	return c.Iss
}
