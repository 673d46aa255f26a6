package launcher

import (
	"bytes"
	"encoding/json"
	"net/url"
	"regexp"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Request is the body of POST /api/launches, field for field the launch API
// contract of docs/architecture.md. The zero value of every optional field
// means "use the default" (see doc.go).
type Request struct {
	LaunchType        string            `json:"launch_type"`
	Patient           string            `json:"patient,omitempty"`   // id, or comma-separated ids
	Encounter         string            `json:"encounter,omitempty"` // id | AUTO (default) | NONE
	Practitioner      string            `json:"practitioner,omitempty"`
	FHIRContext       []FHIRContextItem `json:"fhir_context,omitempty"`
	NeedPatientBanner *bool             `json:"need_patient_banner,omitempty"`
	SmartStyleURL     string            `json:"smart_style_url,omitempty"`
	Intent            string            `json:"intent,omitempty"`
	Tenant            string            `json:"tenant,omitempty"`
	SkipLogin         bool              `json:"skip_login,omitempty"`
	SkipConsent       bool              `json:"skip_consent,omitempty"`
	Client            Client            `json:"client,omitzero"`
	SimulateError     string            `json:"simulate_error,omitempty"`
	AppLaunchURL      string            `json:"app_launch_url,omitempty"`
	LaunchOnce        bool              `json:"launch_once,omitempty"`

	AccessTokenLifetime  int `json:"access_token_lifetime,omitempty"`  // seconds
	RefreshTokenLifetime int `json:"refresh_token_lifetime,omitempty"` // seconds
}

// Encounter selectors (docs/architecture.md, launch API contract).
const (
	EncounterAuto = "AUTO"
	EncounterNone = "NONE"
)

// DefaultClientID is the registered demo client (the built-in sample app)
// that an EHR launch without client.client_id launches.
const DefaultClientID = "sample-app"

// Bounds on lifetimes, in seconds: generous for QA, but a typo like an extra
// three zeros is refused rather than minted.
const (
	MaxAccessTokenLifetime  = 7 * 24 * 3600
	MaxRefreshTokenLifetime = 365 * 24 * 3600
)

// FieldError is a client mistake in a launch request. Field is the
// contract's JSON key, dotted for nested keys ("client.redirect_uris"). It
// is apierr.FieldError, the one validation error of the API and the pages.
type FieldError = apierr.FieldError

func fieldErr(field, format string, args ...any) *FieldError {
	return apierr.Fieldf(field, format, args...)
}

// fhirTypeRe is a FHIR resource type: an upper-case name. Ids are
// smart.ValidID, the one id rule.
var fhirTypeRe = regexp.MustCompile(`^[A-Z][A-Za-z]{1,63}$`)

// parseIDs splits the contract's comma-separated patient list.
func parseIDs(field, s string) ([]string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var ids []string
	seen := map[string]bool{}
	for i, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			return nil, fieldErr(field, "empty id at position %d of %q", i+1, s)
		}
		if !smart.ValidID(p) {
			return nil, fieldErr(field, "%q is not a FHIR id ([A-Za-z0-9-.], at most 64)", p)
		}
		if !seen[p] {
			seen[p] = true
			ids = append(ids, p)
		}
	}
	return ids, nil
}

// checkURL requires an absolute http(s) URL with a host.
func checkURL(field, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fieldErr(field, "%q is not an absolute http(s) URL", s)
	}
	return nil
}

// checkScope accepts space-separated RFC 6749 §3.3 scope-tokens (NQCHAR);
// the SMART grammar itself is judged where scopes are requested.
func checkScope(field, s string) error {
	for _, tok := range strings.Fields(s) {
		for i := 0; i < len(tok); i++ {
			c := tok[i]
			if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
				return fieldErr(field, "scope %q has a character not allowed in a scope token (RFC 6749 §3.3)", tok)
			}
		}
	}
	if strings.TrimSpace(s) != "" && strings.Join(strings.Fields(s), " ") != s {
		return fieldErr(field, "scopes are separated by single spaces")
	}
	return nil
}

// checkJWKS requires a JWK Set with public keys only: a "keys" array of
// objects each with a "kty", and no private members (RFC 7517 §5, RFC 7518 §6).
func checkJWKS(field string, raw json.RawMessage) error {
	var set struct {
		Keys []map[string]json.RawMessage `json:"keys"`
	}
	trimmed := bytes.TrimSpace(raw)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return fieldErr(field, "must be a JWK Set object {\"keys\":[...]}")
	}
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &probe); err != nil {
		return fieldErr(field, "not valid JSON: %v", err)
	}
	if k, ok := probe["keys"]; !ok || len(bytes.TrimSpace(k)) == 0 || bytes.TrimSpace(k)[0] != '[' {
		return fieldErr(field, "must have a \"keys\" array")
	}
	if err := json.Unmarshal(trimmed, &set); err != nil {
		return fieldErr(field, "every member of \"keys\" must be a JWK object")
	}
	if len(set.Keys) == 0 {
		return fieldErr(field, "\"keys\" is empty")
	}
	for i, k := range set.Keys {
		if _, ok := k["kty"]; !ok {
			return fieldErr(field, "key %d has no \"kty\"", i)
		}
		for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
			if _, ok := k[priv]; ok {
				return fieldErr(field, "key %d holds private key material (%q); give public keys only", i, priv)
			}
		}
	}
	return nil
}

// checkFHIRContextSyntax checks one SMART 2.2 fhirContext item's shape
// (app-launch §fhirContext; checklist TOK-11). Existence is checked by the
// caller against the Directory.
func checkFHIRContextSyntax(i int, it FHIRContextItem) error {
	n := 0
	if it.Reference != "" {
		n++
	}
	if it.Canonical != "" {
		n++
	}
	hasID := len(bytes.TrimSpace(it.Identifier)) > 0 && string(bytes.TrimSpace(it.Identifier)) != "null"
	if hasID {
		n++
	}
	if n != 1 {
		return fieldErr("fhir_context", "item %d must have exactly one of reference, canonical, identifier (has %d)", i, n)
	}
	if it.Type != "" && !fhirTypeRe.MatchString(it.Type) {
		return fieldErr("fhir_context.type", "item %d: %q is not a FHIR resource type", i, it.Type)
	}
	if it.Role != "" && it.Role != "launch" {
		if u, err := url.Parse(it.Role); err != nil || !u.IsAbs() {
			return fieldErr("fhir_context.role", "item %d: role %q must be an absolute URI or \"launch\"", i, it.Role)
		}
	}
	switch {
	case it.Reference != "":
		typ, id, ok := strings.Cut(it.Reference, "/")
		if !ok || !fhirTypeRe.MatchString(typ) || !smart.ValidID(id) {
			return fieldErr("fhir_context.reference", "item %d: %q is not a relative reference Type/id", i, it.Reference)
		}
		if it.Type != "" && it.Type != typ {
			return fieldErr("fhir_context.type", "item %d: type %q does not match reference %q", i, it.Type, it.Reference)
		}
		// Patient and Encounter have their own launch context members; in
		// fhirContext they need a role other than launch (TOK-11).
		if (typ == "Patient" || typ == "Encounter") && (it.Role == "" || it.Role == "launch") {
			return fieldErr("fhir_context.role", "item %d: a %s reference needs a role other than \"launch\" (use the patient/encounter fields for launch context)", i, typ)
		}
	case it.Canonical != "":
		base, _, _ := strings.Cut(it.Canonical, "|")
		if u, err := url.Parse(base); err != nil || !u.IsAbs() {
			return fieldErr("fhir_context.canonical", "item %d: %q is not an absolute canonical URL (optionally |version)", i, it.Canonical)
		}
	default:
		var ident map[string]json.RawMessage
		if err := json.Unmarshal(it.Identifier, &ident); err != nil {
			return fieldErr("fhir_context.identifier", "item %d: must be a FHIR Identifier object", i)
		}
		if _, ok := ident["value"]; !ok {
			return fieldErr("fhir_context.identifier", "item %d: identifier needs a \"value\"", i)
		}
	}
	return nil
}
