package upstream

import (
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/fhir"
	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// Writes follow the write letters (c, u, d) exactly as the store's do: the
// resource sent and, for update and delete, the upstream's current version
// must both lie inside what the token may touch, checked before the write
// is forwarded.

func (p *Proxy) readBody(a *fhir.Access) ([]byte, error) {
	r := a.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/fhir+json" && mt != "application/json" {
		return nil, fhir.Error(http.StatusUnsupportedMediaType, "not-supported", "Content-Type "+strconv.Quote(r.Header.Get("Content-Type"))+" is not supported here; use application/fhir+json")
	}
	b, err := io.ReadAll(http.MaxBytesReader(a.Writer(), r.Body, maxRequestBody))
	if err != nil {
		return nil, fhir.Error(http.StatusRequestEntityTooLarge, "too-costly", "request body: "+err.Error())
	}
	return b, nil
}

// writePolicy checks the letter, then that res (when given) is inside.
func writePolicy(a *fhir.Access, typ string, in scopes.Interaction, res *fhirstore.Resource) (*fhir.Policy, error) {
	pol := a.Policy(typ, in)
	if !pol.Allowed {
		return nil, pol.Deny()
	}
	if res != nil {
		if err := pol.Check(res); err != nil {
			if pol.Confined && strings.Contains(err.Error(), "compartment") {
				return nil, fhir.Error(http.StatusForbidden, "forbidden", typ+" must belong to the launch patient's compartment (patient/ scopes)")
			}
			return nil, err
		}
	}
	return pol, nil
}

// current fetches and judges the upstream's version of typ/id; nil when
// it does not exist.
func (p *Proxy) current(a *fhir.Access, pol *fhir.Policy, typ, id string) (*fhirstore.Resource, error) {
	cur, _, _, err := p.currentBody(a, pol, typ, id)
	return cur, err
}

// currentBody is current with the upstream's body and ETag.
func (p *Proxy) currentBody(a *fhir.Access, pol *fhir.Policy, typ, id string) (*fhirstore.Resource, []byte, string, error) {
	resp, err := p.do(a.Request().Context(), http.MethodGet, typ+"/"+url.PathEscape(id), nil, nil, nil)
	if err != nil {
		return nil, nil, "", err
	}
	defer resp.Close()
	body, err := p.readAll(resp)
	if err != nil {
		return nil, nil, "", err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone:
		return nil, nil, "", nil
	default:
		return nil, nil, "", p.statusError(a, resp, body, typ+"/"+id)
	}
	cur, err := a.Parse(typ, body)
	if err != nil {
		return nil, nil, "", fhir.Error(http.StatusBadGateway, "invalid", "the upstream FHIR server's "+typ+"/"+id+" cannot be read: "+err.Error())
	}
	if err := pol.Check(cur); err != nil {
		return nil, nil, "", err
	}
	return cur, body, resp.Header.Get("ETag"), nil
}

func (p *Proxy) create(a *fhir.Access, typ string) error {
	if pol := a.Policy(typ, scopes.Create); !pol.Allowed {
		return pol.Deny()
	}
	body, err := p.readBody(a)
	if err != nil {
		return err
	}
	res, err := a.Parse(typ, body)
	if err != nil {
		return fhir.Error(http.StatusBadRequest, "invalid", err.Error())
	}
	if _, err := writePolicy(a, typ, scopes.Create, res); err != nil {
		return err
	}
	return p.forwardWrite(a, http.MethodPost, typ, body)
}

func (p *Proxy) update(a *fhir.Access, typ, id string) error {
	pol, err := writePolicy(a, typ, scopes.Update, nil)
	if err != nil {
		return err
	}
	body, err := p.readBody(a)
	if err != nil {
		return err
	}
	res, err := a.Parse(typ, body)
	if err != nil {
		return fhir.Error(http.StatusBadRequest, "invalid", err.Error())
	}
	if res.ID != id {
		return fhir.Error(http.StatusBadRequest, "invalid", "the resource's id "+strconv.Quote(res.ID)+" does not match the URL's "+strconv.Quote(id))
	}
	if _, err := writePolicy(a, typ, scopes.Update, res); err != nil {
		return err
	}
	if _, err := p.current(a, pol, typ, id); err != nil {
		return err
	}
	return p.forwardWrite(a, http.MethodPut, typ+"/"+url.PathEscape(id), body)
}

// patch: for a token that no compartment or granular scope restricts, the
// PATCH is forwarded as it is. Otherwise ehrsim applies it itself to the
// upstream's current version (the store's own JSON Patch code), judges the
// result like an update, and writes it with PUT and If-Match on the
// version it patched, so a concurrent change fails (412) rather than being
// overwritten.
func (p *Proxy) patch(a *fhir.Access, typ, id string) error {
	pol, err := writePolicy(a, typ, scopes.Update, nil)
	if err != nil {
		return err
	}
	r := a.Request()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json-patch+json" {
		return fhir.Error(http.StatusUnsupportedMediaType, "not-supported", "PATCH needs Content-Type application/json-patch+json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(a.Writer(), r.Body, maxRequestBody))
	if err != nil {
		return fhir.Error(http.StatusRequestEntityTooLarge, "too-costly", "request body: "+err.Error())
	}
	cur, raw, etag, err := p.currentBody(a, pol, typ, id)
	if err != nil {
		return err
	}
	if cur == nil {
		return notFound(typ + "/" + id + " does not exist")
	}
	if !pol.Confined && pol.Filters == nil {
		return p.forwardWrite(a, http.MethodPatch, typ+"/"+url.PathEscape(id), body)
	}
	if im := r.Header.Get("If-Match"); im != "" && versionOf(im) != versionOf(etag) {
		return fhir.Error(http.StatusPreconditionFailed, "conflict", "If-Match "+strconv.Quote(im)+" is not the current version of "+typ+"/"+id)
	}
	patched, err := a.ApplyPatch(raw, body)
	if err != nil {
		return err
	}
	next, err := a.Parse(typ, patched)
	if err != nil {
		return fhir.Error(http.StatusUnprocessableEntity, "processable", "the patched "+typ+" is not valid: "+err.Error())
	}
	if next.ID != id {
		return fhir.Error(http.StatusBadRequest, "invalid", "the patch must not change id")
	}
	if _, err := writePolicy(a, typ, scopes.Update, next); err != nil {
		return err
	}
	hdr := http.Header{"Content-Type": {"application/fhir+json"}}
	if etag != "" {
		hdr.Set("If-Match", etag)
	}
	return p.forwardWriteHeader(a, http.MethodPut, typ+"/"+url.PathEscape(id), patched, hdr)
}

func (p *Proxy) delete(a *fhir.Access, typ, id string) error {
	pol, err := writePolicy(a, typ, scopes.Delete, nil)
	if err != nil {
		return err
	}
	if pol.Confined && typ == "Patient" && id != pol.Compartment {
		return notFound(typ + "/" + id + " does not exist in the patient compartment this token is limited to")
	}
	cur, err := p.current(a, pol, typ, id)
	if err != nil {
		return err
	}
	if cur == nil {
		return notFound(typ + "/" + id + " does not exist")
	}
	return p.forwardWrite(a, http.MethodDelete, typ+"/"+url.PathEscape(id), nil)
}

// forwardWrite sends a checked write and relays the answer with its URLs
// rewritten.
func (p *Proxy) forwardWrite(a *fhir.Access, method, path string, body []byte) error {
	hdr := http.Header{}
	copyHeaders(hdr, a.Request().Header, "Content-Type", "If-Match", "Prefer")
	return p.forwardWriteHeader(a, method, path, body, hdr)
}

func (p *Proxy) forwardWriteHeader(a *fhir.Access, method, path string, body []byte, hdr http.Header) error {
	copyHeaders(hdr, a.Request().Header, "Prefer")
	resp, err := p.do(a.Request().Context(), method, path, nil, body, hdr)
	if err != nil {
		return err
	}
	defer resp.Close()
	out, err := p.readAll(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		return p.statusError(a, resp, out, method+" "+path)
	}
	h := a.Writer().Header()
	for _, n := range []string{"Location", "Content-Location"} {
		if v := resp.Header.Get(n); v != "" {
			h.Set(n, string(p.rewrite([]byte(v), a.Base())))
		}
	}
	copyHeaders(h, resp.Header, "ETag", "Last-Modified")
	if len(out) == 0 {
		a.Writer().WriteHeader(resp.StatusCode)
		return nil
	}
	writeBody(a.Writer(), resp.StatusCode, p.rewrite(out, a.Base()))
	return nil
}

// versionOf reads W/"3", "3" or 3 as 3.
func versionOf(etag string) string {
	return strings.Trim(strings.TrimPrefix(strings.TrimSpace(etag), "W/"), `"`)
}
