package clients

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Client types (docs/architecture.md launch API contract, client.client_type, plus backend services).
const (
	TypePublic     = "public"
	TypeSymmetric  = "confidential-symmetric"
	TypeAsymmetric = "confidential-asymmetric"
	TypeBackend    = "backend-service"
)

// PKCE modes.
const (
	PKCERequired = "required"
	PKCEOptional = "optional"
)

// Grant types and token endpoint auth methods (RFC 7591 §2 names).
const (
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
	GrantClientCredentials = "client_credentials"

	AuthNone              = "none"
	AuthClientSecretBasic = "client_secret_basic"
	AuthClientSecretPost  = "client_secret_post"
	AuthPrivateKeyJWT     = "private_key_jwt"
)

// Client is a registered (or launch-defined, ad-hoc) SMART client. The
// secret of a confidential-symmetric client is not part of it: the registry
// keeps only a salted hash and no API ever returns it after creation.
type Client struct {
	ID           string          `json:"client_id"`
	Name         string          `json:"client_name,omitempty"`
	Type         string          `json:"client_type"`
	RedirectURIs []string        `json:"redirect_uris,omitempty"`
	LaunchURL    string          `json:"launch_url,omitempty"` // app launch URL (EHR launches), optional
	Scope        string          `json:"scope,omitempty"`      // allowed scopes, space separated; empty = any valid SMART scope
	JWKSURL      string          `json:"jwks_url,omitempty"`
	JWKS         json.RawMessage `json:"jwks,omitempty"` // {"keys":[...]} public keys
	PKCE         string          `json:"pkce,omitempty"` // "required" (default) | "optional"

	AccessTokenLifetime  int `json:"access_token_lifetime,omitempty"`  // seconds; 0 = server default
	RefreshTokenLifetime int `json:"refresh_token_lifetime,omitempty"` // seconds; 0 = server default

	// HasSecret reports whether a secret is stored (read-only; set by the registry).
	HasSecret bool `json:"has_secret,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// GrantTypes lists the OAuth grants the client may use: user-facing clients
// get authorization_code and refresh_token, backend services only
// client_credentials (SMART backend-services §token request).
func (c *Client) GrantTypes() []string {
	if c.Type == TypeBackend {
		return []string{GrantClientCredentials}
	}
	return []string{GrantAuthorizationCode, GrantRefreshToken}
}

// AuthMethod is the client's token endpoint auth method (RFC 7591 §2).
func (c *Client) AuthMethod() string {
	switch c.Type {
	case TypeSymmetric:
		return AuthClientSecretBasic
	case TypeAsymmetric, TypeBackend:
		return AuthPrivateKeyJWT
	}
	return AuthNone
}

// IsConfidential reports whether the client authenticates at the token endpoint.
func (c *Client) IsConfidential() bool { return c.Type != TypePublic }

// PKCERequired reports whether authorize must carry an S256 code challenge.
// Backend services never use the code grant, so the answer is moot for them.
func (c *Client) PKCERequired() bool { return c.PKCE != PKCEOptional }

// HasRedirectURI reports whether uri is registered, compared exactly
// (RFC 6749 §3.1.2.3 simple string comparison; no wildcards, no slash games).
func (c *Client) HasRedirectURI(uri string) bool {
	for _, u := range c.RedirectURIs {
		if u == uri {
			return true
		}
	}
	return false
}

// ErrNotFound is returned for an unknown client id. It matches
// smart.ErrNotFound with errors.Is.
var ErrNotFound = fmt.Errorf("client %w", smart.ErrNotFound)

// ErrExists is returned by Create when the id is taken.
var ErrExists = errors.New("a client with this id already exists")

// FieldError is a validation error naming the offending field by its JSON
// name (client_id, redirect_uris, jwks, …), so API answers can point at it.
// It is apierr.FieldError, the one validation error of the API and the pages.
type FieldError = apierr.FieldError

func fieldErr(field, format string, args ...any) *FieldError {
	return apierr.Fieldf(field, format, args...)
}
