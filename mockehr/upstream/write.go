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
	resp, err := p.do(a.Request().Context(), http.MethodGet, typ+"/"+url.PathEscape(id), nil, nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Close()
	body, err := p.readAll(resp)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound, http.StatusGone:
		return nil, nil
	default:
		return nil, p.statusError(a, resp, body, typ+"/"+id)
	}
	cur, err := a.Parse(typ, body)
	if err != nil {
		return nil, fhir.Error(http.StatusBadGateway, "invalid", "the upstream FHIR server's "+typ+"/"+id+" cannot be read: "+err.Error())
	}
	if err := pol.Check(cur); err != nil {
		return nil, err
	}
	return cur, nil
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

// patch is forwarded only when nothing restricts the token's update
// (no compartment, no granular filter): ehrsim cannot see the patched
// result before the upstream stores it, so it could not keep a patch
// from moving a resource out of reach. Restricted tokens use PUT.
func (p *Proxy) patch(a *fhir.Access, typ, id string) error {
	pol, err := writePolicy(a, typ, scopes.Update, nil)
	if err != nil {
		return err
	}
	if pol.Confined || pol.Filters != nil {
		return fhir.Error(http.StatusForbidden, "forbidden", "PATCH cannot be enforced in upstream mode for a token limited to a patient compartment or granular scopes: send the whole resource with PUT "+typ+"/"+id)
	}
	r := a.Request()
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json-patch+json" {
		return fhir.Error(http.StatusUnsupportedMediaType, "not-supported", "PATCH needs Content-Type application/json-patch+json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(a.Writer(), r.Body, maxRequestBody))
	if err != nil {
		return fhir.Error(http.StatusRequestEntityTooLarge, "too-costly", "request body: "+err.Error())
	}
	if _, err := p.current(a, pol, typ, id); err != nil {
		return err
	}
	return p.forwardWrite(a, http.MethodPatch, typ+"/"+url.PathEscape(id), body)
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
	r := a.Request()
	hdr := http.Header{}
	copyHeaders(hdr, r.Header, "Content-Type", "If-Match", "Prefer")
	resp, err := p.do(r.Context(), method, path, nil, body, hdr)
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
