package fhir

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// readable finds typ/id and checks read access: 404 when absent or outside
// the compartment, 403 without the r letter or outside granular filters,
// 410 when deleted (FHIR R4 http §read).
func (rq *req) readable(td *fhirstore.TypeDef, id string) (*fhirstore.Resource, *apiError) {
	r, ok := rq.s.store.Get(td.Name, id)
	if rq.alwaysReadable(td.Name, id) {
		if !ok {
			return nil, notFound(td.Name + "/" + id + " does not exist")
		}
	} else {
		p := rq.policy(td.Name, scopes.Read)
		if !p.Allowed {
			return nil, deny(td.Name, scopes.Read)
		}
		if !ok {
			return nil, notFound(td.Name + "/" + id + " does not exist")
		}
		switch p.check(r) {
		case visHidden:
			return nil, notFound(td.Name + "/" + id + " does not exist in the patient compartment this token is limited to")
		case visFiltered:
			if !r.Deleted {
				return nil, forbidden(td.Name + "/" + id + " matches none of the granular scopes granted for " + td.Name)
			}
		}
	}
	if r.Deleted {
		return nil, errf(http.StatusGone, "deleted", td.Name+"/"+id+" was deleted")
	}
	return r, nil
}

func (s *Server) handleRead(rq *req) *apiError {
	td, err := rq.supportedType()
	if err != nil {
		return err
	}
	r, err := rq.readable(td, rq.r.PathValue("id"))
	if err != nil {
		return err
	}
	if rq.r.URL.RawQuery != "" && rq.r.URL.Query().Has("_elements") {
		return writeResource(rq.w, http.StatusOK, r, elements(r.Raw, strings.Split(rq.r.URL.Query().Get("_elements"), ",")))
	}
	if inm := rq.r.Header.Get("If-None-Match"); inm != "" && inm == r.ETag {
		h := rq.w.Header()
		h.Set("ETag", r.ETag)
		rq.w.WriteHeader(http.StatusNotModified)
		return nil
	}
	return writeResource(rq.w, http.StatusOK, r, r.Raw)
}

func writeResource(w http.ResponseWriter, status int, r *fhirstore.Resource, body []byte) *apiError {
	writeBody(w, status, body, "Etag", r.ETag, "Last-Modified", r.LastModified)
	return nil
}

func (s *Server) handleVRead(rq *req) *apiError {
	td, err := rq.supportedType()
	if err != nil {
		return err
	}
	id, vid := rq.r.PathValue("id"), rq.r.PathValue("vid")
	n, convErr := strconv.Atoi(vid)
	if convErr != nil || n < 1 {
		return badRequest("version id " + strconv.Quote(vid) + " is not a positive integer")
	}
	versions, err := rq.history(td, id)
	if err != nil {
		return err
	}
	for _, v := range versions {
		if v.Version == n {
			if v.Deleted {
				return errf(http.StatusGone, "deleted", td.Name+"/"+id+" version "+vid+" is a deletion")
			}
			h := rq.w.Header()
			h.Set("Content-Location", rq.base+"/"+td.Name+"/"+id+"/_history/"+vid)
			return writeResource(rq.w, http.StatusOK, v, v.Raw)
		}
	}
	return notFound(td.Name + "/" + id + " has no version " + vid)
}

// history returns the versions of typ/id the token may read (r letter,
// RS-07), newest first; 404 if none.
func (rq *req) history(td *fhirstore.TypeDef, id string) ([]*fhirstore.Resource, *apiError) {
	all, err := rq.s.store.History(rq.r.Context(), td.Name, id)
	if err != nil {
		rq.s.logger.ErrorContext(rq.r.Context(), "fhir: reading history failed", "type", td.Name, "id", id, "err", err)
		return nil, errf(http.StatusInternalServerError, "exception", "the version history could not be read")
	}
	if rq.alwaysReadable(td.Name, id) {
		if len(all) == 0 {
			return nil, notFound(td.Name + "/" + id + " does not exist")
		}
		return all, nil
	}
	p := rq.policy(td.Name, scopes.Read)
	if !p.Allowed {
		return nil, deny(td.Name, scopes.Read)
	}
	var out []*fhirstore.Resource
	filtered := false
	for _, v := range all {
		switch p.check(v) {
		case visOK:
			out = append(out, v)
		case visFiltered:
			if v.Deleted {
				out = append(out, v) // a deletion carries no data to filter
			} else {
				filtered = true
			}
		}
	}
	if len(out) == 0 {
		if filtered {
			return nil, forbidden(td.Name + "/" + id + " matches none of the granular scopes granted for " + td.Name)
		}
		return nil, notFound(td.Name + "/" + id + " does not exist")
	}
	return out, nil
}

func (s *Server) handleHistory(rq *req) *apiError {
	td, err := rq.supportedType()
	if err != nil {
		return err
	}
	versions, err := rq.history(td, rq.r.PathValue("id"))
	if err != nil {
		return err
	}
	var b bytes.Buffer
	b.WriteString(`{"resourceType":"Bundle","type":"history","total":`)
	b.WriteString(strconv.Itoa(len(versions)))
	b.WriteString(`,"link":[{"relation":"self","url":`)
	writeJSONString(&b, rq.base+"/"+td.Name+"/"+rq.r.PathValue("id")+"/_history")
	b.WriteString(`}],"entry":[`)
	for i, v := range versions {
		if i > 0 {
			b.WriteByte(',')
		}
		url := td.Name + "/" + v.ID
		b.WriteString(`{"fullUrl":`)
		writeJSONString(&b, rq.base+"/"+url)
		method, status := "PUT", "200 OK"
		switch {
		case v.Deleted:
			method, status = "DELETE", "204 No Content"
		case v.Version == 1:
			method, status = "POST", "201 Created"
		}
		if !v.Deleted {
			b.WriteString(`,"resource":`)
			b.Write(v.Raw)
		}
		b.WriteString(`,"request":{"method":"` + method + `","url":`)
		if method == "POST" {
			writeJSONString(&b, td.Name)
		} else {
			writeJSONString(&b, url)
		}
		b.WriteString(`},"response":{"status":"` + status + `","etag":`)
		writeJSONString(&b, v.ETag)
		b.WriteString(`,"lastModified":"` + v.LastUpdated.Format("2006-01-02T15:04:05.999999Z07:00") + `"}}`)
	}
	b.WriteString("]}")
	writeBody(rq.w, http.StatusOK, b.Bytes())
	return nil
}
