package launcher

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// client validates the client section. Three cases (docs/architecture.md,
// launch API contract):
//   - a registered client_id: the registration's credentials and type rule;
//     the launch may only narrow redirect_uris, scope and pkce, so any
//     credential or type given here is refused rather than ignored;
//   - an unregistered client_id: an ad-hoc client for this launch only
//     (sandbox mode), fully defined here;
//   - no client_id: EHR launches launch the registered demo client
//     DefaultClientID; standalone launches accept any client (the narrowing
//     rules, if any, apply to whichever client uses the scenario).
func (s *Service) client(ctx context.Context, req Request, l *Launch) error {
	c := req.Client
	c.ClientID = strings.TrimSpace(c.ClientID)
	defaulted := false
	if c.ClientID == "" && l.Type.IsEHR() {
		c.ClientID, defaulted = DefaultClientID, true
	}
	if c.ClientID != "" {
		if len(c.ClientID) > 128 || strings.ContainsFunc(c.ClientID, func(r rune) bool { return r <= 0x20 || r == 0x7f }) {
			return fieldErr("client.client_id", "must be at most 128 printable characters without spaces")
		}
	}
	registered := false
	if c.ClientID != "" && s.clients != nil {
		ok, err := s.clients.ClientExists(ctx, c.ClientID)
		if err != nil {
			return fmt.Errorf("launcher: client %q: %w", c.ClientID, err)
		}
		registered = ok
	}
	hasCreds := c.ClientType != "" || c.ClientSecret != "" || c.JWKSURL != "" || len(c.JWKS) > 0

	switch {
	case c.ClientID == "" && l.Type == BackendService:
		return fieldErr("client.client_id", "a backend-service launch needs the client id that will sign its assertions")
	case c.ClientID == "" && hasCreds:
		return fieldErr("client.client_id", "required when client_type, client_secret, jwks or jwks_url define an ad-hoc client")
	case registered && hasCreds:
		why := ""
		if defaulted {
			why = fmt.Sprintf(" (client.client_id is empty, so the launch uses the registered demo client %q; give a client_id to define an ad-hoc client)", DefaultClientID)
		}
		return fieldErr(registeredCredField(c), "client %q is registered: its type and credentials come from the registration, a launch may only narrow redirect_uris, scope and pkce%s", c.ClientID, why)
	case !registered && c.ClientID != "":
		if err := adHocClient(&c, l.Type); err != nil {
			return err
		}
		l.adhoc = true
	}

	for _, u := range c.RedirectURIs {
		if err := checkURL("client.redirect_uris", u); err != nil {
			return err
		}
		// RFC 6749 §3.1.2: the redirection endpoint URI MUST NOT include a fragment.
		if pu, _ := url.Parse(u); pu.Fragment != "" || strings.Contains(u, "#") {
			return fieldErr("client.redirect_uris", "%q has a fragment (RFC 6749 §3.1.2)", u)
		}
	}
	if l.Type == BackendService && len(c.RedirectURIs) > 0 {
		return fieldErr("client.redirect_uris", "backend services have no redirect")
	}
	if err := checkScope("client.scope", c.Scope); err != nil {
		return err
	}
	switch c.PKCE {
	case "", clients.PKCERequired, clients.PKCEOptional:
	case "plain":
		return fieldErr("client.pkce", "plain PKCE is refused in every mode; S256 only (use required or optional)")
	default:
		return fieldErr("client.pkce", "unknown PKCE mode %q: required or optional", c.PKCE)
	}
	if l.Type == BackendService && c.PKCE != "" {
		return fieldErr("client.pkce", "backend services do not use the authorize step")
	}
	l.Client = c
	return nil
}

func registeredCredField(c Client) string {
	switch {
	case c.ClientType != "":
		return "client.client_type"
	case c.ClientSecret != "":
		return "client.client_secret"
	case c.JWKSURL != "":
		return "client.jwks_url"
	}
	return "client.jwks"
}

// adHocClient checks and completes an ad-hoc client definition.
func adHocClient(c *Client, t LaunchType) error {
	if c.ClientType == "" {
		c.ClientType = clients.TypePublic
		if t == BackendService {
			c.ClientType = clients.TypeAsymmetric
		}
	}
	hasJWKS := len(c.JWKS) > 0
	switch c.ClientType {
	case clients.TypePublic:
		if t == BackendService {
			return fieldErr("client.client_type", "backend services authenticate with private_key_jwt: confidential-asymmetric")
		}
		if c.ClientSecret != "" || c.JWKSURL != "" || hasJWKS {
			return fieldErr(publicCredField(*c), "a public client has no credentials")
		}
	case clients.TypeSymmetric:
		if t == BackendService {
			return fieldErr("client.client_type", "backend services authenticate with private_key_jwt: confidential-asymmetric")
		}
		if c.ClientSecret == "" {
			return fieldErr("client.client_secret", "required for a confidential-symmetric client")
		}
		if c.JWKSURL != "" || hasJWKS {
			return fieldErr(publicCredField(Client{JWKSURL: c.JWKSURL, JWKS: c.JWKS}), "a confidential-symmetric client authenticates with its secret, not keys")
		}
	case clients.TypeAsymmetric:
		if c.ClientSecret != "" {
			return fieldErr("client.client_secret", "a confidential-asymmetric client authenticates with private_key_jwt, not a secret")
		}
		switch {
		case !hasJWKS && c.JWKSURL == "":
			return fieldErr("client.jwks", "a confidential-asymmetric client needs jwks or jwks_url")
		case hasJWKS && c.JWKSURL != "":
			return fieldErr("client.jwks_url", "give jwks or jwks_url, not both")
		case hasJWKS:
			if err := checkJWKS("client.jwks", c.JWKS); err != nil {
				return err
			}
		default:
			if err := checkURL("client.jwks_url", c.JWKSURL); err != nil {
				return err
			}
		}
	default:
		return fieldErr("client.client_type", "unknown client type %q: public, confidential-symmetric or confidential-asymmetric", c.ClientType)
	}
	if c.PKCE == "" && t != BackendService {
		c.PKCE = clients.PKCERequired
	}
	return nil
}

func publicCredField(c Client) string {
	switch {
	case c.ClientSecret != "":
		return "client.client_secret"
	case c.JWKSURL != "":
		return "client.jwks_url"
	}
	return "client.jwks"
}
