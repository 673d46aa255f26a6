package fhir

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// maxBody bounds request bodies.
const maxBody = 4 << 20

// readBody reads a body whose media type must be one of allowed (415
// otherwise, FHIR R4 http §mime-type).
func (rq *req) readBody(allowed ...string) ([]byte, *apiError) {
	ct := rq.r.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	ok := false
	for _, a := range allowed {
		ok = ok || mt == a
	}
	if !ok {
		return nil, errf(http.StatusUnsupportedMediaType, "not-supported", "Content-Type "+strconv.Quote(ct)+" is not supported here; use "+strings.Join(allowed, " or "))
	}
	body, err := io.ReadAll(http.MaxBytesReader(rq.w, rq.r.Body, maxBody))
	if err != nil {
		return nil, errf(http.StatusRequestEntityTooLarge, "too-costly", "request body: "+err.Error())
	}
	return body, nil
}

var resourceTypes = []string{"application/fhir+json", "application/json"}

// ifMatch parses If-Match: W/"3", "3" or 3 (FHIR R4 http §concurrency).
func (rq *req) ifMatch() (int, *apiError) {
	h := strings.TrimSpace(rq.r.Header.Get("If-Match"))
	if h == "" {
		return 0, nil
	}
	v := strings.Trim(strings.TrimPrefix(h, "W/"), `"`)
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, badRequest("If-Match " + strconv.Quote(h) + ` is not a version ETag like W/"3"`)
	}
	return n, nil
}

// writeAllowed checks a write's letter and that both the current version
// (if any) and the new one stay inside what the token may touch (RS-04,
// RS-09).
func (rq *req) writeAllowed(typ string, in scopes.Interaction, cur, next *fhirstore.Resource) *apiError {
	p := rq.policy(typ, in)
	if !p.Allowed {
		return deny(typ, in)
	}
	if cur != nil {
		switch p.check(cur) {
		case visHidden:
			return notFound(typ + "/" + cur.ID + " does not exist in the patient compartment this token is limited to")
		case visFiltered:
			if !cur.Deleted {
				return forbidden(typ + "/" + cur.ID + " matches none of the granular scopes granted for " + typ)
			}
		}
	}
	if next != nil {
		switch p.check(next) {
		case visHidden:
			return forbidden("the resource would be outside the patient compartment this token is limited to (patient " + rq.grant.Patient + ")")
		case visFiltered:
			return forbidden("the resource would match none of the granular scopes granted for " + typ)
		}
	}
	return nil
}

func (s *Server) storeError(err error) *apiError {
	var inv *fhirstore.InvalidError
	switch {
	case errors.As(err, &inv):
		return badRequest(inv.Msg)
	case errors.Is(err, fhirstore.ErrConflict):
		return errf(http.StatusPreconditionFailed, "conflict", "If-Match does not name the current version")
	case errors.Is(err, fhirstore.ErrNotFound):
		return notFound(err.Error())
	}
	return errf(http.StatusInternalServerError, "exception", err.Error())
}

// respondWrite answers a create or update: Location/Content-Location,
// ETag, Last-Modified and the body Prefer asks for (FHIR R4 http §Prefer).
func (rq *req) respondWrite(status int, r *fhirstore.Resource) *apiError {
	h := rq.w.Header()
	loc := rq.base + "/" + r.Type + "/" + r.ID + "/_history/" + strconv.Itoa(r.Version)
	h.Set("Location", loc)
	h.Set("Content-Location", loc)
	h.Set("ETag", r.ETag)
	h.Set("Last-Modified", r.LastModified)
	switch prefer(rq.r, "return") {
	case "minimal":
		rq.w.WriteHeader(status)
	case "OperationOutcome":
		writeBody(rq.w, status, outcome(issue{Severity: "information", Code: "informational", Diagnostics: r.Type + "/" + r.ID + " version " + strconv.Itoa(r.Version) + " stored"}))
	default:
		writeBody(rq.w, status, r.Raw)
	}
	return nil
}

func prefer(r *http.Request, key string) string {
	for _, v := range r.Header.Values("Prefer") {
		for _, part := range strings.Split(v, ",") {
			k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
			if k == key {
				return strings.Trim(val, `"`)
			}
		}
	}
	return ""
}

func (s *Server) handleCreate(rq *req) *apiError {
	td, err := rq.supportedType()
	if err != nil {
		return err
	}
	if !rq.set.Decide(td.Name, scopes.Create).Allowed {
		return deny(td.Name, scopes.Create)
	}
	body, err := rq.readBody(resourceTypes...)
	if err != nil {
		return err
	}
	next, perr := s.store.Parse(td.Name, body)
	if perr != nil {
		return s.storeError(perr)
	}
	next.ID = "" // the server assigns ids on create (FHIR R4 http §create)
	if err := rq.writeAllowed(td.Name, scopes.Create, nil, next); err != nil {
		return err
	}
	r, serr := s.store.Create(rq.r.Context(), next)
	if serr != nil {
		return s.storeError(serr)
	}
	return rq.respondWrite(http.StatusCreated, r)
}

func (s *Server) handleUpdate(rq *req) *apiError {
	return s.update(rq, resourceTypes, func(td *fhirstore.TypeDef, id string, _ *fhirstore.Resource, body []byte) (*fhirstore.Resource, int, *apiError) {
		next, perr := s.store.Parse(td.Name, body)
		if perr != nil {
			return nil, 0, s.storeError(perr)
		}
		if next.ID != id {
			return nil, 0, badRequest("the body's id " + strconv.Quote(next.ID) + " must equal the URL's id " + strconv.Quote(id) + " (FHIR R4 http §update)")
		}
		return next, 0, nil
	})
}

// handlePatch applies an RFC 6902 JSON Patch (FHIR R4 http §patch) to the
// current version, which must exist, be visible to the token and not be
// deleted.
func (s *Server) handlePatch(rq *req) *apiError {
	return s.update(rq, []string{"application/json-patch+json"}, func(td *fhirstore.TypeDef, id string, cur *fhirstore.Resource, body []byte) (*fhirstore.Resource, int, *apiError) {
		if cur == nil {
			return nil, 0, notFound(td.Name + "/" + id + " does not exist")
		}
		if err := rq.writeAllowed(td.Name, scopes.Update, cur, nil); err != nil {
			return nil, 0, err
		}
		if cur.Deleted {
			return nil, 0, errf(http.StatusGone, "deleted", td.Name+"/"+id+" was deleted")
		}
		patched, err := applyPatch(cur.Raw, body)
		if err != nil {
			return nil, 0, err
		}
		next, perr := s.store.Parse(td.Name, patched)
		if perr != nil {
			return nil, 0, s.storeError(perr)
		}
		if next.ID != id {
			return nil, 0, badRequest("the patch must not change id")
		}
		return next, cur.Version, nil // the patch applies to this version only
	})
}

// newVersion makes the new version of td/id from the current one (nil
// when there is none) and the request body. base is the version it was
// computed from, which must still be current when it is written (0: any).
type newVersion func(td *fhirstore.TypeDef, id string, cur *fhirstore.Resource, body []byte) (next *fhirstore.Resource, base int, err *apiError)

// update is what update and patch share, in this order: a supported type,
// the update scope, a body of one of mediaTypes, the new version, If-Match
// (absent: the base version, so a write between the read and the write
// answers 412 instead of being lost), the scope check on the current and
// the new version, and the store's versioned write.
func (s *Server) update(rq *req, mediaTypes []string, next newVersion) *apiError {
	td, err := rq.supportedType()
	if err != nil {
		return err
	}
	if !rq.set.Decide(td.Name, scopes.Update).Allowed {
		return deny(td.Name, scopes.Update)
	}
	body, err := rq.readBody(mediaTypes...)
	if err != nil {
		return err
	}
	id := rq.r.PathValue("id")
	cur, _ := s.store.Get(td.Name, id)
	nr, base, err := next(td, id, cur, body)
	if err != nil {
		return err
	}
	match, err := rq.ifMatch()
	if err != nil {
		return err
	}
	if match == 0 {
		match = base
	}
	if err := rq.writeAllowed(td.Name, scopes.Update, cur, nr); err != nil {
		return err
	}
	r, created, serr := s.store.Update(rq.r.Context(), nr, match)
	if serr != nil {
		return s.storeError(serr)
	}
	if created {
		return rq.respondWrite(http.StatusCreated, r)
	}
	return rq.respondWrite(http.StatusOK, r)
}

func (s *Server) handleDelete(rq *req) *apiError {
	td, err := rq.supportedType()
	if err != nil {
		return err
	}
	id := rq.r.PathValue("id")
	if !rq.set.Decide(td.Name, scopes.Delete).Allowed {
		return deny(td.Name, scopes.Delete)
	}
	match, err := rq.ifMatch()
	if err != nil {
		return err
	}
	cur, ok := s.store.Get(td.Name, id)
	if !ok {
		return notFound(td.Name + "/" + id + " does not exist")
	}
	if err := rq.writeAllowed(td.Name, scopes.Delete, cur, nil); err != nil {
		return err
	}
	r, serr := s.store.Delete(rq.r.Context(), td.Name, id, match)
	if serr != nil {
		return s.storeError(serr)
	}
	rq.w.Header().Set("ETag", r.ETag)
	rq.w.WriteHeader(http.StatusNoContent)
	return nil
}
