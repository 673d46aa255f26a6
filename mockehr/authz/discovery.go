package authz

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// DiscoveryConfig overrides fields of the SMART discovery document
// (/.well-known/smart-configuration) and, where they exist there, of the
// OIDC one. The toml names mirror the WSO2 smart-config Config.toml (the
// JSON field names); cmd/ehrsim fills it from the [smart] table. Zero values
// take the defaults, which advertise exactly what works (DISC-12, DISC-15).
type DiscoveryConfig struct {
	Issuer                                     string   `toml:"issuer"`
	JWKSURI                                    string   `toml:"jwks_uri"`
	AuthorizationEndpoint                      string   `toml:"authorization_endpoint"`
	TokenEndpoint                              string   `toml:"token_endpoint"`
	IntrospectionEndpoint                      string   `toml:"introspection_endpoint"`
	RevocationEndpoint                         string   `toml:"revocation_endpoint"`
	ManagementEndpoint                         string   `toml:"management_endpoint"`
	RegistrationEndpoint                       string   `toml:"registration_endpoint"`
	UserinfoEndpoint                           string   `toml:"userinfo_endpoint"`
	GrantTypesSupported                        []string `toml:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `toml:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `toml:"token_endpoint_auth_signing_alg_values_supported"`
	ScopesSupported                            []string `toml:"scopes_supported"`
	ResponseTypesSupported                     []string `toml:"response_types_supported"`
	Capabilities                               []string `toml:"capabilities"`
	CodeChallengeMethodsSupported              []string `toml:"code_challenge_methods_supported"`
	UserAccessBrandBundle                      string   `toml:"user_access_brand_bundle"`
	UserAccessBrandIdentifier                  string   `toml:"user_access_brand_identifier"`
}

// Defaults. Every capability listed is covered by a test in this package.
var (
	DefaultCapabilities = []string{
		"launch-ehr", "launch-standalone", "authorize-post",
		"client-public", "client-confidential-symmetric", "client-confidential-asymmetric",
		"sso-openid-connect",
		"context-banner", "context-style", "context-ehr-patient", "context-ehr-encounter",
		"context-standalone-patient", "context-standalone-encounter",
		"permission-offline", "permission-online", "permission-patient", "permission-user",
		"permission-v1", "permission-v2",
	}
	DefaultScopesSupported = []string{
		"openid", "fhirUser", "profile", "launch", "launch/patient", "launch/encounter",
		"offline_access", "online_access",
		"patient/*.cruds", "patient/*.rs", "patient/*.read", "patient/*.write", "patient/*.*",
		"user/*.cruds", "user/*.rs", "user/*.read", "user/*.write", "user/*.*",
		"system/*.cruds", "system/*.rs", "system/*.read", "system/*.write", "system/*.*",
	}
	DefaultGrantTypes       = []string{"authorization_code", "refresh_token", "client_credentials"}
	DefaultTokenAuthMethods = []string{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
	DefaultTokenAuthAlgs    = []string{"RS384", "ES384"}
)

// smartConfiguration is the SMART 2.2 conformance §metadata document.
type smartConfiguration struct {
	Issuer                                     string   `json:"issuer,omitempty"`
	JWKSURI                                    string   `json:"jwks_uri,omitempty"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ManagementEndpoint                         string   `json:"management_endpoint,omitempty"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint,omitempty"`
	RevocationEndpoint                         string   `json:"revocation_endpoint,omitempty"`
	UserinfoEndpoint                           string   `json:"userinfo_endpoint,omitempty"`
	Capabilities                               []string `json:"capabilities"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	UserAccessBrandBundle                      string   `json:"user_access_brand_bundle,omitempty"`
	UserAccessBrandIdentifier                  string   `json:"user_access_brand_identifier,omitempty"`
}

func or(v, def string) string {
	if v != "" {
		return v
	}
	return def
}

func orList(v, def []string) []string {
	if len(v) > 0 {
		return v
	}
	return def
}

// EndpointsFor is the endpoint set advertised on a FHIR base (its SMART
// discovery and CapabilityStatement; CS-05): the server's own, with the
// token endpoint of a scenario carrying the scenario, and the configured
// discovery overrides applied.
func (s *Server) EndpointsFor(b smart.FHIRBase) smart.Endpoints {
	sc := s.smartConfig(b)
	e := b.Endpoints()
	e.Issuer, e.JWKS = sc.Issuer, sc.JWKSURI
	e.Authorization, e.Token = sc.AuthorizationEndpoint, sc.TokenEndpoint
	e.Introspection, e.Revocation = sc.IntrospectionEndpoint, sc.RevocationEndpoint
	e.Registration, e.Management, e.UserInfo = sc.RegistrationEndpoint, sc.ManagementEndpoint, sc.UserinfoEndpoint
	return e
}

// plainSmartConfig is the encoded SMART discovery document of /fhir, built
// on first use (it depends only on the configuration).
func (s *Server) plainSmartConfig() []byte {
	s.plainDiscoveryOnce.Do(func() {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false) // as apierr.WriteJSON
		enc.Encode(s.smartConfig(smart.FHIRBase{Origin: s.base}))
		s.plainDiscovery = buf.Bytes()
	})
	return s.plainDiscovery
}

// smartConfig is the SMART discovery document of base b.
func (s *Server) smartConfig(b smart.FHIRBase) *smartConfiguration {
	c, e := s.opts.Discovery, b.Endpoints()
	sc := &smartConfiguration{
		Issuer:                            or(c.Issuer, e.Issuer),
		JWKSURI:                           or(c.JWKSURI, e.JWKS),
		AuthorizationEndpoint:             or(c.AuthorizationEndpoint, e.Authorization),
		GrantTypesSupported:               orList(c.GrantTypesSupported, DefaultGrantTypes),
		TokenEndpoint:                     or(c.TokenEndpoint, e.Token),
		TokenEndpointAuthMethodsSupported: orList(c.TokenEndpointAuthMethodsSupported, DefaultTokenAuthMethods),
		TokenEndpointAuthSigningAlgValuesSupported: orList(c.TokenEndpointAuthSigningAlgValuesSupported, DefaultTokenAuthAlgs),
		RegistrationEndpoint:                       or(c.RegistrationEndpoint, e.Registration),
		ScopesSupported:                            orList(c.ScopesSupported, DefaultScopesSupported),
		ResponseTypesSupported:                     orList(c.ResponseTypesSupported, []string{"code"}),
		ManagementEndpoint:                         or(c.ManagementEndpoint, e.Management),
		IntrospectionEndpoint:                      or(c.IntrospectionEndpoint, e.Introspection),
		RevocationEndpoint:                         or(c.RevocationEndpoint, e.Revocation),
		UserinfoEndpoint:                           or(c.UserinfoEndpoint, e.UserInfo),
		Capabilities:                               orList(c.Capabilities, DefaultCapabilities),
		CodeChallengeMethodsSupported:              orList(c.CodeChallengeMethodsSupported, []string{"S256"}),
		UserAccessBrandBundle:                      c.UserAccessBrandBundle,
		UserAccessBrandIdentifier:                  c.UserAccessBrandIdentifier,
	}
	if !contains(sc.Capabilities, "sso-openid-connect") && c.Issuer == "" {
		sc.Issuer = "" // DISC-06: issuer only with sso-openid-connect
	}
	return sc
}

// handleSmartConfig serves GET {base}/.well-known/smart-configuration for
// /fhir and every valid /sim/{scenario}/fhir (DISC-01…15).
func (s *Server) handleSmartConfig(w http.ResponseWriter, r *http.Request) {
	b := smart.FHIRBase{Origin: s.base, Scenario: r.PathValue("scenario")}
	launchID := ""
	if b.Scenario != "" {
		l, err := s.openScenario(r.Context(), b.Scenario)
		if err != nil {
			apierr.WriteJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": "unknown or expired scenario"})
			return
		}
		launchID = l.ID
	}
	if b.Scenario == "" {
		// The plain base's document never changes: encoded once, and its
		// two headers set with one allocation (Header.Set makes one each).
		vals := make([]string, 2)
		vals[0], vals[1] = "no-cache", "application/json"
		h := w.Header()
		h["Cache-Control"], h["Content-Type"] = vals[0:1:1], vals[1:2:2]
		w.Write(s.plainSmartConfig())
	} else {
		w.Header().Set("Cache-Control", "no-cache")
		apierr.WriteJSON(w, http.StatusOK, s.smartConfig(b))
	}
	s.recordDiscovery(r, http.StatusOK, "smart-configuration", launchID)
}

// Discovery patches zitadel's OIDC document to advertise only what works
// (docs/zitadel.md, discovery): no implicit, no jwt-bearer, no device
// flow, S256 only, our introspection and end_session, SMART scopes and algs.
func (ss *smartServer) Discovery(ctx context.Context, r *op.Request[struct{}]) (*op.Response, error) {
	resp, err := ss.LegacyServer.Discovery(ctx, r)
	if err != nil {
		return nil, err
	}
	d, ok := resp.Data.(*oidc.DiscoveryConfiguration)
	if !ok {
		return resp, nil
	}
	sc := ss.srv.smartConfig(smart.FHIRBase{Origin: ss.srv.base})
	d.AuthorizationEndpoint, d.TokenEndpoint = sc.AuthorizationEndpoint, sc.TokenEndpoint
	d.IntrospectionEndpoint = sc.IntrospectionEndpoint
	d.RevocationEndpoint = sc.RevocationEndpoint
	d.EndSessionEndpoint = ss.srv.endpoints.EndSession
	d.RegistrationEndpoint = sc.RegistrationEndpoint
	d.DeviceAuthorizationEndpoint = ""
	d.ResponseTypesSupported = []string{"code"}
	d.ResponseModesSupported = []string{"query"}
	d.GrantTypesSupported = nil
	for _, g := range sc.GrantTypesSupported {
		d.GrantTypesSupported = append(d.GrantTypesSupported, oidc.GrantType(g))
	}
	d.TokenEndpointAuthMethodsSupported = nil
	for _, m := range sc.TokenEndpointAuthMethodsSupported {
		d.TokenEndpointAuthMethodsSupported = append(d.TokenEndpointAuthMethodsSupported, oidc.AuthMethod(m))
	}
	d.TokenEndpointAuthSigningAlgValuesSupported = sc.TokenEndpointAuthSigningAlgValuesSupported
	d.RevocationEndpointAuthMethodsSupported = d.TokenEndpointAuthMethodsSupported
	d.RevocationEndpointAuthSigningAlgValuesSupported = sc.TokenEndpointAuthSigningAlgValuesSupported
	d.IntrospectionEndpointAuthMethodsSupported = []oidc.AuthMethod{"client_secret_basic", "client_secret_post", "private_key_jwt", "none"}
	d.IntrospectionEndpointAuthSigningAlgValuesSupported = sc.TokenEndpointAuthSigningAlgValuesSupported
	d.ScopesSupported = sc.ScopesSupported
	d.CodeChallengeMethodsSupported = []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256}
	d.IDTokenSigningAlgValuesSupported = []string{"RS256"}
	d.ClaimsSupported = append(d.ClaimsSupported, "fhirUser")
	d.RequestParameterSupported = false
	d.RequestObjectSigningAlgValuesSupported = nil
	return resp, nil
}
