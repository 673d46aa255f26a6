package authz

import (
	"crypto/sha256"
	"crypto/subtle"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// clientDef is the effective client of one authorization: a registered
// client, possibly narrowed by the launch's client section, a launch-defined
// client (sandbox mode: defined by a launch's client section, or by an
// unregistered client_id completing an authorization), or a sandbox client
// seen for the first time. It is kept with every grant (code, token family),
// so the grant is checked against the rules it was issued under.
type clientDef struct {
	Client     clients.Client `json:"client"`
	Registered bool           `json:"registered,omitempty"`
	// Sandbox: an unregistered client_id that no launch defined; authorize
	// accepts it as a public client and records it (launch-defined clients).
	Sandbox bool `json:"sandbox,omitempty"`
	// AnyRedirect: an unregistered client without redirect_uris accepts the
	// redirect_uri it presents (sandbox mode).
	AnyRedirect bool `json:"any_redirect,omitempty"`
	// LaunchScope is the launch's allowed scope list, applied on top of
	// Client.Scope (a launch may only narrow).
	LaunchScope string `json:"launch_scope,omitempty"`
	// SecretSalt and SecretHMAC keep a launch-defined secret
	// (confidential-symmetric) as clients.SaltSecret makes it; registered
	// secrets are checked by the registry. SecretHash (SHA-256) is how
	// grants issued before salted secrets kept it.
	SecretSalt []byte `json:"secret_salt,omitempty"`
	SecretHMAC []byte `json:"secret_hmac,omitempty"`
	SecretHash []byte `json:"secret_hash,omitempty"`
}

func (c *clientDef) id() string { return c.Client.ID }

func (c *clientDef) checkAdhocSecret(secret string) bool {
	if len(c.SecretSalt) > 0 {
		return clients.SecretMatches(c.SecretSalt, c.SecretHMAC, secret)
	}
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

// sandboxClient is an unregistered client_id no launch defined: a public
// client accepting whatever redirect_uri it presents (sandbox mode).
func sandboxClient(id string) *clientDef {
	// id is a slice of the request; the definition outlives it in token families.
	return &clientDef{Client: clients.Client{ID: strings.Clone(id), Type: clients.TypePublic}, AnyRedirect: true, Sandbox: true}
}

// launchClientDef is the client a launch's client section defines (its
// client_id is not registered).
func launchClientDef(id string, l *launcher.Launch) (*clientDef, error) {
	c := l.Client.Definition(l.Type)
	c.ID = id
	d := &clientDef{Client: c, AnyRedirect: len(c.RedirectURIs) == 0}
	if l.Client.ClientSecret != "" {
		var err error
		if d.SecretSalt, d.SecretHMAC, err = clients.SaltSecret(l.Client.ClientSecret); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// launchDefinedDef is a launch-defined client read back from the registry.
func launchDefinedDef(ld *clients.LaunchDefined) *clientDef {
	d := &clientDef{Client: ld.Client, AnyRedirect: len(ld.RedirectURIs) == 0}
	d.SecretSalt, d.SecretHMAC = ld.Secret()
	return d
}

// narrow applies a launch's client section to a client defined elsewhere
// (registered, or launch-defined by another launch): it may only restrict
// redirect URIs and scopes; type, keys, secret and PKCE stay as they are (a
// launch cannot weaken a client).
func narrow(d *clientDef, lc *launcher.Client) *clientDef {
	d.Client.RedirectURIs = slices.Clone(d.Client.RedirectURIs)
	if lc == nil {
		return d
	}
	if len(lc.RedirectURIs) > 0 {
		if d.AnyRedirect {
			d.Client.RedirectURIs, d.AnyRedirect = slices.Clone(lc.RedirectURIs), false
		} else {
			var keep []string
			for _, u := range d.Client.RedirectURIs {
				if slices.Contains(lc.RedirectURIs, u) {
					keep = append(keep, u)
				}
			}
			d.Client.RedirectURIs = keep
		}
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
