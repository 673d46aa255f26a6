package fhir

import (
	"bytes"
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// defaultCount is the page size when _count is absent.
const defaultCount = 50

// handleSearch serves GET {type}?… and POST {type}/_search (form body),
// FHIR R4 search §Search.
func (s *Server) handleSearch(rq *req) *apiError {
	td, err := rq.supportedType()
	if err != nil {
		return err
	}
	params := rq.r.URL.Query()
	if rq.r.Method == http.MethodPost {
		mt, _, _ := mime.ParseMediaType(rq.r.Header.Get("Content-Type"))
		if mt != "application/x-www-form-urlencoded" {
			return errf(http.StatusUnsupportedMediaType, "not-supported", "POST "+td.Name+"/_search needs Content-Type application/x-www-form-urlencoded")
		}
		rq.r.Body = http.MaxBytesReader(rq.w, rq.r.Body, 1<<20)
		if perr := rq.r.ParseForm(); perr != nil {
			return badRequest("form body: " + perr.Error())
		}
		params = rq.r.Form // URL query and body, merged
	}
	p := rq.policy(td.Name, scopes.Search)
	if !p.Allowed {
		return deny(td.Name, scopes.Search)
	}
	q, qerr := fhirstore.ParseQuery(td.Name, params, lenient(rq.r))
	if qerr != nil {
		return badRequest(qerr.Error())
	}
	p.apply(q)
	matches := s.store.Search(q)
	return rq.writeSearchset(td.Name, q, matches)
}

// lenient reports Prefer: handling=lenient (FHIR R4 search §errors).
func lenient(r *http.Request) bool {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), "handling=lenient") {
				return true
			}
		}
	}
	return false
}

type entryOut struct {
	r    *fhirstore.Resource
	raw  []byte
	mode string
}

// writeSearchset pages matches and adds includes. Paging links carry the
// kept query plus _count and _offset, so they stay valid and
// self-contained, and are built on the request's FHIR base.
func (rq *req) writeSearchset(path string, q *fhirstore.Query, matches []*fhirstore.Resource) *apiError {
	total := len(matches)
	count := q.Count
	if count < 0 {
		count = defaultCount
	}
	link := func(offset int) string {
		v := url.Values{}
		for k, vs := range q.Canonical {
			v[k] = vs
		}
		v.Set("_count", strconv.Itoa(count))
		v.Set("_offset", strconv.Itoa(offset))
		return rq.base + "/" + path + "?" + v.Encode()
	}
	links := [][2]string{{"self", link(q.Offset)}}
	var entries []entryOut
	if len(q.Ignored) > 0 {
		var issues []issue
		for _, ig := range q.Ignored {
			issues = append(issues, issue{Severity: "warning", Code: "not-supported", Diagnostics: "ignored (Prefer: handling=lenient): " + ig})
		}
		entries = append(entries, entryOut{raw: outcome(issues...), mode: "outcome"})
	}
	if q.Summary != "count" {
		lo := min(q.Offset, total)
		hi := min(lo+count, total)
		page := matches[lo:hi]
		if hi < total {
			links = append(links, [2]string{"next", link(hi)})
		}
		if q.Offset > 0 {
			links = append(links, [2]string{"previous", link(max(0, min(q.Offset, total)-count))})
		}
		seen := make(map[string]bool, len(page))
		for _, r := range page {
			seen[r.Key()] = true
			raw := r.Raw
			if len(q.Elements) > 0 {
				raw = elements(raw, q.Elements)
			}
			entries = append(entries, entryOut{r: r, raw: raw, mode: "match"})
		}
		entries = append(entries, rq.includes(q, page, seen)...)
	}
	b := bufPool.Get().(*bytes.Buffer)
	defer putBuf(b)
	b.WriteString(`{"resourceType":"Bundle","type":"searchset","total":`)
	b.WriteString(strconv.Itoa(total))
	rq.count = total
	b.WriteString(`,"link":[`)
	for i, l := range links {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"relation":"` + l[0] + `","url":`)
		writeJSONString(b, l[1])
		b.WriteByte('}')
	}
	b.WriteString(`]`)
	if len(entries) > 0 {
		b.WriteString(`,"entry":[`)
		for i, e := range entries {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('{')
			if e.r != nil {
				b.WriteString(`"fullUrl":`)
				writeJSONString(b, rq.base+"/"+e.r.Type+"/"+e.r.ID)
				b.WriteByte(',')
			}
			b.WriteString(`"resource":`)
			b.Write(e.raw)
			b.WriteString(`,"search":{"mode":"` + e.mode + `"}}`)
		}
		b.WriteByte(']')
	}
	b.WriteByte('}')
	writeBody(rq.w, http.StatusOK, b.Bytes())
	return nil
}

// includes resolves _include and _revinclude for one page; every included
// resource passes the same read checks as a read would (RS-13).
func (rq *req) includes(q *fhirstore.Query, page []*fhirstore.Resource, seen map[string]bool) []entryOut {
	if len(q.Include) == 0 && len(q.RevInclude) == 0 {
		return nil
	}
	policies := map[string]*policy{}
	canRead := func(r *fhirstore.Resource) bool {
		if r.Deleted {
			return false
		}
		if rq.alwaysReadable(r.Type, r.ID) {
			return true
		}
		p := policies[r.Type]
		if p == nil {
			pp := rq.policy(r.Type, scopes.Read)
			p = &pp
			policies[r.Type] = p
		}
		return p.Allowed && p.check(r) == visOK
	}
	var out []entryOut
	add := func(r *fhirstore.Resource) {
		if !seen[r.Key()] && canRead(r) {
			seen[r.Key()] = true
			out = append(out, entryOut{r: r, raw: r.Raw, mode: "include"})
		}
	}
	for _, inc := range q.Include {
		for _, m := range page {
			for _, ref := range m.References(inc.Param.Name) {
				typ, id, _ := strings.Cut(ref, "/")
				if inc.Target != "" && typ != inc.Target {
					continue
				}
				if r, ok := rq.s.store.Get(typ, id); ok {
					add(r)
				}
			}
		}
	}
	for _, inc := range q.RevInclude {
		for _, m := range page {
			for _, r := range rq.s.store.Referencing(m.Key(), inc.Source, inc.Param) {
				add(r)
			}
		}
	}
	return out
}

// handleOperation serves GET {type}/{id}/{op}; only Patient/$everything
// exists.
func (s *Server) handleOperation(rq *req) *apiError {
	td, err := rq.supportedType()
	if err != nil {
		return err
	}
	op := rq.r.PathValue("op")
	if td.Name != "Patient" || op != "$everything" {
		return notFound("operation " + td.Name + "/{id}/" + op + " is not supported (only Patient/{id}/$everything)")
	}
	return s.handleEverything(rq)
}

// handleEverything returns the patient and every compartment resource the
// token may read, type by type (RS-13), paged like a search.
func (s *Server) handleEverything(rq *req) *apiError {
	td := fhirstore.Type("Patient")
	id := rq.r.PathValue("id")
	if _, err := rq.readable(td, id); err != nil {
		return err
	}
	q := &fhirstore.Query{Type: td, Count: -1, Canonical: url.Values{}}
	for k, vs := range rq.r.URL.Query() {
		for _, v := range vs {
			n, convErr := strconv.Atoi(v)
			switch {
			case (k == "_count" || k == "_offset") && (convErr != nil || n < 0):
				return badRequest(k + "=" + strconv.Quote(v) + ": must be a non-negative integer")
			case k == "_count":
				q.Count = min(n, fhirstore.MaxCount)
			case k == "_offset":
				q.Offset = n
			case k == "_format":
			case lenient(rq.r):
				q.Ignored = append(q.Ignored, k+": not supported by $everything")
			default:
				return badRequest(k + ": $everything supports only _count and _offset")
			}
		}
	}
	policies := map[string]*policy{}
	var out []*fhirstore.Resource
	for _, r := range s.store.Compartment(id) {
		if r.Type == "Patient" && r.ID == id {
			out = append(out, r) // already checked by readable
			continue
		}
		p := policies[r.Type]
		if p == nil {
			pp := rq.policy(r.Type, scopes.Read)
			p = &pp
			policies[r.Type] = p
		}
		if p.Allowed && p.check(r) == visOK {
			out = append(out, r)
		}
	}
	return rq.writeSearchset("Patient/"+id+"/$everything", q, out)
}

// elements keeps only the named top-level elements (plus resourceType, id
// and meta) and tags the result SUBSETTED (FHIR R4 search §_elements).
func elements(raw []byte, names []string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	keep := map[string]bool{"resourceType": true, "id": true, "meta": true}
	for _, n := range names {
		keep[strings.TrimSpace(n)] = true
	}
	for k := range m {
		if !keep[k] {
			delete(m, k)
		}
	}
	var meta map[string]any
	_ = json.Unmarshal(m["meta"], &meta)
	if meta == nil {
		meta = map[string]any{}
	}
	tags, _ := meta["tag"].([]any)
	meta["tag"] = append(tags, map[string]any{"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"})
	m["meta"], _ = json.Marshal(meta)
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

// bufPool recycles Bundle buffers: searches on a large heap otherwise
// spend more time getting fresh spans from the runtime than searching.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func putBuf(b *bytes.Buffer) {
	if b.Cap() <= 1<<20 { // do not pin huge $everything buffers
		b.Reset()
		bufPool.Put(b)
	}
}

// writeJSONString writes s as a JSON string without HTML escaping, so
// links keep their & readable.
func writeJSONString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)       // a string always encodes
	b.Truncate(b.Len() - 1) // Encode's newline
}
