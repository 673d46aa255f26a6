package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/ui/authui"
)

// The management endpoint (SMART app-launch: management_endpoint; REV-08):
// the signed-in user sees the token families issued on their behalf (their
// fhirUser) and revokes any of them; revocation kills every access and
// refresh token of the family at once, in memory and on disk.

func (s *Server) mountManage(mux *http.ServeMux) {
	mux.HandleFunc("GET /auth/manage", s.manageGet)
	mux.HandleFunc("POST /auth/manage", s.managePost)
}

func (s *Server) manageGet(w http.ResponseWriter, r *http.Request) {
	sess := s.session(r)
	if sess.isNew() {
		sess.save(w, r)
	}
	v := authui.ManageView{CSRF: sess.csrf(), Action: s.issuer + "/manage", Notice: r.URL.Query().Get("notice")}
	ctx := r.Context()
	if user := sess.user(); user != "" {
		v.User = s.personName(ctx, user)
		v.Grants = s.grantsOf(ctx, user)
	} else {
		v.People = s.everyone(ctx)
	}
	s.render(w, r, http.StatusOK, authui.ManagePage(v))
}

func (s *Server) managePost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Malformed form", err.Error())
		return
	}
	sess := s.session(r)
	if !sess.checkCSRF(r.PostForm.Get("csrf")) {
		s.errorPage(w, r, http.StatusForbidden, "Form expired", "The form's security token does not match this browser session. Go back and try again.")
		return
	}
	ctx := r.Context()
	notice := ""
	switch r.PostForm.Get("action") {
	case "signin":
		user := r.PostForm.Get("user")
		if !s.knownPerson(ctx, user) {
			s.errorPage(w, r, http.StatusBadRequest, "Unknown user", "There is no user "+user+".")
			return
		}
		sess.signIn(user)
	case "revoke":
		user, id := sess.user(), r.PostForm.Get("grant")
		if user == "" {
			s.errorPage(w, r, http.StatusForbidden, "Not signed in", "Sign in to manage app access.")
			return
		}
		owned := false
		for _, g := range s.grantsOf(ctx, user) {
			owned = owned || g.ID == id
		}
		if !owned {
			s.errorPage(w, r, http.StatusNotFound, "No such access", "You have no active app access with that id.")
			return
		}
		if err := s.tokens.revokeFamilyID(ctx, id); err != nil {
			s.errorPage(w, r, http.StatusInternalServerError, "Revocation failed", err.Error())
			return
		}
		notice = "Access revoked: the app's tokens no longer work."
	default:
		s.errorPage(w, r, http.StatusBadRequest, "Unknown action", "The form asked for nothing this page does.")
		return
	}
	if err := sess.save(w, r); err != nil {
		s.errorPage(w, r, http.StatusInternalServerError, "Session error", err.Error())
		return
	}
	u := s.issuer + "/manage"
	if notice != "" {
		u += "?notice=" + strings.ReplaceAll(notice, " ", "+")
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// grantsOf lists the active token families issued for user ("Type/id").
func (s *Server) grantsOf(ctx context.Context, user string) []authui.GrantRow {
	now := s.now()
	rows, err := s.opts.DB.SQL.QueryContext(ctx, `SELECT id, data FROM authz_families
		WHERE revoked = 0 AND expires_at > ? AND json_extract(CAST(data AS TEXT), '$.fhir_user') = ?
		ORDER BY expires_at DESC`, now.Unix(), user)
	if err != nil {
		s.log.ErrorContext(ctx, "manage: list grants", "err", err)
		return nil
	}
	defer rows.Close()
	var out []authui.GrantRow
	for rows.Next() {
		var id string
		var data []byte
		var f family
		if rows.Scan(&id, &data) != nil || json.Unmarshal(data, &f) != nil {
			continue
		}
		out = append(out, authui.GrantRow{
			ID: id, Client: f.ClientID, Scopes: strings.Join(f.Scopes, " "), Patient: f.Patient,
			Expires: f.ExpiresAt.UTC().Format(time.DateTime + " UTC"),
		})
	}
	return out
}

// everyone lists the people who can sign in to the manage page.
func (s *Server) everyone(ctx context.Context) []authui.Person {
	d := s.opts.Directory
	if d == nil {
		return nil
	}
	var out []authui.Person
	pats, _ := d.SearchPatients(ctx, "", pickerLimit)
	for _, p := range pats {
		out = append(out, authui.Person{Ref: "Patient/" + p.ID, Name: p.Name, Detail: personDetail(p, s.now())})
	}
	rps, _ := d.RelatedPersons(ctx)
	for _, p := range rps {
		out = append(out, authui.Person{Ref: "RelatedPerson/" + p.ID, Name: p.Name, Detail: p.Role})
	}
	prs, _ := d.Practitioners(ctx)
	for _, p := range prs {
		out = append(out, authui.Person{Ref: "Practitioner/" + p.ID, Name: p.Name, Detail: p.Role})
	}
	return out
}

func (s *Server) knownPerson(ctx context.Context, ref string) bool {
	return s.opts.Directory != nil && strings.Count(ref, "/") == 1 && s.opts.Directory.ResourceExists(ctx, ref) &&
		(strings.HasPrefix(ref, "Patient/") || strings.HasPrefix(ref, "Practitioner/") || strings.HasPrefix(ref, "RelatedPerson/"))
}

func (s *Server) personName(ctx context.Context, ref string) string {
	d := s.opts.Directory
	typ, id, _ := strings.Cut(ref, "/")
	if d != nil {
		var name string
		switch typ {
		case "Patient":
			p, _ := d.Patient(ctx, id)
			name = p.Name
		case "Practitioner":
			p, _ := d.Practitioner(ctx, id)
			name = p.Name
		case "RelatedPerson":
			p, _ := d.RelatedPerson(ctx, id)
			name = p.Name
		}
		if name != "" {
			return name
		}
	}
	return ref
}
