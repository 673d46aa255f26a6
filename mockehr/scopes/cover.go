package scopes

// Covers reports whether a client allowed the scope allowed may be granted
// requested (docs/architecture.md, launch API contract, client.scope):
//   - resource scopes: same context (user/ never covers patient/ nor the
//     reverse), allowed type is "*" or the same type, requested letters are
//     a subset of allowed letters (v1 compared by its v2 letters), and every
//     parameter of allowed appears in requested, so an unrestricted scope
//     covers a granular one but a granular one covers only requests at
//     least as narrow;
//   - launch/<type>: same type, and the same role unless allowed has none;
//   - other non-resource scopes: the same kind.
//
// A zero or otherwise invalid Scope is never covered and covers nothing.
func Covers(allowed, requested Scope) bool {
	if allowed.Kind != requested.Kind || allowed.Kind == KindUnknown {
		return false
	}
	switch allowed.Kind {
	case KindResource:
		if allowed.Context != requested.Context || requested.Context == "" {
			return false
		}
		if allowed.ResourceType != "*" && allowed.ResourceType != requested.ResourceType {
			return false
		}
		if requested.Perms == 0 || requested.Perms&^allowed.Perms != 0 {
			return false
		}
		return paramsSubset(allowed.Params, requested.Params)
	case KindLaunchContext:
		return allowed.LaunchType == requested.LaunchType &&
			(allowed.Role == "" || allowed.Role == requested.Role)
	}
	return true
}

// paramsSubset reports whether every (name, value) in sub is in super.
func paramsSubset(sub, super []Param) bool {
	for _, p := range sub {
		found := false
		for _, q := range super {
			if p == q {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Grant splits requested into the scopes the client may have and those it
// may not, both in request order. An empty allowed list means any valid
// scope. A scope repeated in the request (same Raw) is listed once; an
// invalid zero Scope is refused. Granted scopes are the requested values
// themselves, so a v1 or granular string is reported back exactly as asked
// and never widened to the allowed scope (SCP-02, SCP-06).
func Grant(requested []Scope, allowed []Scope) (granted []Scope, refused []Scope) {
	seen := make(map[string]bool, len(requested))
	for _, r := range requested {
		if r.Kind == KindUnknown || r.Raw == "" {
			refused = append(refused, r)
			continue
		}
		if seen[r.Raw] {
			continue
		}
		seen[r.Raw] = true
		ok := len(allowed) == 0
		for _, a := range allowed {
			if Covers(a, r) {
				ok = true
				break
			}
		}
		if !ok {
			refused = append(refused, r)
			continue
		}
		granted = append(granted, r)
	}
	return granted, refused
}
