package scopes

import (
	"net/url"
	"strings"
)

// ParseError says why one scope string was refused. Error() reads
// "<scope>: <reason>" so it can go straight into an error_description.
type ParseError struct {
	Scope  string
	Reason string
}

func (e *ParseError) Error() string { return e.Scope + ": " + e.Reason }

func fail(s, reason string) (Scope, error) {
	return Scope{}, &ParseError{Scope: s, Reason: reason}
}

// identity holds the non-resource scopes that are one fixed word (SCP-04;
// scopes §identity, §refresh).
var identity = map[string]Kind{
	"launch":         KindLaunch,
	"openid":         KindOpenID,
	"fhirUser":       KindFHIRUser,
	"profile":        KindProfile,
	"offline_access": KindOfflineAccess,
	"online_access":  KindOnlineAccess,
}

// Parse reads one scope string. It accepts v2 resource scopes
// "(patient|user|system)/(Type|*).<in-order subset of cruds>[?p=v(&p=v)*]",
// v1 resource scopes "(patient|user|system)/(Type|*).(read|write|*)", and
// the launch and identity scopes of SCP-04. Anything else is an error whose
// text names the scope and the rule it breaks.
func Parse(s string) (Scope, error) {
	if s == "" {
		return fail(s, "empty scope")
	}
	// RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= 0x20 || c == '"' || c == '\\' || c >= 0x7f {
			return fail(s, "contains a character not allowed in a scope (RFC 6749 §3.3 allows visible ASCII except \" and \\)")
		}
	}
	if k, ok := identity[s]; ok {
		return Scope{Raw: s, Kind: k}, nil
	}
	if rest, ok := strings.CutPrefix(s, "launch/"); ok {
		return parseLaunchContext(s, rest)
	}
	ctx, rest, ok := strings.Cut(s, "/")
	if !ok {
		return fail(s, "unknown scope (not a SMART resource, launch or identity scope)")
	}
	switch Context(ctx) {
	case ContextPatient, ContextUser, ContextSystem:
	default:
		return fail(s, "unknown scope context "+quote(ctx)+" (want patient, user or system)")
	}
	return parseResource(s, Context(ctx), rest)
}

func parseResource(s string, ctx Context, rest string) (Scope, error) {
	typ, perm, ok := strings.Cut(rest, ".")
	if !ok {
		return fail(s, "resource scope needs .<permissions> after the resource type")
	}
	if !validType(typ) {
		return fail(s, "resource type "+quote(typ)+" must be * or a FHIR resource type (letters, starting with a capital)")
	}
	perm, query, hasQuery := strings.Cut(perm, "?")
	sc := Scope{Raw: s, Kind: KindResource, Context: ctx, ResourceType: typ}
	switch perm {
	case "read":
		sc.Perms, sc.V1 = PermR|PermS, true
	case "write":
		sc.Perms, sc.V1 = PermC|PermU|PermD, true
	case "*":
		sc.Perms, sc.V1 = PermAll, true
	default:
		p, ok := parseLetters(perm)
		if !ok {
			return fail(s, "permissions must be a non-empty in-order subset of cruds")
		}
		sc.Perms = p
	}
	if hasQuery {
		if sc.V1 {
			return fail(s, "granular ?parameters need v2 permissions (cruds letters), not v1 ."+perm)
		}
		params, reason := parseParams(query)
		if reason != "" {
			return fail(s, reason)
		}
		sc.Params = params
	}
	return sc, nil
}

// parseLetters accepts a non-empty, strictly in-order subset of "cruds";
// ".sr", ".rr" and ".dus" fail (SCP-03).
func parseLetters(p string) (Perms, bool) {
	if p == "" || len(p) > len(permLetters) {
		return 0, false
	}
	var perms Perms
	next := 0 // index in permLetters the following letter must be at or after
	for i := 0; i < len(p); i++ {
		j := strings.IndexByte(permLetters[next:], p[i])
		if j < 0 {
			return 0, false
		}
		next += j
		perms |= 1 << next
		next++
	}
	return perms, true
}

// validType accepts "*" or a FHIR resource type name: an ASCII capital
// followed by ASCII letters (FHIR R4 type names have no digits or marks).
func validType(t string) bool {
	if t == "*" {
		return true
	}
	if t == "" || t[0] < 'A' || t[0] > 'Z' {
		return false
	}
	for i := 1; i < len(t); i++ {
		c := t[i]
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') {
			return false
		}
	}
	return true
}

// parseParams reads "p=v(&p=v)*". Names are search-parameter names
// (letters, digits, _ - . and : for modifiers); values are percent-decoded
// and may hold | : / (token and URI values, SCP-06). It returns a reason
// when the query is malformed.
func parseParams(q string) ([]Param, string) {
	if q == "" {
		return nil, "granular scope has ? but no parameters"
	}
	parts := strings.Split(q, "&")
	params := make([]Param, 0, len(parts))
	for _, part := range parts {
		name, val, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, "granular parameter " + quote(part) + " must be name=value"
		}
		if !validParamName(name) {
			return nil, "granular parameter name " + quote(name) + " must be a FHIR search parameter name"
		}
		dec, err := url.PathUnescape(val)
		if err != nil {
			return nil, "granular parameter " + quote(name) + " has a bad percent-encoding in its value"
		}
		if dec == "" {
			return nil, "granular parameter " + quote(name) + " needs a value"
		}
		params = append(params, Param{Name: name, Value: dec})
	}
	return params, ""
}

func validParamName(n string) bool {
	for i := 0; i < len(n); i++ {
		c := n[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '_', c == '-', c == '.', c == ':':
		default:
			return false
		}
	}
	return true
}

// parseLaunchContext reads "launch/<lowercase type>[?role=<uri>]"
// (scopes §context-data; at most one role per scope).
func parseLaunchContext(s, rest string) (Scope, error) {
	typ, query, hasQuery := strings.Cut(rest, "?")
	if typ == "" {
		return fail(s, "launch context scope needs a type, e.g. launch/patient")
	}
	for i := 0; i < len(typ); i++ {
		if typ[i] < 'a' || typ[i] > 'z' {
			return fail(s, "launch context type "+quote(typ)+" must be a lowercase resource type, e.g. launch/patient")
		}
	}
	sc := Scope{Raw: s, Kind: KindLaunchContext, LaunchType: typ}
	if hasQuery {
		params, reason := parseParams(query)
		if reason != "" {
			return fail(s, reason)
		}
		if len(params) != 1 || params[0].Name != "role" {
			return fail(s, "launch context scope takes only one ?role=<uri> parameter")
		}
		sc.Role = params[0].Value
	}
	return sc, nil
}

// ParseList splits an OAuth scope parameter on runs of spaces, skipping
// empty items, and parses each item. Valid scopes come back in request
// order; each invalid item yields one error. Duplicates are kept (Grant
// drops them).
func ParseList(s string) (scopes []Scope, errs []error) {
	for item := range strings.SplitSeq(s, " ") {
		if item == "" {
			continue
		}
		sc, err := Parse(item)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		scopes = append(scopes, sc)
	}
	return scopes, errs
}

func quote(s string) string { return "\"" + s + "\"" }
