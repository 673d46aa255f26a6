package clients

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
)

// registrationRequest is RFC 7591 §2 client metadata (the fields ehrsim
// uses; others are ignored as §2 requires).
type registrationRequest struct {
	RedirectURIs            []string        `json:"redirect_uris"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types"`
	ClientName              string          `json:"client_name"`
	Scope                   string          `json:"scope"`
	JWKS                    json.RawMessage `json:"jwks"`
	JWKSURI                 string          `json:"jwks_uri"`
}

// registrationResponse is RFC 7591 §3.2.1.
type registrationResponse struct {
	ClientID                string          `json:"client_id"`
	ClientSecret            string          `json:"client_secret,omitempty"`
	ClientIDIssuedAt        int64           `json:"client_id_issued_at"`
	ClientSecretExpiresAt   *int64          `json:"client_secret_expires_at,omitempty"`
	ClientName              string          `json:"client_name,omitempty"`
	RedirectURIs            []string        `json:"redirect_uris,omitempty"`
	GrantTypes              []string        `json:"grant_types"`
	ResponseTypes           []string        `json:"response_types,omitempty"`
	TokenEndpointAuthMethod string          `json:"token_endpoint_auth_method"`
	Scope                   string          `json:"scope,omitempty"`
	JWKS                    json.RawMessage `json:"jwks,omitempty"`
	JWKSURI                 string          `json:"jwks_uri,omitempty"`
}

// register is RFC 7591 §3 dynamic client registration (open, as befits a
// sandbox: no initial access token). Errors follow §3.2.2.
func (a *API) register(w http.ResponseWriter, r *http.Request) {
	var req registrationRequest
	if !decode(w, r, &req, false) {
		return
	}
	c, authMethod, err := req.toClient()
	if err != nil {
		writeRegistrationError(w, err)
		return
	}
	for range 3 { // a random id collides practically never; retry anyway
		if c.ID, err = newClientID(); err != nil {
			a.serverError(w, r, err)
			return
		}
		secret := ""
		if c.Type == TypeSymmetric {
			if secret, err = newSecret(); err != nil {
				a.serverError(w, r, err)
				return
			}
		}
		var saved *Client
		saved, err = a.Registry.Create(r.Context(), c, secret)
		if errors.Is(err, ErrExists) {
			continue
		}
		if err != nil {
			var fe *FieldError
			if errors.As(err, &fe) {
				writeRegistrationError(w, fe)
			} else {
				a.serverError(w, r, err)
			}
			return
		}
		resp := registrationResponse{
			ClientID: saved.ID, ClientIDIssuedAt: saved.CreatedAt.Unix(), ClientName: saved.Name,
			RedirectURIs: saved.RedirectURIs, GrantTypes: saved.GrantTypes(), TokenEndpointAuthMethod: authMethod,
			Scope: saved.Scope, JWKS: saved.JWKS, JWKSURI: saved.JWKSURL,
		}
		if saved.Type != TypeBackend {
			resp.ResponseTypes = []string{"code"}
		}
		if secret != "" {
			never := int64(0) // §3.2.1: 0 = the secret does not expire
			resp.ClientSecret, resp.ClientSecretExpiresAt = secret, &never
		}
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		apierr.WriteJSON(w, http.StatusCreated, resp)
		return
	}
	a.serverError(w, r, fmt.Errorf("could not allocate a client id: %w", err))
}

// toClient maps RFC 7591 metadata onto ehrsim's client types.
func (req *registrationRequest) toClient() (Client, string, error) {
	method := req.TokenEndpointAuthMethod
	if method == "" {
		method = AuthClientSecretBasic // RFC 7591 §2 default
	}
	grants := req.GrantTypes
	if len(grants) == 0 {
		grants = []string{GrantAuthorizationCode} // RFC 7591 §2 default
	}
	for _, g := range grants {
		if g != GrantAuthorizationCode && g != GrantRefreshToken && g != GrantClientCredentials {
			return Client{}, "", fieldErr("grant_types", "%q is not supported (authorization_code, refresh_token, client_credentials)", g)
		}
	}
	c := Client{Name: req.ClientName, RedirectURIs: req.RedirectURIs, Scope: req.Scope, JWKSURL: req.JWKSURI}
	if len(req.JWKS) > 0 && !bytes.Equal(bytes.TrimSpace(req.JWKS), []byte("null")) {
		c.JWKS = req.JWKS
	}
	if c.JWKS != nil && c.JWKSURL != "" {
		return Client{}, "", fieldErr("jwks", "jwks and jwks_uri must not both be present (RFC 7591 §2)")
	}
	switch {
	case slices.Contains(grants, GrantClientCredentials):
		if len(grants) > 1 {
			return Client{}, "", fieldErr("grant_types", "client_credentials cannot be combined with other grants; register a separate backend client")
		}
		if method != AuthPrivateKeyJWT {
			// SMART backend services authenticate with private_key_jwt only (checklist BES-18).
			return Client{}, "", fieldErr("token_endpoint_auth_method", "a client_credentials client must use private_key_jwt (SMART backend services)")
		}
		if len(req.ResponseTypes) > 0 {
			return Client{}, "", fieldErr("response_types", "a client_credentials client has no response types")
		}
		c.Type = TypeBackend
	default:
		if !slices.Contains(grants, GrantAuthorizationCode) {
			return Client{}, "", fieldErr("grant_types", "refresh_token needs authorization_code")
		}
		for _, rt := range req.ResponseTypes {
			if rt != "code" {
				return Client{}, "", fieldErr("response_types", "%q is not supported; SMART uses response_type code", rt)
			}
		}
		switch method {
		case AuthNone:
			c.Type = TypePublic
		case AuthClientSecretBasic, AuthClientSecretPost:
			c.Type = TypeSymmetric
		case AuthPrivateKeyJWT:
			c.Type = TypeAsymmetric
		default:
			return Client{}, "", fieldErr("token_endpoint_auth_method", "%q is not supported (none, client_secret_basic, client_secret_post, private_key_jwt)", method)
		}
	}
	// The id is assigned later; validate with a placeholder to report
	// metadata errors before any id is spent.
	probe := c
	probe.ID = "probe"
	if err := probe.Validate(); err != nil {
		return Client{}, "", err
	}
	return c, method, nil
}

// writeRegistrationError answers RFC 7591 §3.2.2: invalid_redirect_uri for
// redirect URI problems, invalid_client_metadata for the rest.
func writeRegistrationError(w http.ResponseWriter, err error) {
	var fe *FieldError
	if !errors.As(err, &fe) {
		fe = &FieldError{Field: "body", Message: err.Error()}
	}
	field := map[string]string{"jwks_url": "jwks_uri", "client_type": "token_endpoint_auth_method"}[fe.Field]
	if field == "" {
		field = fe.Field
	}
	code := "invalid_client_metadata"
	if field == "redirect_uris" {
		code = "invalid_redirect_uri"
	}
	w.Header().Set("Cache-Control", "no-store")
	registrationError(w, http.StatusBadRequest, code, field, fe.Message)
}

// registrationError answers an RFC 7591 §3.2.2 error in apierr's shape with
// the registration codes. Generic OAuth clients show only
// error_description, so it starts with the field's name.
func registrationError(w http.ResponseWriter, status int, code, field, msg string) {
	if field != "" {
		msg = field + ": " + msg
	}
	apierr.Write(w, status, code, field, msg)
}

func newClientID() (string, error) {
	s, err := newSecret()
	if err != nil {
		return "", err
	}
	return "dyn-" + s[:22], nil
}
