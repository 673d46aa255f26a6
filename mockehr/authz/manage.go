package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// The management endpoint (SMART app-launch: management_endpoint; REV-08):
// the signed-in user sees the token families issued on their behalf (their
// fhirUser) and revokes any of them; revocation kills every access and
// refresh token of the family at once, in memory and on disk. The page is
// ui/authui's; these are the server's answers.

// ManageSession returns the signed-in user ("" when none) and the CSRF token
// of the browser session of r, saving a new session's cookie.
func (s *Server) ManageSession(w http.ResponseWriter, r *http.Request) (user, csrf string, err error) {
	sess := s.session(r)
	if sess.isNew() {
		if err := sess.save(w, r); err != nil {
			return "", "", &smart.PageError{Status: http.StatusInternalServerError, Title: "Session error", Detail: err.Error()}
		}
	}
	return sess.user(), sess.csrf(), nil
}

// ManageAnswer applies a posted manage form (csrf; action=signin with user,
// or action=revoke with grant) and returns a notice for the page. Errors
// are *smart.PageError.
func (s *Server) ManageAnswer(w http.ResponseWriter, r *http.Request) (string, error) {
	if err := r.ParseForm(); err != nil {
		return "", &smart.PageError{Status: http.StatusBadRequest, Title: "Malformed form", Detail: err.Error()}
	}
	sess := s.session(r)
	if !sess.checkCSRF(r.PostForm.Get("csrf")) {
		return "", &smart.PageError{Status: http.StatusForbidden, Title: "Form expired", Detail: "The form's security token does not match this browser session. Go back and try again."}
	}
	ctx := r.Context()
	notice := ""
	switch r.PostForm.Get("action") {
	case "signin":
		user := r.PostForm.Get("user")
		if !s.knownPerson(ctx, user) {
			return "", &smart.PageError{Status: http.StatusBadRequest, Title: "Unknown user", Detail: "There is no user " + user + "."}
		}
		sess.signIn(user)
	case "revoke":
		// One grant, or every grant of an app (the page shows one row per
		// app); all must be the user's before any is revoked.
		user, ids := sess.user(), r.PostForm["grant"]
		if user == "" {
			return "", &smart.PageError{Status: http.StatusForbidden, Title: "Not signed in", Detail: "Sign in to manage app access."}
		}
		owned := map[string]bool{}
		for _, g := range s.GrantsOf(ctx, user) {
			owned[g.ID] = true
		}
		if len(ids) == 0 {
			return "", &smart.PageError{Status: http.StatusBadRequest, Title: "No access chosen", Detail: "The form named no app access to revoke."}
		}
		for _, id := range ids {
			if !owned[id] {
				return "", &smart.PageError{Status: http.StatusNotFound, Title: "No such access", Detail: "You have no active app access with that id."}
			}
		}
		for _, id := range ids {
			if err := s.tokens.revokeFamilyID(ctx, id); err != nil {
				return "", &smart.PageError{Status: http.StatusInternalServerError, Title: "Revocation failed", Detail: err.Error()}
			}
		}
		notice = "Access revoked: the app's tokens no longer work."
	default:
		return "", &smart.PageError{Status: http.StatusBadRequest, Title: "Unknown action", Detail: "The form asked for nothing this page does."}
	}
	if err := sess.save(w, r); err != nil {
		return "", &smart.PageError{Status: http.StatusInternalServerError, Title: "Session error", Detail: err.Error()}
	}
	return notice, nil
}

// GrantsOf lists the active token families issued for user ("Type/id"),
// most recent expiry first.
func (s *Server) GrantsOf(ctx context.Context, user string) []smart.AppGrant {
	rows, err := s.tokens.rows.grants(ctx, user, s.now())
	if err != nil {
		s.log.ErrorContext(ctx, "manage: list grants", "err", err)
		return nil
	}
	var out []smart.AppGrant
	for _, row := range rows {
		var f family
		if err := json.Unmarshal(row.data, &f); err != nil {
			s.log.WarnContext(ctx, "manage: unreadable token family", "id", row.id, "err", err)
			continue
		}
		out = append(out, smart.AppGrant{ID: row.id, ClientID: f.ClientID, Scopes: f.Scopes, Patient: f.Context.Patient, Expires: f.ExpiresAt, Authorized: f.AuthTime})
	}
	return out
}

func (s *Server) knownPerson(ctx context.Context, ref string) bool {
	return s.opts.Directory != nil && strings.Count(ref, "/") == 1 && s.opts.Directory.ResourceExists(ctx, ref) &&
		(strings.HasPrefix(ref, "Patient/") || strings.HasPrefix(ref, "Practitioner/") || strings.HasPrefix(ref, "RelatedPerson/"))
}
