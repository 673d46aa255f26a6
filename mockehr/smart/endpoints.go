package smart

import "strings"

// Endpoints are the absolute public URLs of the authorization server. One
// value feeds the OIDC discovery document, every SMART discovery document
// and the CapabilityStatement's oauth-uris extension (checklist CS-05).
type Endpoints struct {
	Issuer        string
	Authorization string
	Token         string
	Introspection string
	Revocation    string
	Registration  string
	Management    string
	UserInfo      string
	JWKS          string
	EndSession    string
}

// TrimSlash removes one trailing slash: "aud" matching and FHIR base
// comparisons ignore exactly one (docs/architecture.md, launch API contract).
func TrimSlash(u string) string { return strings.TrimSuffix(u, "/") }
