package launcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// build validates req against the contract and the Directory and returns the
// launch with every default applied (ID and times are set by Mint).
func (s *Service) build(ctx context.Context, req Request) (*Launch, error) {
	lt := LaunchType(req.LaunchType)
	if req.LaunchType == "" {
		return nil, fieldErr("launch_type", "required: one of %s", typeList())
	}
	if !knownType(lt) {
		return nil, fieldErr("launch_type", "unknown launch type %q: one of %s", req.LaunchType, typeList())
	}
	l := &Launch{
		Type:                 lt,
		FHIRContext:          req.FHIRContext,
		NeedPatientBanner:    req.NeedPatientBanner,
		SmartStyleURL:        req.SmartStyleURL,
		Intent:               req.Intent,
		Tenant:               req.Tenant,
		SkipLogin:            req.SkipLogin,
		SkipConsent:          req.SkipConsent,
		SimulateError:        smart.SimulatedError(req.SimulateError),
		AppLaunchURL:         req.AppLaunchURL,
		LaunchOnce:           req.LaunchOnce,
		AccessTokenLifetime:  req.AccessTokenLifetime,
		RefreshTokenLifetime: req.RefreshTokenLifetime,
	}
	if lt == BackendService {
		if err := backendOnlyFields(req); err != nil {
			return nil, err
		}
	}
	steps := []func(context.Context, Request, *Launch) error{
		s.people, s.context, s.presentation, s.client, checkSimulatedError, checkLifetimes,
	}
	for _, step := range steps {
		if err := step(ctx, req, l); err != nil {
			return nil, err
		}
	}
	return l, nil
}

func knownType(t LaunchType) bool {
	for _, k := range LaunchTypes {
		if k == t {
			return true
		}
	}
	return false
}

func typeList() string {
	var s []string
	for _, t := range LaunchTypes {
		s = append(s, string(t))
	}
	return strings.Join(s, ", ")
}

// backendOnlyFields refuses user-facing fields on a backend-service launch:
// there is no user, no browser and no launch context, and silently dropping
// them would hide a script's mistake.
func backendOnlyFields(req Request) error {
	enc := req.Encounter
	checks := []struct {
		field string
		set   bool
	}{
		{"patient", req.Patient != ""},
		{"encounter", req.Encounter != "" && enc != EncounterAuto && enc != EncounterNone},
		{"practitioner", req.Practitioner != ""},
		{"fhir_context", len(req.FHIRContext) > 0},
		{"need_patient_banner", req.NeedPatientBanner != nil},
		{"smart_style_url", req.SmartStyleURL != ""},
		{"intent", req.Intent != ""},
		{"skip_login", req.SkipLogin},
		{"skip_consent", req.SkipConsent},
		{"app_launch_url", req.AppLaunchURL != ""},
	}
	for _, c := range checks {
		if c.set {
			return fieldErr(c.field, "does not apply to backend-service launches (no user, no browser)")
		}
	}
	return nil
}

// dirErr turns a Directory lookup failure into a FieldError for ErrNotFound
// and an internal error otherwise.
func dirErr(err error, field, what, id string) error {
	if errors.Is(err, smart.ErrNotFound) {
		return fieldErr(field, "unknown %s id %q", what, id)
	}
	return fmt.Errorf("launcher: %s %q: %w", what, id, err)
}

// people resolves patients, encounter and practitioner.
func (s *Service) people(ctx context.Context, req Request, l *Launch) error {
	ids, err := parseIDs("patient", req.Patient)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, err := s.dir.Patient(ctx, id); err != nil {
			return dirErr(err, "patient", "patient", id)
		}
	}
	if l.Type == PatientPortal && len(ids) != 1 {
		return fieldErr("patient", "a patient-portal launch needs exactly one patient (the user), got %d", len(ids))
	}
	l.Patients = ids

	// AUTO and NONE are matched exactly: a lower-case "auto" could be an id.
	switch enc := strings.TrimSpace(req.Encounter); enc {
	case "", EncounterAuto:
		if len(ids) == 1 && l.Type != BackendService {
			encs, err := s.dir.Encounters(ctx, ids[0])
			if err != nil && !errors.Is(err, smart.ErrNotFound) {
				return fmt.Errorf("launcher: encounters of %q: %w", ids[0], err)
			}
			for _, e := range encs { // most recent start first
				if e.Status == "in-progress" {
					l.Encounter = e.ID
					break
				}
			}
		}
	case EncounterNone:
	default:
		if len(ids) != 1 {
			return fieldErr("encounter", "encounter %q needs exactly one patient in context, got %d", enc, len(ids))
		}
		e, err := s.dir.Encounter(ctx, enc)
		if err != nil {
			return dirErr(err, "encounter", "encounter", enc)
		}
		if e.PatientID != ids[0] {
			return fieldErr("encounter", "encounter %q belongs to patient %q, not %q", enc, e.PatientID, ids[0])
		}
		l.Encounter = e.ID
	}

	pr := strings.TrimSpace(req.Practitioner)
	switch {
	case !l.Type.IsProvider() && pr != "":
		return fieldErr("practitioner", "only provider launches have a practitioner user; in %s the user is the patient", l.Type)
	case !l.Type.IsProvider():
	case pr != "":
		if _, err := s.dir.Practitioner(ctx, pr); err != nil {
			return dirErr(err, "practitioner", "practitioner", pr)
		}
		l.Practitioner = pr
	default:
		id, err := s.defaultPractitioner(ctx)
		if err != nil {
			return err
		}
		l.Practitioner = id
	}
	return nil
}

// defaultPractitionerTTL bounds how long the default practitioner is taken
// from the cache rather than the directory's list.
const defaultPractitionerTTL = time.Second

// defaultPractitioner is the user of a provider launch that names none: the
// directory's first practitioner ("" when it has none). Listing every
// practitioner on each mint cost more than the rest of the mint's
// validation, so the choice is cached for defaultPractitionerTTL; a cached
// practitioner is still looked up (one read), so one deleted meanwhile is
// never chosen.
func (s *Service) defaultPractitioner(ctx context.Context) (string, error) {
	c := &s.defaultPr
	c.Lock()
	id, fresh := c.id, c.id != "" && s.now().Sub(c.at) < defaultPractitionerTTL
	c.Unlock()
	if fresh {
		if _, err := s.dir.Practitioner(ctx, id); err == nil {
			return id, nil
		}
	}
	all, err := s.dir.Practitioners(ctx)
	if err != nil {
		return "", fmt.Errorf("launcher: practitioners: %w", err)
	}
	id = ""
	if len(all) > 0 {
		id = all[0].ID
	}
	c.Lock()
	c.id, c.at = id, s.now()
	c.Unlock()
	return id, nil
}

// context checks fhir_context items and that their references exist.
func (s *Service) context(ctx context.Context, req Request, l *Launch) error {
	for i, it := range req.FHIRContext {
		if err := checkFHIRContextSyntax(i, it); err != nil {
			return err
		}
		if it.Reference != "" && !s.dir.ResourceExists(ctx, it.Reference) {
			return fieldErr("fhir_context.reference", "item %d: %q does not exist", i, it.Reference)
		}
	}
	return nil
}

// presentation applies the EHR launch defaults and checks URLs and strings.
func (s *Service) presentation(ctx context.Context, req Request, l *Launch) error {
	if l.Type.IsEHR() {
		if l.AppLaunchURL == "" {
			l.AppLaunchURL = s.base + "/sample-app/launch.html"
		}
		if l.SmartStyleURL == "" {
			l.SmartStyleURL = s.base + "/smart-style/v1.json"
		}
		if l.NeedPatientBanner == nil {
			t := true
			l.NeedPatientBanner = &t
		}
	}
	if l.AppLaunchURL != "" {
		if err := checkURL("app_launch_url", l.AppLaunchURL); err != nil {
			return err
		}
	}
	if l.SmartStyleURL != "" {
		if err := checkURL("smart_style_url", l.SmartStyleURL); err != nil {
			return err
		}
	}
	for _, f := range []struct{ name, v string }{{"intent", l.Intent}, {"tenant", l.Tenant}} {
		if len(f.v) > 256 || strings.ContainsFunc(f.v, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			return fieldErr(f.name, "must be at most 256 characters without control characters")
		}
	}
	return nil
}

func checkSimulatedError(_ context.Context, req Request, l *Launch) error {
	name := req.SimulateError
	if name == "" {
		return nil
	}
	if _, ok := smart.LookupSimulatedError(name); !ok {
		return fieldErr("simulate_error", "unknown simulated error %q: one of %s", name, strings.Join(smart.SimulatedErrorNames(), ", "))
	}
	if !SimulatedErrorApplies(l.Type, name) {
		return fieldErr("simulate_error", "%s cannot happen in a backend-service launch (no authorize step, no refresh token)", name)
	}
	return nil
}

// SimulatedErrorApplies reports whether a simulated error can happen in a
// launch type: every error of the catalogue (smart.SimulatedErrors) can
// happen in EHR and standalone launches, and those marked Backend in
// backend-service launches too (they have no authorize step and get no
// refresh token). The launcher UI uses it to offer only errors that will
// happen.
func SimulatedErrorApplies(t LaunchType, name string) bool {
	e, ok := smart.LookupSimulatedError(name)
	return ok && (t != BackendService || e.Backend)
}

func checkLifetimes(_ context.Context, req Request, l *Launch) error {
	if v := req.AccessTokenLifetime; v < 0 || v > MaxAccessTokenLifetime {
		return fieldErr("access_token_lifetime", "%d seconds is out of range 0..%d (0 = server default)", v, MaxAccessTokenLifetime)
	}
	if v := req.RefreshTokenLifetime; v < 0 || v > MaxRefreshTokenLifetime {
		return fieldErr("refresh_token_lifetime", "%d seconds is out of range 0..%d (0 = server default)", v, MaxRefreshTokenLifetime)
	}
	return nil
}
