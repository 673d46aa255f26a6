package authz

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// authRequestLifetime bounds how long a user may take on the pages.
const authRequestLifetime = 30 * time.Minute

// presetContext fills in what the launch (or the login session) already
// decides: the user, the patient and the encounter, login and consent skips.
func (s *Server) presetContext(ctx context.Context, a *authRequest, ac *authorizeCtx) {
	l := ac.launch
	if l != nil {
		switch {
		case l.Type.IsProvider():
			a.UserKind = "Practitioner"
		case l.Type == launcher.PatientPortal || l.Type == launcher.PatientStandalone:
			a.UserKind = "Patient"
		}
		a.PatientChoice = append([]string(nil), l.Patients...)
		// In an EHR launch the user is already signed in to the EHR; a
		// standalone launch signs in only when the launch says skip_login.
		if ac.launchParam && l.Type.IsEHR() || l.SkipLogin {
			switch {
			case l.Type.IsProvider() && l.Practitioner != "":
				a.FHIRUser = "Practitioner/" + l.Practitioner
			case !l.Type.IsProvider() && len(l.Patients) == 1:
				a.FHIRUser = "Patient/" + l.Patients[0]
			}
			if a.FHIRUser != "" {
				a.AuthTime = s.now()
			}
		}
		if len(l.Patients) == 1 && (l.Type.IsEHR() || s.needsPatient(a)) {
			a.Patient = l.Patients[0]
		}
		if l.Encounter != "" && (ac.launchParam && l.Type.IsEHR() || has(a.Granted, scopes.KindLaunchContext, "encounter")) {
			a.Encounter = l.Encounter
		}
		if l.SkipConsent {
			a.Consented = true
		}
	}
	// A user already signed in on this browser is reused unless the app
	// asks for prompt=login, or the launch needs another kind of user.
	if a.FHIRUser == "" && ac.sessionUser != "" && !hasPrompt(a, oidc.PromptLogin) && s.userFits(a, ac.sessionUser) {
		a.FHIRUser = ac.sessionUser
		a.AuthTime = s.now()
	}
	s.patientFromUser(ctx, a)
}

// userFits reports whether a signed-in user may serve this request.
func (s *Server) userFits(a *authRequest, ref string) bool {
	kind, _, _ := strings.Cut(ref, "/")
	switch a.UserKind {
	case "Practitioner":
		return kind == "Practitioner"
	case "Patient":
		return kind == "Patient" || kind == "RelatedPerson"
	}
	return true
}

// patientFromUser sets the patient context a patient user implies: the
// patient themself, or a related person's only patient.
func (s *Server) patientFromUser(ctx context.Context, a *authRequest) {
	if a.Patient != "" || a.FHIRUser == "" || !s.needsPatient(a) {
		return
	}
	kind, id, _ := strings.Cut(a.FHIRUser, "/")
	switch kind {
	case "Patient":
		a.Patient = id
	case "RelatedPerson":
		if s.opts.Directory == nil {
			return
		}
		if p, err := s.opts.Directory.RelatedPerson(ctx, id); err == nil {
			if len(p.Patients) == 1 {
				a.Patient = p.Patients[0]
			} else if len(a.PatientChoice) == 0 {
				a.PatientChoice = p.Patients
			}
		}
	}
}

// needsPatient: launch/patient, or patient/ scopes (SAP-04), need a patient.
func (s *Server) needsPatient(a *authRequest) bool {
	if has(a.Granted, scopes.KindLaunchContext, "patient") {
		return true
	}
	for _, sc := range a.Granted {
		if sc.Kind == scopes.KindResource && sc.Context == scopes.ContextPatient {
			return true
		}
	}
	return false
}

func (s *Server) needsEncounter(a *authRequest) bool {
	return has(a.Granted, scopes.KindLaunchContext, "encounter")
}

func has(ss []scopes.Scope, kind scopes.Kind, launchType string) bool {
	for _, sc := range ss {
		if sc.Kind == kind && (launchType == "" || sc.LaunchType == launchType) {
			return true
		}
	}
	return false
}

// Page names, in flow order (the pages live in ui/authui).
const (
	stepLogin     = smart.StepLogin
	stepPatient   = smart.StepPatient
	stepEncounter = smart.StepEncounter
	stepConsent   = smart.StepConsent
)

// pendingStep names the first page the request still needs, or "".
func (s *Server) pendingStep(a *authRequest) smart.AuthStep {
	switch {
	case a.FHIRUser == "":
		return stepLogin
	case a.Patient == "" && s.needsPatient(a):
		return stepPatient
	case a.Encounter == "" && !a.encounterAsked && s.needsEncounter(a) && a.Patient != "":
		return stepEncounter
	case !a.Consented:
		return stepConsent
	}
	return ""
}

// nextStep returns where the browser goes next: the next page, or (all
// decided) the client's redirect_uri with a fresh code. prompt=none turns a
// needed page into the OIDC Core §3.1.2.6 error.
func (s *Server) nextStep(ctx context.Context, a *authRequest) (string, error) {
	step := s.pendingStep(a)
	if step != "" {
		if hasPrompt(a, oidc.PromptNone) {
			if step == stepLogin {
				return "", oidc.ErrLoginRequired().WithDescription("no user is signed in and prompt=none was requested")
			}
			if step == stepConsent {
				return "", &oidc.Error{ErrorType: "consent_required", Description: "consent is needed and prompt=none was requested"}
			}
			return "", oidc.ErrInteractionRequired().WithDescription("a selection is needed and prompt=none was requested")
		}
		return s.pageURL(step, a.ID), nil
	}
	return s.finishURL(ctx, a)
}

// finishURL issues the code and builds the client redirect (RFC 6749 §4.1.2).
func (s *Server) finishURL(ctx context.Context, a *authRequest) (string, error) {
	code, err := s.storage.issueCode(ctx, a.ID)
	if err != nil {
		return "", err
	}
	return s.codeURL(a, code), nil
}

// codeURL is the client redirect carrying code (RFC 6749 §4.1.2).
func (s *Server) codeURL(a *authRequest, code string) string {
	u, err := op.AuthResponseURL(a.RedirectURI, a.ResponseType, a.ResponseMode,
		&op.CodeResponseType{Code: code, State: a.State}, s.provider.Encoder())
	if err != nil {
		return s.errorURL(a, oidc.ErrServerError().WithDescription("the authorization response could not be encoded"))
	}
	return u
}

// errorURL builds an error redirect carrying the state (RFC 6749 §4.1.2.1).
func (s *Server) errorURL(a *authRequest, e *oidc.Error) string {
	e.State = a.State
	u, err := op.AuthResponseURL(a.RedirectURI, a.ResponseType, a.ResponseMode, e, s.provider.Encoder())
	if err != nil {
		return a.RedirectURI
	}
	return u
}

func (s *Server) pageURL(step smart.AuthStep, id string) string {
	return s.issuer + "/" + string(step) + "?id=" + url.QueryEscape(id)
}
