package authz

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// clientDef is the effective client of one authorization: a registered
// client, possibly narrowed by the launch's client section, or (sandbox
// mode) an ad-hoc client defined by the launch or by the request itself.
type clientDef struct {
	Client     clients.Client `json:"client"`
	Registered bool           `json:"registered,omitempty"`
	// AnyRedirect: an ad-hoc client without redirect_uris accepts the
	// redirect_uri it presents (sandbox mode).
	AnyRedirect bool `json:"any_redirect,omitempty"`
	// LaunchScope is the launch's allowed scope list, applied on top of
	// Client.Scope (a launch may only narrow).
	LaunchScope string `json:"launch_scope,omitempty"`
	// SecretHash is SHA-256 of a launch-defined secret (ad-hoc
	// confidential-symmetric clients); registered secrets are checked by
	// the registry.
	SecretHash []byte `json:"secret_hash,omitempty"`
}

func (c *clientDef) id() string { return c.Client.ID }

func (c *clientDef) checkAdhocSecret(secret string) bool {
	if len(c.SecretHash) == 0 || secret == "" {
		return false
	}
	h := sha256.Sum256([]byte(secret))
	return subtle.ConstantTimeCompare(h[:], c.SecretHash) == 1
}

func (c *clientDef) redirectAllowed(uri string) bool {
	if c.AnyRedirect {
		return true
	}
	return slices.Contains(c.Client.RedirectURIs, uri)
}

func (c *clientDef) pkceRequired() bool { return c.Client.PKCERequired() }

// grantScopes applies the client's (and the launch's) allowed lists.
func (c *clientDef) grantScopes(requested []scopes.Scope) (granted, refused []scopes.Scope) {
	granted = requested
	for _, allowed := range []string{c.Client.Scope, c.LaunchScope} {
		if allowed == "" {
			g, r := scopes.Grant(granted, nil)
			granted, refused = g, append(refused, r...)
			continue
		}
		al, _ := scopes.ParseList(allowed)
		g, r := scopes.Grant(granted, al)
		granted, refused = g, append(refused, r...)
	}
	return granted, refused
}

// adhocClient builds the sandbox client for an unregistered client_id: the
// launch's client section if it names this id (or names none), else a public
// client accepting whatever redirect_uri it presents.
func adhocClient(id string, lc *launcher.Client) *clientDef {
	d := &clientDef{Client: clients.Client{ID: id, Type: clients.TypePublic}, AnyRedirect: true}
	if lc == nil {
		return d
	}
	if lc.ClientType != "" {
		d.Client.Type = lc.ClientType
	}
	if len(lc.RedirectURIs) > 0 {
		d.Client.RedirectURIs = slices.Clone(lc.RedirectURIs)
		d.AnyRedirect = false
	}
	d.Client.Scope = lc.Scope
	d.Client.JWKSURL = lc.JWKSURL
	d.Client.JWKS = lc.JWKS
	d.Client.PKCE = lc.PKCE
	if lc.ClientSecret != "" {
		h := sha256.Sum256([]byte(lc.ClientSecret))
		d.SecretHash = h[:]
	}
	return d
}

// narrow applies a launch's client section to a registered client: it may
// only restrict redirect URIs and scopes; type, keys, secret and PKCE stay
// as registered (a launch cannot weaken a registered client).
func narrow(reg *clients.Client, lc *launcher.Client) *clientDef {
	d := &clientDef{Client: *reg, Registered: true}
	d.Client.RedirectURIs = slices.Clone(reg.RedirectURIs)
	if lc == nil {
		return d
	}
	if len(lc.RedirectURIs) > 0 {
		var keep []string
		for _, u := range d.Client.RedirectURIs {
			if slices.Contains(lc.RedirectURIs, u) {
				keep = append(keep, u)
			}
		}
		d.Client.RedirectURIs = keep
	}
	d.LaunchScope = lc.Scope
	return d
}

// opClient adapts a clientDef to zitadel's op.Client.
type opClient struct {
	def      *clientDef
	redirect string // the validated redirect_uri of this request
	loginURL func(id string) string
}

var _ op.Client = (*opClient)(nil)

func (c *opClient) GetID() string { return c.def.Client.ID }
func (c *opClient) RedirectURIs() []string {
	if c.redirect != "" {
		return []string{c.redirect}
	}
	return c.def.Client.RedirectURIs
}
func (c *opClient) PostLogoutRedirectURIs() []string    { return c.def.Client.RedirectURIs }
func (c *opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *opClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethod(c.def.Client.AuthMethod()) }
func (c *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *opClient) GrantTypes() []oidc.GrantType {
	var gts []oidc.GrantType
	for _, g := range c.def.Client.GrantTypes() {
		gts = append(gts, oidc.GrantType(g))
	}
	return gts
}
func (c *opClient) LoginURL(id string) string {
	if c.loginURL == nil {
		return ""
	}
	return c.loginURL(id)
}
func (c *opClient) AccessTokenType() op.AccessTokenType { return op.AccessTokenTypeBearer }
func (c *opClient) IDTokenLifetime() time.Duration      { return time.Hour }

// DevMode allows http redirect URIs: a sandbox for local development.
func (c *opClient) DevMode() bool { return true }
func (c *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed keeps every scope in zitadel's filter: SMART scope
// granting is ours (Authorize), zitadel would otherwise silently drop them.
func (c *opClient) IsScopeAllowed(string) bool           { return true }
func (c *opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *opClient) ClockSkew() time.Duration             { return 0 }
