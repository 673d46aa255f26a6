package fhirstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Resource is one immutable version of a stored resource.
type Resource struct {
	Type        string
	ID          string
	Version     int
	LastUpdated time.Time
	Deleted     bool
	// Raw is the resource JSON served to clients (meta.versionId and
	// meta.lastUpdated set); nil for a deletion.
	Raw []byte
	// ETag is `W/"<version>"`, precomputed for the hot read path.
	ETag string
	// LastModified is LastUpdated in HTTP date format.
	LastModified string
	// Patient is the id of the patient whose compartment holds this
	// resource ("" for none); for a Patient, its own id.
	Patient string

	seq     int64  // slot in the memory tier (0 for an imported resource)
	ord     int64  // the default sort order (see importedOrdBase)
	bseq    uint32 // seq in the imported tier (0 for the memory tier)
	td      *TypeDef
	entries []entry // search index values, pointer-free
	text    string  // the entries' strings, concatenated
	sortKey int64   // value of the type's date param (Lo), for _sort=date
	display string  // code text, for directory summaries

	encSummary atomic.Pointer[smart.EncounterSummary] // memoised Directory summary (Encounters only)
	fixture    bool                                   // loaded from fixtures: finish may splice meta in
	persisted  bool                                   // a version in the backend: History reads it from there
	doc        map[string]any
	body       []byte // the JSON doc was decoded from, until finish
}

// entry is one indexed search value of a resource. It holds no pointers:
// its strings are spans of Resource.text, its param an index into the
// type's plist, so the garbage collector never scans the index entries.
type entry struct {
	pi             uint8
	sysOff, sysLen uint32 // token system
	valOff, valLen uint32 // token code / lowercased string / "Type/id" reference
	rng            Range  // date
}

func (r *Resource) param(e *entry) *ParamDef { return r.td.plist[e.pi] }
func (r *Resource) val(e *entry) string      { return r.text[e.valOff : e.valOff+e.valLen] }
func (r *Resource) sys(e *entry) string      { return r.text[e.sysOff : e.sysOff+e.sysLen] }

// pi returns the entry index of param name in r's type (false if none).
func (r *Resource) pi(name string) (uint8, bool) {
	i, ok := r.td.pidx[name]
	return i, ok
}

// Key is "Type/id".
func (r *Resource) Key() string { return r.Type + "/" + r.ID }

// InvalidError is a client mistake in a resource or query (HTTP 400).
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return e.Msg }

func invalidf(format string, a ...any) error { return &InvalidError{Msg: fmt.Sprintf(format, a...)} }

// Parse decodes a resource body for type typ (checking resourceType) and
// indexes it, without storing it, so the caller can check access on the
// resource a write would produce.
func Parse(typ string, body []byte) (*Resource, error) {
	td := types[typ]
	if td == nil {
		return nil, invalidf("resource type %q is not supported", typ)
	}
	doc, ok := decodeObject(body)
	if !ok {
		// The fast decoder refuses anything unusual; encoding/json decides
		// (and words the error).
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			return nil, invalidf("body is not a JSON object: %v", err)
		}
		if dec.More() {
			return nil, invalidf("body has data after the JSON object")
		}
	}
	rt, _ := doc["resourceType"].(string)
	if rt != typ {
		return nil, invalidf("resourceType is %q, expected %q", rt, typ)
	}
	r := &Resource{Type: typ, doc: doc, td: td, body: body}
	if id, ok := doc["id"]; ok {
		s, _ := id.(string)
		if !validID(s) {
			return nil, invalidf("id %v is not a valid FHIR id ([A-Za-z0-9.-]{1,64})", id)
		}
		r.ID = s
	}
	return r, nil
}

// parseSelected is Parse for import: it decodes only what indexing reads
// (TypeDef.topKeys); ok=false sends the caller to Parse.
func parseSelected(typ string, body []byte) (*Resource, bool) {
	td := types[typ]
	if td == nil {
		return nil, false
	}
	doc, ok := decodeSelected(body, td.topKeys)
	if !ok {
		return nil, false
	}
	if rt, _ := doc["resourceType"].(string); rt != typ {
		return nil, false
	}
	r := &Resource{Type: typ, doc: doc, td: td, body: body}
	if id, ok := doc["id"]; ok {
		s, _ := id.(string)
		if !validID(s) {
			return nil, false
		}
		r.ID = s
	}
	return r, true
}

func validID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// finish sets id and meta, encodes Raw and computes the index entries.
// lookupPatient resolves another resource's compartment (for Provenance
// targets); it may be nil.
func (r *Resource) finish(lookupPatient func(key string) string) error {
	meta, _ := r.doc["meta"].(map[string]any)
	_, hadMeta := r.doc["meta"]
	if meta == nil {
		meta = map[string]any{}
	}
	meta["versionId"] = strconv.Itoa(r.Version)
	meta["lastUpdated"] = r.LastUpdated.UTC().Format(time.RFC3339Nano)
	raw, ok := spliceVersion(r.body, r.ID, meta)
	if !ok && !hadMeta && r.fixture {
		raw, ok = spliceMeta(r.body, r.ID, meta)
	}
	var err error
	if !ok {
		raw, err = encodeResource(r.body, r.ID, meta)
	}
	if err != nil {
		return invalidf("resource cannot be encoded: %v", err)
	}
	r.Raw = raw
	r.ETag = `W/"` + strconv.Itoa(r.Version) + `"`
	r.LastModified = r.LastUpdated.UTC().Format(httpTime)
	r.index(lookupPatient)
	r.doc, r.body = nil, nil
	return nil
}

const httpTime = "Mon, 02 Jan 2006 15:04:05 GMT"

// spliceVersion is encodeResource's fast path for fixture bytes already
// shaped {"resourceType":…,"id":"<id>","meta":{"lastUpdated":"<same>"…:
// it only inserts "versionId" into meta, so loading thousands of fixtures
// does not re-encode them.
func spliceVersion(body []byte, id string, meta map[string]any) ([]byte, bool) {
	if len(meta) != 2 || meta["versionId"] != "1" {
		return nil, false
	}
	lu, _ := meta["lastUpdated"].(string)
	rest, ok := bytes.CutPrefix(body, []byte(`{"resourceType":"`))
	if !ok {
		return nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return nil, false
	}
	head := len(body) - len(rest) + i + 1
	idPart := []byte(`,"id":"` + id + `","meta":{"lastUpdated":"` + lu + `"`)
	if !bytes.HasPrefix(body[head:], idPart) || !validID(id) {
		return nil, false
	}
	at := head + len(idPart)
	if at >= len(body) || (body[at] != '}' && body[at] != ',') || bytes.Contains(body[at:min(len(body), at+200)], []byte(`"versionId"`)) {
		return nil, false
	}
	out := make([]byte, 0, len(body)+20)
	out = append(out, body[:head]...)
	out = append(out, `,"id":"`+id+`","meta":{"versionId":"1","lastUpdated":"`+lu+`"`...)
	return append(out, body[at:]...), true
}

// spliceMeta is spliceVersion for fixture bytes without meta (Synthea's),
// {"resourceType":…,"id":"<id>",…: it inserts meta after the id.
func spliceMeta(body []byte, id string, meta map[string]any) ([]byte, bool) {
	lu, _ := meta["lastUpdated"].(string)
	if len(meta) != 2 || meta["versionId"] != "1" || lu == "" {
		return nil, false
	}
	rest, ok := bytes.CutPrefix(body, []byte(`{"resourceType":"`))
	if !ok {
		return nil, false
	}
	i := bytes.IndexByte(rest, '"')
	if i < 0 {
		return nil, false
	}
	head := len(body) - len(rest) + i + 1
	idPart := `,"id":"` + id + `"`
	if !bytes.HasPrefix(body[head:], []byte(idPart)) || !validID(id) {
		return nil, false
	}
	at := head + len(idPart)
	if at >= len(body) || (body[at] != '}' && body[at] != ',') {
		return nil, false
	}
	out := make([]byte, 0, len(body)+64)
	out = append(out, body[:at]...)
	out = append(out, `,"meta":{"versionId":"1","lastUpdated":"`+lu+`"}`...)
	return append(out, body[at:]...), true
}

// encodeResource re-encodes body with id and meta replaced, writing
// resourceType, id and meta first (as FHIR examples do) and the other
// elements in key order. It splices the elements' bytes instead of
// re-marshalling the decoded tree, which keeps loading fast.
func encodeResource(body []byte, id string, meta map[string]any) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	idb, _ := json.Marshal(id)
	mb, err := json.Marshal(meta)
	if err != nil {
		return nil, err
	}
	top["id"], top["meta"] = idb, mb
	keys := make([]string, 0, len(top))
	for k := range top {
		if k != "resourceType" && k != "id" && k != "meta" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	keys = append([]string{"resourceType", "id", "meta"}, keys...)
	var b bytes.Buffer
	b.Grow(len(body) + 64)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.Write(top[k])
	}
	b.WriteByte('}')
	var out bytes.Buffer
	out.Grow(b.Len())
	if err := json.Compact(&out, b.Bytes()); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// index computes the search entries, compartment and sort key.
func (r *Resource) index(lookupPatient func(string) string) {
	td := r.td
	r.entries = nil
	var text strings.Builder
	for i, p := range td.plist {
		add := func(v any) { r.addValue(uint8(i), p, v, &text) }
		for _, segs := range p.segs {
			walk(r.doc, segs, add)
		}
	}
	r.text = text.String()
	r.sortKey = r.minDate(td.DateParam)
	switch {
	case r.Type == "Patient":
		r.Patient = r.ID
	case td.Compartment:
		r.Patient = ""
		for _, ref := range r.References("patient") {
			if strings.HasPrefix(ref, "Patient/") {
				r.Patient = ref[len("Patient/"):]
				break
			}
		}
		r.resolveTargets(lookupPatient)
	}
	for _, k := range displayKeys {
		if cc, ok := r.doc[k].(map[string]any); ok {
			if r.display = conceptText(cc); r.display != "" {
				break
			}
		}
	}
}

// displayKeys are the elements a resource's display text comes from, in
// order of preference.
var displayKeys = []string{"code", "medicationCodeableConcept", "vaccineCode", "type"}

// resolveTargets puts a Provenance without a Patient target into the
// compartment of the first target that has one.
func (r *Resource) resolveTargets(lookupPatient func(string) string) {
	if r.Patient != "" || r.Type != "Provenance" || lookupPatient == nil {
		return
	}
	for _, ref := range r.References("target") {
		if p := lookupPatient(ref); p != "" {
			r.Patient = p
			return
		}
	}
}

// conceptText is a CodeableConcept's text, else its first coding display.
func conceptText(cc map[string]any) string {
	if t, _ := cc["text"].(string); t != "" {
		return t
	}
	codings, _ := cc["coding"].([]any)
	for _, c := range codings {
		if m, ok := c.(map[string]any); ok {
			if d, _ := m["display"].(string); d != "" {
				return d
			}
		}
	}
	return ""
}

// walk calls fn on every value at path under v, flattening arrays.
func walk(v any, path []string, fn func(any)) {
	switch t := v.(type) {
	case []any:
		for _, e := range t {
			walk(e, path, fn)
		}
	case map[string]any:
		if len(path) == 0 {
			fn(t)
			return
		}
		if next, ok := t[path[0]]; ok {
			walk(next, path[1:], fn)
		}
	default:
		if len(path) == 0 && v != nil {
			fn(v)
		}
	}
}

func (r *Resource) addValue(pi uint8, p *ParamDef, v any, text *strings.Builder) {
	put := func(s string) (uint32, uint32) {
		off := uint32(text.Len())
		text.WriteString(s)
		return off, uint32(len(s))
	}
	add := func(e ventry) {
		en := entry{pi: pi, rng: e.rng}
		en.sysOff, en.sysLen = put(e.sys)
		en.valOff, en.valLen = put(e.val)
		r.entries = append(r.entries, en)
	}
	switch p.Kind {
	case KindToken:
		switch t := v.(type) {
		case string:
			add(ventry{val: t})
		case bool:
			add(ventry{val: strconv.FormatBool(t)})
		case map[string]any:
			if codings, ok := t["coding"].([]any); ok { // CodeableConcept
				for _, c := range codings {
					if m, ok := c.(map[string]any); ok {
						sys, _ := m["system"].(string)
						code, _ := m["code"].(string)
						if code != "" {
							add(ventry{sys: sys, val: code})
						}
					}
				}
				return
			}
			sys, _ := t["system"].(string)
			if code, _ := t["code"].(string); code != "" { // Coding
				add(ventry{sys: sys, val: code})
			} else if val, _ := t["value"].(string); val != "" { // Identifier
				add(ventry{sys: sys, val: val})
			}
		}
	case KindString:
		switch t := v.(type) {
		case string:
			add(ventry{val: strings.ToLower(t)})
		case map[string]any: // HumanName
			for _, k := range []string{"text", "family", "given", "prefix", "suffix"} {
				walk(t[k], nil, func(s any) {
					if str, ok := s.(string); ok {
						add(ventry{val: strings.ToLower(str)})
					}
				})
			}
		}
	case KindDate:
		switch t := v.(type) {
		case string:
			if rg, err := ParseDate(t); err == nil {
				add(ventry{rng: rg})
			}
		case map[string]any:
			if rg, ok := periodRange(t); ok {
				add(ventry{rng: rg})
			}
		}
	case KindReference:
		m, ok := v.(map[string]any)
		if !ok {
			return
		}
		s, _ := m["reference"].(string)
		key := NormalizeReference(s)
		if key == "" {
			return
		}
		if len(p.Targets) > 0 && !hasPrefixType(key, p.Targets) {
			return
		}
		add(ventry{val: key})
	}
}

// ventry is an entry's values before they are packed into Resource.text.
type ventry struct {
	sys, val string
	rng      Range
}

func hasPrefixType(key string, targets []string) bool {
	for _, t := range targets {
		if strings.HasPrefix(key, t+"/") {
			return true
		}
	}
	return false
}

// NormalizeReference reduces a literal reference (relative, absolute URL,
// with or without _history) to "Type/id"; "" when it is not one.
func NormalizeReference(s string) string {
	typ, id := SplitReference(s)
	if typ == "" {
		return ""
	}
	return typ + "/" + id
}

// SplitReference is NormalizeReference's type and id, without building
// "Type/id"; both "" when s is not a literal reference.
func SplitReference(s string) (typ, id string) {
	if i := strings.Index(s, "/_history/"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSuffix(s, "/")
	j := strings.LastIndexByte(s, '/')
	if j <= 0 {
		return "", ""
	}
	i := strings.LastIndexByte(s[:j], '/')
	typ, id = s[i+1:j], s[j+1:]
	if types[typ] == nil || !validID(id) {
		return "", ""
	}
	return typ, id
}
