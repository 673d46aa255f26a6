package fhirstore

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// Clause is one search parameter occurrence: its values are ORed; the
// clauses of a query are ANDed (FHIR R4 search §Composite/§AND-OR).
type Clause struct {
	Param    *ParamDef
	Modifier string // "", not, exact, contains, missing, or a reference target type
	Values   []Value
}

// Value is one parsed search value.
type Value struct {
	Prefix  string // date prefix
	Sys     string // token system
	HasSys  bool   // token value had a "|" (system given, possibly empty)
	Code    string // token code, string value (lowercased), or reference ("Type/id" or bare id)
	Rng     Range
	Missing bool // :missing=true
}

// Include is one _include / _revinclude directive: Source:Param[:Target].
type Include struct {
	Source *TypeDef
	Param  *ParamDef
	Target string
}

// SortKey orders results; Param is a date param name, _lastUpdated or _id.
type SortKey struct {
	Param string
	Desc  bool
}

// Query is a parsed search.
type Query struct {
	Type    *TypeDef
	Clauses []Clause
	// Restrict, when true, requires a resource to match at least one group
	// of Any (granular scope filters: OR across scopes, AND within one).
	Restrict bool
	Any      [][]Clause
	// Compartment, when set, limits results to that patient's compartment
	// (patient/ scopes, SMART App Launch scopes §patient-specific).
	Compartment string
	Sort        []SortKey
	Count       int // -1 when not given
	Offset      int
	Include     []Include
	RevInclude  []Include
	Summary     string   // "" or "count"
	Elements    []string // _elements
	// Ignored lists parameters dropped under lenient handling, each with
	// the reason.
	Ignored []string
	// Canonical is the query string of the kept parameters (without _count
	// and _offset), used to build paging links.
	Canonical url.Values
}

// MaxCount bounds _count.
const MaxCount = 1000

// ParseQuery parses search parameters for typ. With lenient set (Prefer:
// handling=lenient), unknown or unsupported parameters are dropped and
// listed in Ignored instead of failing (FHIR R4 search §Handling errors).
func ParseQuery(typ string, params url.Values, lenient bool) (*Query, error) {
	td := types[typ]
	if td == nil {
		return nil, invalidf("resource type %q is not supported", typ)
	}
	q := &Query{Type: td, Count: -1, Canonical: url.Values{}}
	names := make([]string, 0, len(params))
	for k := range params {
		names = append(names, k)
	}
	sort.Strings(names) // deterministic errors and links
	for _, name := range names {
		for _, raw := range params[name] {
			err := q.add(name, raw)
			if err == nil {
				if name != "_count" && name != "_offset" && name != "_format" {
					q.Canonical.Add(name, raw)
				}
				continue
			}
			if !lenient {
				return nil, err
			}
			q.Ignored = append(q.Ignored, err.Error())
		}
	}
	return q, nil
}

func (q *Query) add(name, raw string) error {
	switch name {
	case "_count":
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return invalidf("_count=%q: must be a non-negative integer", raw)
		}
		q.Count = min(n, MaxCount)
	case "_offset":
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 {
			return invalidf("_offset=%q: must be a non-negative integer", raw)
		}
		q.Offset = n
	case "_sort":
		for _, s := range strings.Split(raw, ",") {
			k := SortKey{Param: s}
			if strings.HasPrefix(s, "-") {
				k = SortKey{Param: s[1:], Desc: true}
			}
			if k.Param == "date" && q.Type.DateParam != "" {
				k.Param = q.Type.DateParam
			}
			p := q.Type.Params[k.Param]
			if p == nil || (p.Kind != KindDate && p.special != specialID) {
				return invalidf("_sort=%q: %s can sort on _id, _lastUpdated%s", raw, q.Type.Name, dateParamsList(q.Type))
			}
			q.Sort = append(q.Sort, k)
		}
	case "_include", "_revinclude":
		inc, err := parseInclude(q.Type, name, raw)
		if err != nil {
			return err
		}
		if name == "_include" {
			q.Include = append(q.Include, inc)
		} else {
			q.RevInclude = append(q.RevInclude, inc)
		}
	case "_summary":
		switch raw {
		case "count":
			q.Summary = "count"
		case "false":
		default:
			return invalidf("_summary=%q: only count and false are supported", raw)
		}
	case "_elements":
		for _, e := range strings.Split(raw, ",") {
			if e = strings.TrimSpace(e); e != "" {
				q.Elements = append(q.Elements, e)
			}
		}
	case "_total":
		if raw != "none" && raw != "estimate" && raw != "accurate" {
			return invalidf("_total=%q: must be none, estimate or accurate", raw)
		}
	case "_format", "_pretty":
		// content negotiation is the HTTP layer's; _pretty is cosmetic.
	default:
		c, err := ParseClause(q.Type, name, raw)
		if err != nil {
			return err
		}
		q.Clauses = append(q.Clauses, c)
	}
	return nil
}

func dateParamsList(td *TypeDef) string {
	var b strings.Builder
	for _, p := range td.SortedParams() {
		if p.Kind == KindDate && p.special == specialNone {
			b.WriteString(", " + p.Name)
		}
	}
	if td.DateParam != "" {
		b.WriteString(" (date = " + td.DateParam + ")")
	}
	return b.String()
}

func parseInclude(td *TypeDef, name, raw string) (Include, error) {
	parts := strings.Split(raw, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return Include{}, invalidf("%s=%q: expected SourceType:param[:TargetType]", name, raw)
	}
	src := types[parts[0]]
	if src == nil {
		return Include{}, invalidf("%s=%q: unknown source type %q", name, raw, parts[0])
	}
	if name == "_include" && src != td {
		return Include{}, invalidf("_include=%q: source type must be %s", raw, td.Name)
	}
	p := src.Params[parts[1]]
	ok := false
	for _, i := range src.Includes {
		ok = ok || i == parts[1]
	}
	if p == nil || !ok {
		return Include{}, invalidf("%s=%q: %s supports %s on %s", name, raw, src.Name, name, strings.Join(src.Includes, ", "))
	}
	inc := Include{Source: src, Param: p}
	if len(parts) == 3 {
		if types[parts[2]] == nil {
			return Include{}, invalidf("%s=%q: unknown target type %q", name, raw, parts[2])
		}
		inc.Target = parts[2]
	}
	return inc, nil
}

// ParseClause parses one search parameter name[:modifier]=value for td.
func ParseClause(td *TypeDef, name, raw string) (Clause, error) {
	base, mod, _ := strings.Cut(name, ":")
	if strings.Contains(base, ".") {
		return Clause{}, invalidf("%s: chained parameters are not supported", name)
	}
	p := td.Params[base]
	if p == nil {
		return Clause{}, invalidf("%s: unknown search parameter for %s (supported: %s)", base, td.Name, paramNames(td))
	}
	c := Clause{Param: p, Modifier: mod}
	switch {
	case mod == "" || mod == "missing":
	case mod == "not" && p.Kind == KindToken:
	case (mod == "exact" || mod == "contains") && p.Kind == KindString:
	case p.Kind == KindReference && types[mod] != nil:
	default:
		return Clause{}, invalidf("%s: modifier %q is not supported on %s parameter %s", name, mod, p.Kind, base)
	}
	if mod == "missing" {
		if raw != "true" && raw != "false" {
			return Clause{}, invalidf("%s=%q: must be true or false", name, raw)
		}
		c.Values = []Value{{Missing: raw == "true"}}
		return c, nil
	}
	for _, s := range splitEscaped(raw, ',') {
		v, err := parseValue(p, mod, s)
		if err != nil {
			return Clause{}, invalidf("%s=%q: %v", name, raw, err)
		}
		c.Values = append(c.Values, v)
	}
	if len(c.Values) == 0 {
		return Clause{}, invalidf("%s: empty value", name)
	}
	return c, nil
}

func paramNames(td *TypeDef) string {
	var names []string
	for _, p := range td.SortedParams() {
		names = append(names, p.Name)
	}
	return strings.Join(names, ", ")
}

type valueError string

func (e valueError) Error() string { return string(e) }

func parseValue(p *ParamDef, mod, s string) (Value, error) {
	var v Value
	switch p.Kind {
	case KindToken:
		parts := splitEscaped(s, '|')
		switch len(parts) {
		case 1:
			v.Code = unescape(parts[0])
		case 2:
			v.HasSys, v.Sys, v.Code = true, unescape(parts[0]), unescape(parts[1])
			if v.Sys == "" && v.Code == "" {
				return v, valueError("token value | needs a system or a code")
			}
		default:
			return v, valueError("token value has more than one |")
		}
		if v.Code == "" && !v.HasSys {
			return v, valueError("empty token value")
		}
	case KindString:
		v.Code = strings.ToLower(unescape(s))
		if v.Code == "" {
			return v, valueError("empty string value")
		}
	case KindDate:
		if len(s) >= 2 && s[0] >= 'a' && s[0] <= 'z' {
			v.Prefix, s = s[:2], s[2:]
			switch v.Prefix {
			case "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb":
			default:
				return v, valueError("unknown date prefix " + strconv.Quote(v.Prefix))
			}
		}
		rg, err := ParseDate(s)
		if err != nil {
			return v, err
		}
		v.Rng = rg
	case KindReference:
		s = unescape(s)
		if p.special == specialNone && strings.Contains(s, "/") {
			key := NormalizeReference(s)
			if key == "" {
				return v, valueError("not a reference to a supported type: " + strconv.Quote(s))
			}
			s = key
		} else if !validID(s) {
			return v, valueError("not a valid id: " + strconv.Quote(s))
		} else if mod != "" {
			s = mod + "/" + s
		} else if len(p.Targets) == 1 {
			s = p.Targets[0] + "/" + s
		}
		v.Code = s
	}
	if p.special == specialID && !validID(v.Code) {
		return v, valueError("not a valid id")
	}
	return v, nil
}

// splitEscaped splits on sep not preceded by a backslash (FHIR R4 search
// §Escaping); the parts keep their escapes.
func splitEscaped(s string, sep byte) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' {
			i++
			continue
		}
		if s[i] == sep {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Match reports whether r satisfies every clause and, when Restrict is
// set, at least one group of Any.
func (q *Query) Match(r *Resource) bool {
	if r.Deleted || r.Type != q.Type.Name {
		return false
	}
	if q.Compartment != "" && r.Patient != q.Compartment {
		return false
	}
	if !MatchAll(q.Clauses, r) {
		return false
	}
	if !q.Restrict {
		return true
	}
	for _, g := range q.Any {
		if MatchAll(g, r) {
			return true
		}
	}
	return false
}

// MatchAll reports whether r satisfies every clause.
func MatchAll(cs []Clause, r *Resource) bool {
	for i := range cs {
		if !cs[i].Match(r) {
			return false
		}
	}
	return true
}

// Match reports whether r satisfies the clause (one of its values).
func (c *Clause) Match(r *Resource) bool {
	p := c.Param
	switch p.special {
	case specialID:
		for _, v := range c.Values {
			if v.Code == r.ID {
				return c.Modifier != "not"
			}
		}
		return c.Modifier == "not"
	case specialLastUpdated:
		t := r.LastUpdated.UnixNano()
		for _, v := range c.Values {
			if matchDate(v.Prefix, Range{t, t + 1}, v.Rng) {
				return true
			}
		}
		return false
	}
	pi, ok := r.pi(p.Name)
	if !ok || r.td.plist[pi] != p {
		return c.Modifier == "not" || (c.Modifier == "missing" && c.Values[0].Missing)
	}
	if c.Modifier == "missing" {
		has := false
		for i := range r.entries {
			has = has || r.entries[i].pi == pi
		}
		return has != c.Values[0].Missing
	}
	if c.Modifier == "not" {
		for i := range c.Values {
			if c.matchValue(r, pi, &c.Values[i]) {
				return false
			}
		}
		return true
	}
	for i := range c.Values {
		if c.matchValue(r, pi, &c.Values[i]) {
			return true
		}
	}
	return false
}

func (c *Clause) matchValue(r *Resource, pi uint8, v *Value) bool {
	for i := range r.entries {
		e := &r.entries[i]
		if e.pi != pi {
			continue
		}
		val := r.val(e)
		switch c.Param.Kind {
		case KindToken:
			if (v.Code == "" || val == v.Code) && (!v.HasSys || r.sys(e) == v.Sys) {
				return true
			}
		case KindString:
			switch c.Modifier {
			case "exact":
				if val == v.Code {
					return true
				}
			case "contains":
				if strings.Contains(val, v.Code) {
					return true
				}
			default:
				if strings.HasPrefix(val, v.Code) {
					return true
				}
			}
		case KindDate:
			if matchDate(v.Prefix, e.rng, v.Rng) {
				return true
			}
		case KindReference:
			if val == v.Code || (!strings.Contains(v.Code, "/") && strings.HasSuffix(val, "/"+v.Code)) {
				return true
			}
		}
	}
	return false
}
