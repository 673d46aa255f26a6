package authz

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// The server's side of the login, picker and consent pages (the pages
// themselves, routes and presentation, are ui/authui; the contract types are
// in mockehr/smart). Every answer is checked here and committed as one
// check-and-set on the request (storage.commit), so pages never change a
// request themselves.

// ErrorPages renders the readable HTML error page of the authorization
// server (ui/authui implements it). Without one, a plain page is written.
type ErrorPages interface {
	ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, detail string)
}

// errorPage is the one place authorization errors become HTML.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	if s.opts.Pages != nil {
		s.opts.Pages.ErrorPage(w, r, status, title, detail)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintf(w, "<!doctype html><title>%s</title><h1>%s</h1><p>%s</p>\n", html.EscapeString(title), html.EscapeString(title), html.EscapeString(detail))
}

var errWrongBrowser = &smart.PageError{Status: http.StatusForbidden, Title: "Wrong browser",
	Detail: "This authorization request was started in another browser session."}

// PendingPage returns the pending request id for the page step, bound to
// the browser of r (a leaked request id cannot be completed elsewhere).
// When the request needs another page (or is complete), next is where the
// browser goes instead and the request is nil. Errors are *smart.PageError.
func (s *Server) PendingPage(w http.ResponseWriter, r *http.Request, id string, step smart.AuthStep) (*smart.PendingAuth, string, error) {
	a, sess, err := s.pageRequest(r, id)
	if err != nil {
		return nil, "", err
	}
	if cur := s.pendingStep(a); cur != step {
		next, err := s.next(r.Context(), a)
		return nil, next, err
	}
	if sess.isNew() {
		if err := sess.save(w, r); err != nil {
			return nil, "", &smart.PageError{Status: http.StatusInternalServerError, Title: "Session error", Detail: err.Error()}
		}
	}
	p := &smart.PendingAuth{
		ID: a.ID, ClientID: a.ClientID, Step: step, CSRF: sess.csrf(), UserKind: a.UserKind,
		FHIRUser: a.FHIRUser, Patient: a.Patient, PatientChoice: slices.Clone(a.PatientChoice), Scopes: rawScopes(a.Requested),
	}
	if a.Launch != nil {
		p.LaunchType = string(a.Launch.Type)
	}
	return p, "", nil
}

// AnswerPage applies the answer a page posted (form fields id, csrf,
// decision=deny, and user | patient | encounter | scope…) and returns where
// the browser goes next: the next page, or the app's redirect_uri with a
// code or an error. Errors are *smart.PageError.
func (s *Server) AnswerPage(w http.ResponseWriter, r *http.Request, step smart.AuthStep) (string, error) {
	if err := r.ParseForm(); err != nil {
		return "", &smart.PageError{Status: http.StatusBadRequest, Title: "Malformed form", Detail: err.Error()}
	}
	a, sess, err := s.pageRequest(r, r.PostForm.Get("id"))
	if err != nil {
		return "", err
	}
	next, err := s.answerPage(w, r, step, a, sess)
	s.recordPage(r, a, step, next, err)
	return next, err
}

func (s *Server) answerPage(w http.ResponseWriter, r *http.Request, step smart.AuthStep, a *authRequest, sess *browserSession) (string, error) {
	if !sess.checkCSRF(r.PostForm.Get("csrf")) {
		return "", &smart.PageError{Status: http.StatusForbidden, Title: "Form expired", Detail: "The form's security token does not match this browser session. Go back and try again."}
	}
	ctx := r.Context()
	if r.PostForm.Get("decision") == "deny" {
		if err := s.storage.deny(ctx, a.ID); err != nil {
			return "", errAlreadyAnswered
		}
		return s.errorURL(a, oidc.ErrAccessDenied().WithDescription("the user denied access")), nil // AZ-11
	}
	if s.pendingStep(a) != step {
		return "", errAlreadyAnswered
	}
	if msg := s.apply(ctx, step, a, sess, r); msg != "" {
		return "", &smart.PageError{Status: http.StatusBadRequest, Title: "Invalid choice", Detail: msg}
	}
	if err := s.storage.commit(ctx, a); err != nil {
		return "", errAlreadyAnswered
	}
	if sess.isNew() {
		if err := sess.save(w, r); err != nil {
			return "", &smart.PageError{Status: http.StatusInternalServerError, Title: "Session error", Detail: err.Error()}
		}
	}
	return s.next(ctx, a)
}

// errAlreadyAnswered: a second answer to a finished or changed request
// (double submit, a second tab); the first answer stands.
var errAlreadyAnswered = &smart.PageError{Status: http.StatusConflict, Title: "Already answered",
	Detail: "This authorization request was already answered (in another tab, or by a second click); the first answer stands. Return to the app."}

// pageRequest loads a snapshot of the pending request and checks it belongs
// to this browser.
func (s *Server) pageRequest(r *http.Request, id string) (*authRequest, *browserSession, error) {
	a, err := s.storage.snapshot(r.Context(), id)
	if err != nil && !errors.Is(err, errNoRequest) {
		s.log.ErrorContext(r.Context(), "reading an authorization request failed", "err", err)
		return nil, nil, &smart.PageError{Status: http.StatusServiceUnavailable, Title: "Sign-in temporarily unavailable",
			Detail: "The database holding this sign-in did not answer. Try again in a moment."}
	}
	if err != nil {
		return nil, nil, &smart.PageError{Status: http.StatusBadRequest, Title: "Sign-in request expired",
			Detail: "This authorization request is unknown, finished or expired. Start again from the app."}
	}
	sess := s.session(r)
	if a.BrowserID == "" || sess.browserID() != a.BrowserID {
		return nil, nil, errWrongBrowser
	}
	return a, sess, nil
}

// next is where the browser goes after a page: the next page, or back to
// the app (a code, or an OAuth error redirect).
func (s *Server) next(ctx context.Context, a *authRequest) (string, error) {
	next, err := s.nextStep(ctx, a)
	if err == nil {
		return next, nil
	}
	var e *oidc.Error
	switch {
	case errors.As(err, &e):
		return s.errorURL(a, e), nil
	case errors.Is(err, errRequestChanged):
		return "", errAlreadyAnswered
	}
	return "", &smart.PageError{Status: http.StatusInternalServerError, Title: "Authorization failed", Detail: err.Error()}
}

// apply records one page's answer on the snapshot a; a non-empty message
// is a bad choice.
func (s *Server) apply(ctx context.Context, step smart.AuthStep, a *authRequest, sess *browserSession, r *http.Request) string {
	f := r.PostForm
	switch step {
	case stepLogin:
		ref := f.Get("user")
		if !s.userAllowed(ctx, a, ref) {
			return fmt.Sprintf("%q cannot sign in for this request.", ref)
		}
		sess.signIn(ref)
		a.FHIRUser, a.AuthTime, a.SessionID = ref, s.now(), sess.sessionID()
		s.patientFromUser(ctx, a)
	case stepPatient:
		id := f.Get("patient")
		if len(a.PatientChoice) > 0 && !slices.Contains(a.PatientChoice, id) {
			return "That patient is not one this launch allows."
		}
		if s.opts.Directory != nil {
			if _, err := s.opts.Directory.Patient(ctx, id); err != nil {
				return "Unknown patient."
			}
		}
		a.Patient = id
	case stepEncounter:
		id := f.Get("encounter")
		a.encounterAsked = true
		if id == "" {
			return ""
		}
		if s.opts.Directory != nil {
			e, err := s.opts.Directory.Encounter(ctx, id)
			if err != nil || e.PatientID != a.Patient {
				return "That encounter does not belong to the patient."
			}
		}
		a.Encounter = id
	case stepConsent:
		kept := f["scope"]
		var granted []scopes.Scope
		for _, sc := range a.Requested {
			if slices.Contains(kept, sc.Raw) {
				granted = append(granted, sc)
			}
		}
		if len(granted) == 0 {
			return "Choose at least one permission, or deny."
		}
		a.Granted, a.Consented = granted, true
	default:
		return "Unknown page."
	}
	return ""
}

func (s *Server) userAllowed(ctx context.Context, a *authRequest, ref string) bool {
	kind, id, ok := strings.Cut(ref, "/")
	if !ok || id == "" || !s.userFits(a, ref) {
		return false
	}
	d := s.opts.Directory
	if d == nil {
		return false
	}
	var err error
	switch kind {
	case "Practitioner":
		_, err = d.Practitioner(ctx, id)
	case "Patient":
		if len(a.PatientChoice) > 0 && !slices.Contains(a.PatientChoice, id) {
			return false
		}
		_, err = d.Patient(ctx, id)
	case "RelatedPerson":
		_, err = d.RelatedPerson(ctx, id)
	default:
		return false
	}
	return err == nil
}

// handleEndSession is OIDC RP-initiated logout: the login session ends and
// online_access tokens bound to it die (REF-10); then back to the app when
// post_logout_redirect_uri is one of its redirect URIs, else a page.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sess := s.session(r)
	if err := s.tokens.revokeSession(r.Context(), sess.sessionID()); err != nil {
		s.log.ErrorContext(r.Context(), "end_session: revoking the session's online_access tokens failed", "err", err)
	}
	sess.signOut()
	if err := sess.save(w, r); err != nil {
		s.log.WarnContext(r.Context(), "end_session: the session cookie could not be cleared", "err", err)
	}
	target := r.Form.Get("post_logout_redirect_uri")
	if target != "" && s.logoutTargetAllowed(r.Context(), r.Form.Get("client_id"), target) {
		if st := r.Form.Get("state"); st != "" {
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			target += sep + "state=" + url.QueryEscape(st)
		}
		http.Redirect(w, r, target, http.StatusFound)
		return
	}
	s.errorPage(w, r, http.StatusOK, "Signed out", "You are signed out of the ehrsim authorization server.")
}

func (s *Server) logoutTargetAllowed(ctx context.Context, clientID, target string) bool {
	if clientID == "" {
		return false
	}
	def, msg := s.resolveClient(ctx, clientID, nil)
	return msg == "" && !def.AnyRedirect && slices.Contains(def.Client.RedirectURIs, target)
}
