package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/fhir"
	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

const fhirJSON = "application/fhir+json; charset=utf-8"

// Serve answers one authorised FHIR request from the upstream
// (fhir.Upstream). The route decides the interaction; every interaction
// asks Access for its scope decision before anything is sent upstream.
func (p *Proxy) Serve(a *fhir.Access) error {
	r := a.Request()
	typ := r.PathValue("type")
	if fhirstore.Type(typ) == nil {
		// Only the types whose compartment and search parameters ehrsim
		// knows can be judged; the others are not offered.
		return fhir.Error(http.StatusNotFound, "not-found", "resource type "+typ+" is not supported by this server (see "+a.Base()+"/metadata)")
	}
	id, vid, op := r.PathValue("id"), r.PathValue("vid"), r.PathValue("op")
	// Only FHIR ids go into an upstream path: no "..", no escapes.
	if id != "" && !pathID(id) || vid != "" && !pathID(vid) {
		return notFound(typ + "/" + id + " does not exist (not a valid FHIR id)")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case id == "":
			return p.search(a, typ, r.URL.Query())
		case op != "":
			return p.operation(a, typ, id, op)
		case vid != "":
			return p.read(a, typ, id, "/_history/"+vid)
		case strings.HasSuffix(r.Pattern, "/_history"):
			return p.history(a, typ, id)
		}
		return p.read(a, typ, id, "")
	case http.MethodPost:
		if strings.HasSuffix(r.Pattern, "/_search") {
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if mt != "application/x-www-form-urlencoded" {
				return fhir.Error(http.StatusUnsupportedMediaType, "not-supported", "POST "+typ+"/_search needs Content-Type application/x-www-form-urlencoded")
			}
			r.Body = http.MaxBytesReader(a.Writer(), r.Body, 1<<20)
			if err := r.ParseForm(); err != nil {
				return fhir.Error(http.StatusBadRequest, "invalid", "form body: "+err.Error())
			}
			return p.search(a, typ, r.Form)
		}
		return p.create(a, typ)
	case http.MethodPut:
		return p.update(a, typ, id)
	case http.MethodPatch:
		return p.patch(a, typ, id)
	case http.MethodDelete:
		return p.delete(a, typ, id)
	}
	return fhir.Error(http.StatusMethodNotAllowed, "not-supported", r.Method+" is not supported here")
}

// pathID reports whether id is a FHIR id that is safe as a path segment
// ("." and ".." match FHIR's id rule but would move up the path).
func pathID(id string) bool { return smart.ValidID(id) && id != "." && id != ".." }

// policies caches one request's decisions per type.
type policies struct {
	a  *fhir.Access
	in scopes.Interaction
	m  map[string]*fhir.Policy
}

func (ps *policies) get(typ string) *fhir.Policy {
	if ps.m == nil {
		ps.m = map[string]*fhir.Policy{}
	}
	pol := ps.m[typ]
	if pol == nil {
		pol = ps.a.Policy(typ, ps.in)
		ps.m[typ] = pol
	}
	return pol
}

// readPolicy checks the read letter on typ/id before anything is asked
// upstream, and answers what it can without asking: another patient's
// Patient under a patient/ scope is a 404 whether it exists or not.
func readPolicy(a *fhir.Access, typ, id string) (*fhir.Policy, error) {
	pol := a.Policy(typ, scopes.Read)
	if a.AlwaysReadable(typ, id) {
		return pol, nil
	}
	if !pol.Allowed {
		return nil, pol.Deny()
	}
	if pol.Confined && (pol.Compartment == "" || typ == "Patient" && id != pol.Compartment) {
		return nil, notFound(typ + "/" + id + " does not exist in the patient compartment this token is limited to")
	}
	return pol, nil
}

func notFound(msg string) error { return fhir.Error(http.StatusNotFound, "not-found", msg) }

// read serves read and vread: the resource is fetched, then judged like a
// stored one before a byte of it is answered.
func (p *Proxy) read(a *fhir.Access, typ, id, suffix string) error {
	pol, err := readPolicy(a, typ, id)
	if err != nil {
		return err
	}
	r := a.Request()
	resp, err := p.do(r.Context(), http.MethodGet, typ+"/"+url.PathEscape(id)+suffix, nil, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Close()
	body, err := p.readAll(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return p.statusError(a, resp, body, typ+"/"+id+suffix)
	}
	res, err := judgeable(a, pol, typ, body)
	if err != nil || res.ID != id {
		return fhir.Error(http.StatusBadGateway, "invalid", "the upstream FHIR server's answer for "+typ+"/"+id+" is not that "+typ+" resource")
	}
	if err := pol.Check(res); err != nil {
		return err
	}
	h := a.Writer().Header()
	etag := resp.Header.Get("ETag")
	copyHeaders(h, resp.Header, "ETag", "Last-Modified")
	if suffix != "" {
		h.Set("Content-Location", a.Base()+"/"+typ+"/"+id+suffix)
	}
	if inm := r.Header.Get("If-None-Match"); inm != "" && etag != "" && inm == etag {
		a.Writer().WriteHeader(http.StatusNotModified)
		return nil
	}
	writeBody(a.Writer(), http.StatusOK, p.rewrite(body, a.Base()))
	return nil
}

// judgeable makes of a read's body what pol.Check needs. Without granular
// filters, a resource outside the compartment types or a Patient (whose
// compartment is itself, as the store indexes it) is judged by its type
// and id alone, so the common read skips decoding and indexing the whole
// resource; everything else is parsed and indexed by the store's code.
func judgeable(a *fhir.Access, pol *fhir.Policy, typ string, body []byte) (*fhirstore.Resource, error) {
	if pol.Filters != nil || pol.Confined && typ != "Patient" {
		return a.Parse(typ, body)
	}
	var head struct {
		ResourceType string `json:"resourceType"`
		ID           string `json:"id"`
	}
	if err := json.Unmarshal(body, &head); err != nil || head.ResourceType != typ {
		return nil, errInvalid("not a " + typ)
	}
	r := &fhirstore.Resource{Type: typ, ID: head.ID}
	if typ == "Patient" {
		r.Patient = head.ID
	}
	return r, nil
}

func copyHeaders(dst, src http.Header, names ...string) {
	for _, n := range names {
		if v := src.Get(n); v != "" {
			dst.Set(n, v)
		}
	}
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", fhirJSON)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

// search serves {type}?… and {type}/_search. The parameters are parsed by
// the store's own parser first: what it does not understand (a chain,
// _has, an unknown _include target) cannot be confined and is refused.
// The compartment and a single granular filter are added as search
// parameters, so the upstream pages over the right set; every entry of
// the answer is still judged, matches with the search decision and
// _include/_revinclude entries with the read decision of their type.
func (p *Proxy) search(a *fhir.Access, typ string, params url.Values) error {
	pol := a.Policy(typ, scopes.Search)
	if !pol.Allowed {
		return pol.Deny()
	}
	if params.Has("_getpages") {
		return p.page(a, typ, pol, params)
	}
	q, err := fhirstore.ParseQuery(typ, params, lenient(a.Request()))
	if err != nil {
		return fhir.Error(http.StatusBadRequest, "invalid", err.Error()+" (in upstream mode, ehrsim forwards only the search parameters it can confine to what the token may see)")
	}
	// Exactly what was parsed goes upstream: the parameters the parser
	// kept, and the paging values it read.
	fwd := url.Values{}
	for k, vs := range q.Canonical {
		fwd[k] = slices.Clone(vs)
	}
	if q.Count >= 0 {
		fwd.Set("_count", strconv.Itoa(q.Count))
	}
	if q.Offset > 0 {
		fwd.Set("_offset", strconv.Itoa(q.Offset))
	}
	if pol.Confined {
		if pol.Compartment == "" {
			return writeEmpty(a, typ)
		}
		if typ == "Patient" {
			fwd.Add("_id", pol.Compartment)
		} else if fhirstore.Type(typ).Params["patient"] != nil {
			fwd.Add("patient", "Patient/"+pol.Compartment)
		}
	}
	if len(pol.Filters) == 1 {
		for _, f := range pol.Filters[0] {
			fwd.Add(f.Name, f.Value)
		}
	}
	resp, err := p.do(a.Request().Context(), http.MethodGet, typ, fwd, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Close()
	if resp.StatusCode != http.StatusOK {
		body, err := p.readAll(resp)
		if err != nil {
			return err
		}
		return p.statusError(a, resp, body, typ+" search")
	}
	var warnings []string
	for _, ig := range q.Ignored {
		warnings = append(warnings, "ignored (Prefer: handling=lenient): "+ig)
	}
	if !pol.Confined && pol.Filters == nil && len(q.Include) == 0 && len(q.RevInclude) == 0 && len(warnings) == 0 {
		// Nothing to filter: every match is of a type and in a set the
		// token may search. The answer is streamed, URLs rewritten.
		return p.stream(a, resp, typ)
	}
	return p.judgeSearchset(a, typ, resp, warnings...)
}

// judgeSearchset reads a searchset whole and keeps what the token may
// see: matches of typ under the search decision, other entries under the
// read decision of their type (a match of another type is dropped).
// warnings become OperationOutcome entries (search mode "outcome").
func (p *Proxy) judgeSearchset(a *fhir.Access, typ string, resp *response, warnings ...string) error {
	body, err := p.readAll(resp)
	if err != nil {
		return err
	}
	matches := &policies{a: a, in: scopes.Search}
	reads := &policies{a: a, in: scopes.Read}
	out, err := p.filterBundle(a, body, typ, warnings, func(mode string, res *fhirstore.Resource) bool {
		switch {
		case (mode == "match" || mode == "") && res.Type == typ: // some servers leave out search.mode
			return matches.get(typ).Check(res) == nil
		case mode == "match":
			return false
		}
		return reads.get(res.Type).Check(res) == nil
	})
	if err != nil {
		return err
	}
	writeBody(a.Writer(), http.StatusOK, out)
	return nil
}

// pageParams are the parameters of a paging link on the upstream's base
// (HAPI's {base}?_getpages=…), which ehrsim rewrote to {base}/{type}?….
var pageParams = map[string]bool{"_getpages": true, "_getpagesoffset": true, "_count": true, "_offset": true, "_bundletype": true, "_pretty": true, "_format": true}

// page follows such a link: the upstream keeps the search (with the
// compartment ehrsim added to it) behind an opaque id, so the page is
// always judged entry by entry.
func (p *Proxy) page(a *fhir.Access, typ string, pol *fhir.Policy, params url.Values) error {
	fwd := url.Values{}
	for k, vs := range params {
		if !pageParams[k] {
			return fhir.Error(http.StatusBadRequest, "invalid", k+": a paging request (_getpages) takes only the parameters of its link")
		}
		if k != "_format" {
			fwd[k] = vs
		}
	}
	if pol.Confined && pol.Compartment == "" {
		return writeEmpty(a, typ)
	}
	resp, err := p.do(a.Request().Context(), http.MethodGet, "", fwd, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Close()
	if resp.StatusCode != http.StatusOK {
		body, err := p.readAll(resp)
		if err != nil {
			return err
		}
		return p.statusError(a, resp, body, typ+" search page")
	}
	return p.judgeSearchset(a, typ, resp)
}

// writeEmpty answers a search that can match nothing (patient/ scopes and
// no patient in context) without asking the upstream.
func writeEmpty(a *fhir.Access, typ string) error {
	b, _ := json.Marshal(map[string]any{"resourceType": "Bundle", "type": "searchset", "total": 0,
		"link": []map[string]string{{"relation": "self", "url": a.Base() + "/" + typ}}})
	a.SetTotal(0)
	writeBody(a.Writer(), http.StatusOK, b)
	return nil
}

// operation serves Patient/{id}/$everything, the one operation ehrsim
// offers: forwarded for a patient the token may read, with only _count
// and _offset, and every entry judged with the read decision of its type.
func (p *Proxy) operation(a *fhir.Access, typ, id, op string) error {
	if typ != "Patient" || op != "$everything" {
		return notFound("operation " + typ + "/{id}/" + op + " is not supported (only Patient/{id}/$everything)")
	}
	if _, err := readPolicy(a, typ, id); err != nil {
		return err
	}
	params := a.Request().URL.Query()
	path := "Patient/" + url.PathEscape(id) + "/$everything"
	if params.Has("_getpages") {
		// A page of the upstream's stored $everything (its paging link,
		// re-routed here so the patient is checked again).
		path = ""
		for k := range params {
			if !pageParams[k] {
				return fhir.Error(http.StatusBadRequest, "invalid", k+": a paging request (_getpages) takes only the parameters of its link")
			}
		}
		params.Del("_format")
	}
	fwd := url.Values{}
	for k, vs := range params {
		switch k {
		case "_getpages", "_getpagesoffset", "_bundletype", "_pretty":
			fwd[k] = vs
		case "_count", "_offset":
			for _, v := range vs {
				if n, err := strconv.Atoi(v); err != nil || n < 0 {
					return fhir.Error(http.StatusBadRequest, "invalid", k+"="+strconv.Quote(v)+": must be a non-negative integer")
				}
			}
			fwd[k] = vs
		case "_format":
		default:
			return fhir.Error(http.StatusBadRequest, "invalid", k+": $everything supports only _count and _offset")
		}
	}
	resp, err := p.do(a.Request().Context(), http.MethodGet, path, fwd, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Close()
	body, err := p.readAll(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return p.statusError(a, resp, body, "Patient/"+id+"/$everything")
	}
	reads := &policies{a: a, in: scopes.Read}
	out, err := p.filterBundle(a, body, "Patient/"+id+"/$everything", nil, func(_ string, res *fhirstore.Resource) bool {
		return reads.get(res.Type).Check(res) == nil
	})
	if err != nil {
		return err
	}
	writeBody(a.Writer(), http.StatusOK, out)
	return nil
}

// history serves {type}/{id}/_history: every version is judged; none
// readable is a 404.
func (p *Proxy) history(a *fhir.Access, typ, id string) error {
	pol, err := readPolicy(a, typ, id)
	if err != nil {
		return err
	}
	resp, err := p.do(a.Request().Context(), http.MethodGet, typ+"/"+url.PathEscape(id)+"/_history", nil, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Close()
	body, err := p.readAll(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return p.statusError(a, resp, body, typ+"/"+id+"/_history")
	}
	kept := 0
	out, err := p.filterBundle(a, body, "", nil, func(_ string, res *fhirstore.Resource) bool {
		ok := res.Type == typ && res.ID == id && pol.Check(res) == nil
		if ok {
			kept++
		}
		return ok
	})
	if err != nil {
		return err
	}
	if kept == 0 {
		return notFound(typ + "/" + id + " does not exist")
	}
	writeBody(a.Writer(), http.StatusOK, out)
	return nil
}

// stream copies an upstream answer that needs no filtering, rewriting
// its URLs on the way, within MaxBody. Past the limit the status is
// already sent, so the connection is aborted rather than ended as if the
// body were complete.
func (p *Proxy) stream(a *fhir.Access, resp *response, typ string) error {
	if resp.ContentLength > p.maxBody {
		return p.errTooLarge()
	}
	w := a.Writer()
	h := w.Header()
	h.Set("Content-Type", fhirJSON)
	w.WriteHeader(http.StatusOK)
	rw := newRewriter(w, []byte(p.base), []byte(a.Base()))
	pages := newRewriter(rw, []byte(p.base+"?"), []byte(a.Base()+"/"+typ+"?"))
	n, err := io.Copy(pages, io.LimitReader(resp.Body, p.maxBody+1))
	if err == nil {
		err = pages.Flush()
	}
	if err == nil {
		err = rw.Flush()
	}
	if err != nil || n > p.maxBody {
		p.logger.Warn("upstream: streamed answer aborted", "reason", streamReason(err, n > p.maxBody))
		panic(http.ErrAbortHandler)
	}
	return nil
}

func streamReason(err error, tooLarge bool) string {
	if tooLarge {
		return "larger than --fhir-upstream-max-body"
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "the upstream closed the connection early"
	}
	return "the upstream stopped answering or the client went away"
}

// statusError turns an upstream answer other than success into ehrsim's
// OperationOutcome: 404 and 410 as themselves, other client errors with
// the upstream's diagnostics, the upstream refusing ehrsim's own
// credential and every 5xx as 502.
func (p *Proxy) statusError(a *fhir.Access, resp *response, body []byte, what string) error {
	return p.statusErrorBase(resp, body, a.Base(), what)
}

func errInvalid(msg string) error { return fhir.Error(http.StatusBadGateway, "invalid", msg) }

func (p *Proxy) statusErrorBase(resp *response, body []byte, base, what string) error {
	diag := p.diagnostics(body, base)
	switch sc := resp.StatusCode; {
	case sc == http.StatusNotFound:
		return notFound(what + " does not exist")
	case sc == http.StatusGone:
		return fhir.Error(http.StatusGone, "deleted", what+" was deleted")
	case sc == http.StatusUnauthorized || sc == http.StatusForbidden:
		return fhir.Error(http.StatusBadGateway, "security", "the upstream FHIR server refused ehrsim's request to it (HTTP "+strconv.Itoa(sc)+"): check the credential given with --fhir-upstream-header")
	case sc >= 500:
		msg := "the upstream FHIR server failed (HTTP " + strconv.Itoa(sc) + ")"
		if diag != "" {
			msg += ": " + diag
		}
		return fhir.Error(http.StatusBadGateway, "transient", msg)
	case sc >= 400:
		msg := "the upstream FHIR server refused " + what + " (HTTP " + strconv.Itoa(sc) + ")"
		if diag != "" {
			msg += ": " + diag
		}
		return fhir.Error(sc, "processing", msg)
	}
	return fhir.Error(http.StatusBadGateway, "transient", "the upstream FHIR server answered "+what+" with an unexpected HTTP "+strconv.Itoa(resp.StatusCode))
}

// diagnostics extracts an OperationOutcome's text, rewritten and with the
// upstream credential removed, at most 500 bytes.
func (p *Proxy) diagnostics(body []byte, base string) string {
	var oo struct {
		ResourceType string
		Issue        []struct{ Diagnostics string }
	}
	if json.Unmarshal(body, &oo) != nil || oo.ResourceType != "OperationOutcome" {
		return ""
	}
	var parts []string
	for _, is := range oo.Issue {
		if is.Diagnostics != "" {
			parts = append(parts, is.Diagnostics)
		}
	}
	s := string(p.scrub(p.rewrite([]byte(strings.Join(parts, "; ")), base)))
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}

// scrub removes the configured header values from text the upstream
// wrote, should it echo them.
func (p *Proxy) scrub(b []byte) []byte {
	for _, vs := range p.header {
		for _, v := range vs {
			if len(v) >= 4 {
				b = bytes.ReplaceAll(b, []byte(v), []byte("(redacted)"))
			}
			if _, cred, ok := strings.Cut(v, " "); ok && len(cred) >= 4 {
				b = bytes.ReplaceAll(b, []byte(cred), []byte("(redacted)"))
			}
		}
	}
	return b
}

// lenient reports Prefer: handling=lenient (FHIR R4 search §errors): then,
// as in the store, parameters ehrsim cannot use are left out (and not
// forwarded) with a warning instead of a 400.
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
