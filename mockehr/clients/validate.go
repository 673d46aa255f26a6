package clients

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

const (
	maxIDLen       = 128
	maxSecretLen   = 512
	maxLifetime    = 366 * 24 * 3600
	maxRedirectURI = 50
)

// Validate checks a client definition and normalises it in place (default
// PKCE mode, name, compact JWKS, trimmed scope). It is exported so the
// launcher can check ad-hoc launch clients with the same rules. Secrets are
// checked by the registry (see Create/Update). The error is a *FieldError.
func (c *Client) Validate() error {
	if c.ID == "" {
		return fieldErr("client_id", "is required")
	}
	if len(c.ID) > maxIDLen {
		return fieldErr("client_id", "is longer than %d characters", maxIDLen)
	}
	for _, r := range c.ID {
		if !isIDChar(r) {
			return fieldErr("client_id", "%q may contain only letters, digits and . _ ~ -", c.ID)
		}
	}
	if c.Name == "" {
		c.Name = c.ID
	}
	switch c.Type {
	case TypePublic, TypeSymmetric, TypeAsymmetric, TypeBackend:
	case "":
		return fieldErr("client_type", "is required (public, confidential-symmetric, confidential-asymmetric or backend-service)")
	default:
		return fieldErr("client_type", "%q is not one of public, confidential-symmetric, confidential-asymmetric, backend-service", c.Type)
	}

	if c.Type == TypeBackend {
		if len(c.RedirectURIs) > 0 {
			return fieldErr("redirect_uris", "a backend-service client uses client_credentials and has no redirect URIs")
		}
		if c.LaunchURL != "" {
			return fieldErr("launch_url", "a backend-service client is never launched")
		}
	} else if len(c.RedirectURIs) == 0 {
		return fieldErr("redirect_uris", "at least one redirect URI is required for a %s client", c.Type)
	}
	if len(c.RedirectURIs) > maxRedirectURI {
		return fieldErr("redirect_uris", "at most %d redirect URIs", maxRedirectURI)
	}
	for _, u := range c.RedirectURIs {
		if err := checkURL(u); err != nil {
			return fieldErr("redirect_uris", "%q: %v", u, err)
		}
	}
	if c.LaunchURL != "" {
		if err := checkURL(c.LaunchURL); err != nil {
			return fieldErr("launch_url", "%q: %v", c.LaunchURL, err)
		}
	}

	c.Scope = strings.Trim(c.Scope, " ")
	if err := checkScope(c.Scope); err != nil {
		return fieldErr("scope", "%v", err)
	}

	asym := c.Type == TypeAsymmetric || c.Type == TypeBackend
	if c.JWKSURL != "" {
		if !asym {
			return fieldErr("jwks_url", "only confidential-asymmetric and backend-service clients have keys")
		}
		if err := checkURL(c.JWKSURL); err != nil {
			return fieldErr("jwks_url", "%q: %v", c.JWKSURL, err)
		}
	}
	if len(c.JWKS) > 0 && !bytes.Equal(bytes.TrimSpace(c.JWKS), []byte("null")) {
		if !asym {
			return fieldErr("jwks", "only confidential-asymmetric and backend-service clients have keys")
		}
		set, err := ParseJWKS(c.JWKS)
		if err != nil {
			return fieldErr("jwks", "%v", err)
		}
		compact, err := json.Marshal(set)
		if err != nil {
			return fieldErr("jwks", "%v", err)
		}
		c.JWKS = compact
	} else {
		c.JWKS = nil
	}
	if asym && c.JWKSURL == "" && c.JWKS == nil {
		return fieldErr("jwks", "a %s client needs a JWK Set (jwks) or a JWK Set URL (jwks_url)", c.Type)
	}

	switch c.PKCE {
	case "":
		c.PKCE = PKCERequired
	case PKCERequired, PKCEOptional:
	default:
		return fieldErr("pkce", "%q is not required or optional (plain PKCE is never accepted)", c.PKCE)
	}
	if c.AccessTokenLifetime < 0 || c.AccessTokenLifetime > maxLifetime {
		return fieldErr("access_token_lifetime", "must be between 0 and %d seconds", maxLifetime)
	}
	if c.RefreshTokenLifetime < 0 || c.RefreshTokenLifetime > maxLifetime {
		return fieldErr("refresh_token_lifetime", "must be between 0 and %d seconds", maxLifetime)
	}
	return nil
}

func isIDChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._~-", r)
}

// checkURL accepts absolute http(s) URLs with a host and no fragment
// (RFC 6749 §3.1.2: the redirection endpoint URI MUST be absolute and MUST
// NOT include a fragment).
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("is not a URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("must be an absolute http or https URL")
	}
	if u.Host == "" {
		return fmt.Errorf("has no host")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("must not contain a fragment")
	}
	if u.User != nil {
		return fmt.Errorf("must not contain user information")
	}
	return nil
}

// checkScope is the RFC 6749 §3.3 syntax check: space-separated tokens of
// %x21 / %x23-5B / %x5D-7E. The SMART grammar itself belongs to
// mockehr/scopes and is applied when a scope is requested.
func checkScope(s string) error {
	if s == "" {
		return nil
	}
	for i, tok := range strings.Split(s, " ") {
		if tok == "" {
			return fmt.Errorf("empty scope token after token %d (use single spaces between scopes)", i)
		}
		for _, r := range tok {
			if r < 0x21 || r > 0x7e || r == '"' || r == '\\' {
				return fmt.Errorf("scope token %q contains a character not allowed by RFC 6749 §3.3", tok)
			}
		}
	}
	return nil
}

func checkSecret(secret string) error {
	if secret == "" {
		return fieldErr("client_secret", "a confidential-symmetric client needs a secret")
	}
	if len(secret) > maxSecretLen {
		return fieldErr("client_secret", "is longer than %d characters", maxSecretLen)
	}
	for _, r := range secret {
		if r < 0x20 || r == 0x7f {
			return fieldErr("client_secret", "must not contain control characters")
		}
	}
	return nil
}

// ParseJWKS parses a JWK Set ({"keys":[…]}) and checks that every key is a
// valid public signing key with a kid (SMART client-confidential-asymmetric
// §registering a client: keys are identified by kid).
func ParseJWKS(raw []byte) (*jose.JSONWebKeySet, error) {
	var probe struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return nil, fmt.Errorf("is not a JSON JWK Set object: %v", err)
	}
	if len(probe.Keys) == 0 {
		return nil, fmt.Errorf(`must be a JWK Set with a non-empty "keys" array`)
	}
	set := &jose.JSONWebKeySet{}
	seen := map[string]bool{}
	for i, k := range probe.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(k); err != nil {
			return nil, fmt.Errorf("key %d: %v", i, err)
		}
		if key.KeyID == "" {
			return nil, fmt.Errorf("key %d has no kid", i)
		}
		if seen[key.KeyID] {
			return nil, fmt.Errorf("kid %q appears twice", key.KeyID)
		}
		seen[key.KeyID] = true
		if !key.Valid() {
			return nil, fmt.Errorf("key %q is not a valid key", key.KeyID)
		}
		switch key.Key.(type) {
		case *rsa.PublicKey, *ecdsa.PublicKey:
		case *rsa.PrivateKey, *ecdsa.PrivateKey:
			return nil, fmt.Errorf("key %q contains private key material; register only the public key", key.KeyID)
		default:
			return nil, fmt.Errorf("key %q: only RSA and EC keys are supported (RS256, RS384, ES256, ES384)", key.KeyID)
		}
		if key.Use != "" && key.Use != "sig" {
			return nil, fmt.Errorf("key %q has use %q; client assertion keys must be signing keys", key.KeyID, key.Use)
		}
		set.Keys = append(set.Keys, key)
	}
	return set, nil
}
