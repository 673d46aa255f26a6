package smart

import "strings"

// FHIRBase is one FHIR base URL of the server: the plain Origin+"/fhir"
// (EHR launches' iss), or a scenario's Origin+"/sim/{scenario}/fhir"
// (standalone and backend launches). It is the one builder and parser of
// these URLs; everything else about a base (its URL, its endpoint set)
// derives from it.
type FHIRBase struct {
	Origin   string // public origin (and optional path prefix) without a trailing slash
	Scenario string // sealed scenario id; "" for the plain base
}

// URL is the absolute base URL, without a trailing slash.
func (b FHIRBase) URL() string {
	if b.Scenario == "" {
		return b.Origin + "/fhir"
	}
	return b.Origin + "/sim/" + b.Scenario + "/fhir"
}

// ParseFHIRBase reads u as a FHIR base of the server at origin, ignoring one
// trailing slash (aud matching ignores exactly one). ok is false for any
// other URL: another host, port or path.
func ParseFHIRBase(origin, u string) (b FHIRBase, ok bool) {
	origin = TrimSlash(origin)
	u = TrimSlash(u)
	if u == origin+"/fhir" {
		return FHIRBase{Origin: origin}, true
	}
	rest, found := strings.CutPrefix(u, origin+"/sim/")
	if !found {
		return FHIRBase{}, false
	}
	scenario, found := strings.CutSuffix(rest, "/fhir")
	if !found || scenario == "" || strings.Contains(scenario, "/") {
		return FHIRBase{}, false
	}
	return FHIRBase{Origin: origin, Scenario: scenario}, true
}

// Issuer is the OIDC issuer of the server at origin.
func Issuer(origin string) string { return TrimSlash(origin) + "/auth" }

// Endpoints is the endpoint set an app using this base is told about (SMART
// discovery and the CapabilityStatement's oauth-uris). They are the
// authorization server's, except that a scenario's token endpoint carries
// the scenario (Origin+"/sim/{scenario}/auth/token"): a SMART Backend
// Services client knows only its FHIR base and posts to the advertised
// token endpoint, and that is how its launch reaches the token request.
func (b FHIRBase) Endpoints() Endpoints {
	iss := Issuer(b.Origin)
	e := Endpoints{
		Issuer:        iss,
		Authorization: iss + "/authorize",
		Token:         iss + "/oauth/token",
		Introspection: iss + "/oauth/introspect",
		Revocation:    iss + "/revoke",
		Registration:  iss + "/register",
		Management:    iss + "/manage",
		UserInfo:      iss + "/userinfo",
		JWKS:          iss + "/keys",
		EndSession:    iss + "/end_session",
	}
	if b.Scenario != "" {
		e.Token = b.ScenarioTokenURL()
	}
	return e
}

// ScenarioTokenURL is the token endpoint that carries the scenario; "" for
// the plain base.
func (b FHIRBase) ScenarioTokenURL() string {
	if b.Scenario == "" {
		return ""
	}
	return b.Origin + "/sim/" + b.Scenario + "/auth/token"
}
