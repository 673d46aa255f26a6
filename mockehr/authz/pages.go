package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/ui/authui"
)

const pickerLimit = 50

func (s *Server) mountPages(mux *http.ServeMux) {
	for _, step := range []string{stepLogin, stepPatient, stepEncounter, stepConsent} {
		mux.HandleFunc("GET /auth/"+step, s.pageGet(step))
		mux.HandleFunc("POST /auth/"+step, s.pagePost(step))
	}
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The simulated EHR (same origin) frames apps, and an app's authorize
	// request lands these pages in that frame; any other origin framing
	// them could clickjack a consent, so only our own origin may.
	w.Header().Set("Content-Security-Policy", "frame-ancestors 'self'")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.WriteHeader(status)
	if err := c.Render(r.Context(), w); err != nil {
		s.log.ErrorContext(r.Context(), "render", "err", err)
	}
}

// errorPage is the one place authorization errors become HTML.
func (s *Server) errorPage(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	s.render(w, r, status, authui.ErrorPage(authui.ErrorView{Status: status, Title: title, Detail: detail}))
}

// pageRequest loads the auth request a page is for and checks it belongs to
// this browser (the session binding stops a leaked request id from being
// completed elsewhere).
func (s *Server) pageRequest(w http.ResponseWriter, r *http.Request, id string) (*authRequest, *browserSession, bool) {
	a, ok := s.storage.snapshot(id)
	if !ok {
		s.errorPage(w, r, http.StatusBadRequest, "Sign-in request expired", "This authorization request is unknown, finished or expired. Start again from the app.")
		return nil, nil, false
	}
	sess := s.session(r)
	if a.BrowserID == "" || sess.browserID() != a.BrowserID {
		s.errorPage(w, r, http.StatusForbidden, "Wrong browser", "This authorization request was started in another browser session.")
		return nil, nil, false
	}
	return a, sess, true
}

func (s *Server) pageGet(step string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, sess, ok := s.pageRequest(w, r, r.URL.Query().Get("id"))
		if !ok {
			return
		}
		if cur := s.pendingStep(a); cur != step {
			s.advance(w, r, a)
			return
		}
		if sess.isNew() {
			if err := sess.save(w, r); err != nil {
				s.errorPage(w, r, http.StatusInternalServerError, "Session error", err.Error())
				return
			}
		}
		h := authui.Hidden{RequestID: a.ID, CSRF: sess.csrf()}
		action := s.issuer + "/" + step
		q := strings.TrimSpace(r.URL.Query().Get("q"))
		ctx := r.Context()
		switch step {
		case stepLogin:
			s.render(w, r, http.StatusOK, authui.LoginPage(s.loginView(ctx, a, h, action, q)))
		case stepPatient:
			s.render(w, r, http.StatusOK, authui.PatientPickerPage(s.patientView(ctx, a, h, action, q)))
		case stepEncounter:
			s.render(w, r, http.StatusOK, authui.EncounterPickerPage(s.encounterView(ctx, a, h, action)))
		case stepConsent:
			s.render(w, r, http.StatusOK, authui.ConsentPage(s.consentView(ctx, a, h, action)))
		}
	}
}

func (s *Server) pagePost(step string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			s.errorPage(w, r, http.StatusBadRequest, "Malformed form", err.Error())
			return
		}
		a, sess, ok := s.pageRequest(w, r, r.PostForm.Get("id"))
		if !ok {
			return
		}
		if !sess.checkCSRF(r.PostForm.Get("csrf")) {
			s.errorPage(w, r, http.StatusForbidden, "Form expired", "The form's security token does not match this browser session. Go back and try again.")
			return
		}
		if r.PostForm.Get("decision") == "deny" {
			if err := s.storage.deny(a.ID); err != nil {
				s.alreadyAnswered(w, r)
				return
			}
			http.Redirect(w, r, s.errorURL(a, oidc.ErrAccessDenied().WithDescription("the user denied access")), http.StatusSeeOther) // AZ-11
			return
		}
		if msg := s.apply(r.Context(), step, a, sess, r); msg != "" {
			s.errorPage(w, r, http.StatusBadRequest, "Invalid choice", msg)
			return
		}
		if err := s.storage.commit(a); err != nil {
			s.alreadyAnswered(w, r)
			return
		}
		if sess.isNew() {
			if err := sess.save(w, r); err != nil {
				s.errorPage(w, r, http.StatusInternalServerError, "Session error", err.Error())
				return
			}
		}
		s.advance(w, r, a)
	}
}

// advance sends the browser to the next page or back to the app.
func (s *Server) advance(w http.ResponseWriter, r *http.Request, a *authRequest) {
	next, err := s.nextStep(r.Context(), a)
	if err != nil {
		var e *oidc.Error
		switch {
		case errors.As(err, &e):
			next = s.errorURL(a, e)
		case errors.Is(err, errRequestChanged):
			s.alreadyAnswered(w, r)
			return
		default:
			s.errorPage(w, r, http.StatusInternalServerError, "Authorization failed", err.Error())
			return
		}
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// alreadyAnswered is the page for a second answer to a finished request
// (double submit, a second tab): the first answer stands.
func (s *Server) alreadyAnswered(w http.ResponseWriter, r *http.Request) {
	s.errorPage(w, r, http.StatusConflict, "Already answered",
		"This authorization request was already answered (in another tab, or by a second click); the first answer stands. Return to the app.")
}

// apply records one page's answer; a non-empty message is a bad choice.
func (s *Server) apply(ctx context.Context, step string, a *authRequest, sess *browserSession, r *http.Request) string {
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

func matches(p smart.PersonSummary, q string) bool {
	return q == "" || strings.Contains(strings.ToLower(p.Name), strings.ToLower(q))
}

func (s *Server) loginView(ctx context.Context, a *authRequest, h authui.Hidden, action, q string) authui.LoginView {
	v := authui.LoginView{Hidden: h, Action: action, SearchAction: action, Query: q, ClientID: a.ClientID}
	d := s.opts.Directory
	if d == nil {
		v.Error = "No directory of users is configured."
		return v
	}
	if a.UserKind != "Patient" {
		ps, _ := d.Practitioners(ctx)
		for _, p := range ps {
			if matches(p, q) && len(v.Practitioners) < pickerLimit {
				v.Practitioners = append(v.Practitioners, authui.Person{Ref: "Practitioner/" + p.ID, Name: p.Name, Detail: p.Role})
			}
		}
	}
	if a.UserKind != "Practitioner" {
		for _, p := range s.patients(ctx, a, q) {
			v.Patients = append(v.Patients, authui.Person{Ref: "Patient/" + p.ID, Name: p.Name, Detail: personDetail(p, s.now())})
		}
		rps, _ := d.RelatedPersons(ctx)
		for _, p := range rps {
			if matches(p, q) && len(v.Related) < pickerLimit {
				v.Related = append(v.Related, authui.Person{Ref: "RelatedPerson/" + p.ID, Name: p.Name, Detail: p.Role})
			}
		}
	}
	return v
}

// patients lists the patients a picker may show: the launch's list, or a
// directory search.
func (s *Server) patients(ctx context.Context, a *authRequest, q string) []smart.PersonSummary {
	d := s.opts.Directory
	var out []smart.PersonSummary
	if len(a.PatientChoice) > 0 {
		for _, id := range a.PatientChoice {
			if p, err := d.Patient(ctx, id); err == nil && (matches(p, q) || strings.HasPrefix(p.BirthDate, q) || p.MRN == q) {
				out = append(out, p)
			}
		}
		return out
	}
	out, _ = d.SearchPatients(ctx, q, pickerLimit)
	return out
}

func age(birth string, now time.Time) string {
	t, err := time.Parse("2006-01-02", birth)
	if err != nil {
		return "age unknown"
	}
	y := now.Year() - t.Year()
	if now.YearDay() < t.YearDay() {
		y--
	}
	return strconv.Itoa(y) + " y"
}

func personDetail(p smart.PersonSummary, now time.Time) string {
	parts := []string{p.Gender, p.BirthDate + " (" + age(p.BirthDate, now) + ")"}
	if p.MRN != "" {
		parts = append(parts, "MRN "+p.MRN)
	}
	return strings.Join(parts, " · ")
}

func (s *Server) patientView(ctx context.Context, a *authRequest, h authui.Hidden, action, q string) authui.PatientPickerView {
	v := authui.PatientPickerView{Hidden: h, Action: action, SearchAction: action, Query: q, Limited: len(a.PatientChoice) > 0}
	if s.opts.Directory == nil {
		return v
	}
	for _, p := range s.patients(ctx, a, q) {
		v.Patients = append(v.Patients, authui.PatientRow{ID: p.ID, Name: p.Name, Gender: p.Gender, BirthDate: p.BirthDate, Age: age(p.BirthDate, s.now()), MRN: p.MRN})
	}
	return v
}

func (s *Server) encounterView(ctx context.Context, a *authRequest, h authui.Hidden, action string) authui.EncounterPickerView {
	v := authui.EncounterPickerView{Hidden: h, Action: action, PatientName: a.Patient}
	d := s.opts.Directory
	if d == nil {
		return v
	}
	if p, err := d.Patient(ctx, a.Patient); err == nil {
		v.PatientName = p.Name
	}
	encs, _ := d.Encounters(ctx, a.Patient)
	for _, e := range encs {
		period := e.Start.Format("2006-01-02")
		if !e.End.IsZero() {
			period += " – " + e.End.Format("2006-01-02")
		}
		v.Encounters = append(v.Encounters, authui.EncounterRow{ID: e.ID, Type: e.Type, Class: e.Class, Status: e.Status, Period: period, Location: e.Location})
	}
	return v
}

func (s *Server) consentView(ctx context.Context, a *authRequest, h authui.Hidden, action string) authui.ConsentView {
	v := authui.ConsentView{Hidden: h, Action: action, ClientID: a.ClientID, UserName: a.FHIRUser}
	if d := s.opts.Directory; d != nil {
		kind, id, _ := strings.Cut(a.FHIRUser, "/")
		var p smart.PersonSummary
		var err error
		switch kind {
		case "Practitioner":
			p, err = d.Practitioner(ctx, id)
		case "Patient":
			p, err = d.Patient(ctx, id)
		case "RelatedPerson":
			p, err = d.RelatedPerson(ctx, id)
		}
		if err == nil && p.Name != "" {
			v.UserName = p.Name
		}
		if a.Patient != "" {
			v.PatientName = a.Patient
			if pp, err := d.Patient(ctx, a.Patient); err == nil {
				v.PatientName = pp.Name
			}
		}
	}
	for _, sc := range a.Requested {
		v.Scopes = append(v.Scopes, authui.ScopeItem{Raw: sc.Raw, Description: scopes.Describe(sc)})
	}
	return v
}

// handleEndSession is OIDC RP-initiated logout: the login session ends and
// online_access tokens bound to it die (REF-10); then back to the app when
// post_logout_redirect_uri is one of its redirect URIs, else a page.
func (s *Server) handleEndSession(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	sess := s.session(r)
	s.tokens.revokeSession(r.Context(), sess.sessionID())
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
