package authz

import (
	"context"
	"errors"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// invalidClient is RFC 6749 §5.2 invalid_client; tokenEndpointGuard turns
// the status into 401 with WWW-Authenticate.
func invalidClient(desc string) error {
	return op.NewStatusError(oidc.ErrInvalidClient().WithDescription("%s", desc), http.StatusUnauthorized)
}

// VerifyClient authenticates the caller of the token and revocation
// endpoints. The client rules come from, in order: the authorization the
// code or refresh token belongs to (which may be a launch-defined ad-hoc
// client), the registry, or (sandbox mode, revocation only) an ad-hoc
// public client. Assertions go to the SMART private_key_jwt verifier for
// every grant, client_credentials included (zitadel ignores them there).
func (ss *smartServer) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	s := ss.srv
	cc := r.Data
	grant := oidc.GrantType(r.Form.Get("grant_type"))
	def, sim := s.clientForTokenRequest(ctx, r)
	if def != nil && cc.ClientID != "" && cc.ClientID != def.Client.ID {
		// Another client presents this grant: authenticate it on its own
		// rules; the grant step then answers invalid_grant (TOK-13, REF-07).
		def, sim = nil, ""
	}
	switch sim {
	case "auth_invalid_client_secret":
		return nil, invalidClient("client authentication failed (simulated error auth_invalid_client_secret)")
	case "token_invalid_jti":
		return nil, invalidClient("the client assertion jti was already used (simulated error token_invalid_jti)")
	case "token_expired_registration_token":
		return nil, invalidClient("the client registration has expired (simulated error token_expired_registration_token)")
	}

	if cc.ClientAssertion != "" {
		if s.opts.Assertions == nil {
			return nil, invalidClient("private_key_jwt is not available")
		}
		var adhoc *clients.Client
		if def != nil && !def.Registered {
			c := def.Client
			adhoc = &c
		}
		c, err := s.opts.Assertions.Verify(ctx, cc.ClientAssertionType, cc.ClientAssertion, cc.ClientID, adhoc)
		if err != nil {
			var ae *clients.AuthError
			if errors.As(err, &ae) && ae.Code == clients.CodeInvalidRequest {
				return nil, oidc.ErrInvalidRequest().WithDescription("%s", ae.Description) // BES-06
			}
			if errors.As(err, &ae) {
				return nil, invalidClient(ae.Description)
			}
			return nil, invalidClient(err.Error())
		}
		if def == nil || def.Client.ID != c.ID {
			reg, msg := s.resolveClient(ctx, c.ID, nil)
			if msg != "" {
				return nil, invalidClient(msg)
			}
			def = reg
		}
		if def.Client.AuthMethod() != clients.AuthPrivateKeyJWT {
			return nil, invalidClient("this client does not authenticate with private_key_jwt")
		}
		return s.opClientFor(def, ""), nil
	}

	if def == nil {
		if cc.ClientID == "" {
			return nil, oidc.ErrInvalidRequest().WithDescription("client_id or client_assertion must be provided")
		}
		reg, err := s.registered(ctx, cc.ClientID)
		switch {
		case err != nil:
			return nil, oidc.ErrServerError().WithParent(err)
		case reg != nil:
			def = reg
		case grant == "" && !s.opts.Strict:
			// Revocation by a sandbox ad-hoc public client: it can only
			// revoke its own tokens (Revocation checks).
			def = adhocClient(cc.ClientID, nil)
		default:
			return nil, invalidClient("unknown client_id")
		}
	}
	switch def.Client.Type {
	case clients.TypePublic:
		return s.opClientFor(def, ""), nil
	case clients.TypeSymmetric:
		ok := false
		if def.Registered {
			ok = cc.ClientSecret != "" && s.opts.Clients.CheckSecret(ctx, def.Client.ID, cc.ClientSecret)
		} else {
			ok = def.checkAdhocSecret(cc.ClientSecret)
		}
		if !ok {
			return nil, invalidClient("client authentication failed: wrong or missing client_secret") // TOK-19
		}
		return s.opClientFor(def, ""), nil
	default:
		return nil, invalidClient("this client must authenticate with a private_key_jwt client_assertion")
	}
}

func (s *Server) registered(ctx context.Context, id string) (*clientDef, error) {
	if s.opts.Clients == nil {
		return nil, nil
	}
	c, err := s.opts.Clients.Get(ctx, id)
	if err != nil {
		if errors.Is(err, clients.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return &clientDef{Client: *c, Registered: true}, nil
}

// clientForTokenRequest finds the client rules of the grant presented
// (code, refresh token or client_credentials resource), and the launch's
// simulated error name. def is nil when the request names no known grant.
func (s *Server) clientForTokenRequest(ctx context.Context, r *op.Request[op.ClientCredentials]) (*clientDef, string) {
	switch oidc.GrantType(r.Form.Get("grant_type")) {
	case oidc.GrantTypeCode:
		if a, ok := s.storage.peekCode(r.Form.Get("code")); ok {
			return a.Client, a.simulate()
		}
	case oidc.GrantTypeRefreshToken:
		if e, ok := s.tokens.lookup(r.Form.Get("refresh_token")); ok && e.kind == kindRefresh {
			c := e.fam.Client
			return &c, e.fam.SimulateError
		}
	case oidc.GrantTypeClientCredentials:
		if l, _ := s.ccLaunch(ctx, r.Form); l != nil {
			if l.Client.ClientID != "" {
				def, msg := s.resolveClient(ctx, l.Client.ClientID, l)
				if msg == "" {
					return def, l.SimulateError
				}
			}
			return nil, l.SimulateError
		}
	}
	return nil, ""
}
