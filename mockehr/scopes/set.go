package scopes

import "slices"

// Decision is the answer to "may this token do interaction X on type T".
//
// Filters is shared by every caller of Decide on the same Set: read it,
// never modify it.
type Decision struct {
	Allowed bool
	// PatientOnly is true when only patient/ scopes grant this: the caller
	// must restrict results to the launch patient's compartment (RS-04).
	// Any user/ or system/ scope that grants it makes this false.
	PatientOnly bool
	// Filters is nil when an unfiltered scope grants; otherwise a resource
	// passes when it matches at least one entry, and matches an entry when
	// it matches every Param in it (OR over entries, AND within; RS-09).
	// Entries from exact-type scopes come before those from "*" scopes,
	// fewer parameters first; an entry implied by another is dropped.
	Filters [][]Param
}

// Set is a granted scope list indexed for fast decisions. Build it once per
// token (NewSet) and call Decide on every request; it is safe for
// concurrent use because it is never modified after NewSet.
type Set struct {
	scopes []Scope
	kinds  uint32                  // bit i set when a scope of Kind i is present
	types  map[string]*[5]Decision // exact types, already merged with "*"
	wild   [5]Decision             // types named by no scope: "*" scopes only
}

// NewSet indexes scopes. Resource scopes drive Decide; the others are only
// recorded for Has and HasLaunchContext.
func NewSet(scopes []Scope) *Set {
	s := &Set{scopes: slices.Clone(scopes), types: map[string]*[5]Decision{}}
	acc := map[string]*[2][5]grantAcc{}
	for _, sc := range scopes {
		if sc.Kind <= KindUnknown || int(sc.Kind) >= len(kindNames) {
			continue
		}
		s.kinds |= 1 << sc.Kind
		if sc.Kind != KindResource || sc.ResourceType == "" {
			continue
		}
		cls := 1 // user/ and system/ both lift the compartment restriction
		if sc.Context == ContextPatient {
			cls = 0
		} else if sc.Context != ContextUser && sc.Context != ContextSystem {
			continue
		}
		a := acc[sc.ResourceType]
		if a == nil {
			a = new([2][5]grantAcc)
			acc[sc.ResourceType] = a
		}
		for i := range 5 {
			if sc.Perms&(1<<i) != 0 {
				a[cls][i].add(sc.Params)
			}
		}
	}
	var none [2][5]grantAcc
	w := acc["*"]
	if w == nil {
		w = &none
	}
	for i := range 5 {
		s.wild[i] = decide(w[0][i], w[1][i])
	}
	for typ, a := range acc {
		if typ == "*" {
			continue
		}
		d := new([5]Decision)
		for i := range 5 {
			d[i] = decide(a[0][i].merge(w[0][i]), a[1][i].merge(w[1][i]))
		}
		s.types[typ] = d
	}
	return s
}

// grantAcc gathers, for one (type, context class, letter), whether any
// scope grants it and with which parameter sets.
type grantAcc struct {
	granted, unfiltered bool
	filters             [][]Param
}

func (g *grantAcc) add(params []Param) {
	g.granted = true
	if len(params) == 0 {
		g.unfiltered = true
		return
	}
	g.filters = append(g.filters, params)
}

func (g grantAcc) merge(o grantAcc) grantAcc {
	return grantAcc{
		granted:    g.granted || o.granted,
		unfiltered: g.unfiltered || o.unfiltered,
		filters:    append(slices.Clip(g.filters), o.filters...),
	}
}

// decide turns the patient/ and user|system/ grants into one Decision.
// When user/ or system/ grants at all, only its filters are used: patient/
// filters apply inside the compartment only, so adding them without
// PatientOnly would widen access. That can narrow a mixed grant (filtered
// user/ plus unfiltered patient/), never widen it.
func decide(patient, other grantAcc) Decision {
	switch {
	case other.granted:
		return Decision{Allowed: true, Filters: filtersOf(other)}
	case patient.granted:
		return Decision{Allowed: true, PatientOnly: true, Filters: filtersOf(patient)}
	}
	return Decision{}
}

// filtersOf returns nil when an unfiltered scope grants (RS-09: a
// resource-level scope widens to everything), else the parameter sets with
// duplicates and redundant entries removed (A OR (A AND B) is A).
func filtersOf(g grantAcc) [][]Param {
	if g.unfiltered {
		return nil
	}
	in := slices.Clone(g.filters)
	slices.SortStableFunc(in, func(a, b []Param) int { return len(a) - len(b) })
	var out [][]Param
	for _, f := range in {
		if !slices.ContainsFunc(out, func(k []Param) bool { return paramsSubset(k, f) }) {
			out = append(out, f)
		}
	}
	return out
}

func interactionIndex(in Interaction) int {
	switch in {
	case Create:
		return 0
	case Read:
		return 1
	case Update:
		return 2
	case Delete:
		return 3
	case Search:
		return 4
	}
	return -1
}

// Decide answers whether the set grants interaction in on resourceType,
// using both the exact-type and the "*" scopes. An unknown interaction, an
// empty type or a nil Set is denied. It does not allocate.
func (s *Set) Decide(resourceType string, in Interaction) Decision {
	i := interactionIndex(in)
	if s == nil || i < 0 || resourceType == "" {
		return Decision{}
	}
	if d, ok := s.types[resourceType]; ok {
		return d[i]
	}
	return s.wild[i]
}

// Has reports whether a scope of the given kind was granted, e.g.
// KindOpenID, KindFHIRUser, KindOfflineAccess, KindLaunch.
func (s *Set) Has(kind Kind) bool {
	if s == nil || kind <= KindUnknown || int(kind) >= len(kindNames) {
		return false
	}
	return s.kinds&(1<<kind) != 0
}

// HasLaunchContext reports whether launch/<typ> was granted (any role),
// e.g. HasLaunchContext("patient") for launch/patient.
func (s *Set) HasLaunchContext(typ string) bool {
	if s == nil {
		return false
	}
	for _, sc := range s.scopes {
		if sc.Kind == KindLaunchContext && sc.LaunchType == typ {
			return true
		}
	}
	return false
}

// Scopes returns a copy of the scopes the set was built from.
func (s *Set) Scopes() []Scope {
	if s == nil {
		return nil
	}
	return slices.Clone(s.scopes)
}

// Matches applies a Decision's Filters to one resource: match reports
// whether the resource satisfies one Param (the FHIR server knows how to
// evaluate a search parameter). Nil filters match everything; otherwise the
// resource must satisfy every Param of at least one entry (RS-09).
func Matches(filters [][]Param, match func(Param) bool) bool {
	if filters == nil {
		return true
	}
	for _, entry := range filters {
		ok := true
		for _, p := range entry {
			if !match(p) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
