package ui

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// iframe policy of the simulated EHR. The sandbox lets the app run scripts,
// keep its own origin (cookies, sessionStorage for PKCE/state), submit forms,
// open the authorization server in a popup when it wants and, on a click,
// take the whole window (the authorization error page's way back); "allow"
// grants what EHR-embedded apps commonly ask for (Epic and Cerner embed
// similarly).
//
// An app served from ehrsim's own origin (the sample app) is framed without
// a sandbox: with scripts and its own origin allowed it could lift the
// sandbox itself, which is exactly what Chromium warns about on every load,
// so the attribute would protect nothing and only add the warning.
const (
	appSandbox = "allow-scripts allow-same-origin allow-forms allow-popups allow-modals allow-downloads allow-top-navigation-by-user-activation"
	appAllow   = "clipboard-read; clipboard-write; fullscreen; camera; microphone; geolocation; display-capture"
)

// frameAttrs are the app iframe's sandbox and allow attributes for an app
// at src, on a site whose base URL is base.
func frameAttrs(base, src string) templ.Attributes {
	a := templ.Attributes{"allow": appAllow}
	if origin(src) != origin(base) || origin(src) == "" {
		a["sandbox"] = appSandbox
	}
	return a
}

// origin is a URL's scheme://host[:port], "" when it has none.
func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return ""
	}
	return strings.ToLower(u.Scheme + "://" + u.Host)
}

// App is an app the simulated EHR can launch: a client with a launch URL.
type App struct {
	ClientID  string
	Name      string
	LaunchURL string
}

// EHRHome is the view model of /ehr without a launch.
type EHRHome struct {
	Query         string
	Patients      []Person
	Patient       string
	Practitioners []Person
	Practitioner  string
	Apps          []App
	App           string
	Errors        FieldErrors
}

// EHRScreen is the view model of /ehr?launch=CODE.
type EHRScreen struct {
	User           Person // the practitioner (provider-ehr) or patient (patient-portal)
	UserKnown      bool
	Patient        Person
	PatientKnown   bool
	Allergies      []string
	AllergiesKnown bool
	Encounter      string // one line; "" when none
	AppSrc         string // app launch URL with iss and launch
	FrameAttrs     templ.Attributes
	AppName        string
	LaunchType     string
	SimulateError  string
}

func (h *Handler) ehrGet(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Launches, h.Directory) {
		return
	}
	if code := r.URL.Query().Get("launch"); code != "" {
		h.ehrScreen(w, r, code)
		return
	}
	q := r.URL.Query()
	h.ehrHome(w, r, http.StatusOK, EHRHome{Query: q.Get("q"), Patient: q.Get("patient"), Practitioner: q.Get("practitioner"), App: q.Get("app")})
}

func (h *Handler) ehrHome(w http.ResponseWriter, r *http.Request, status int, p EHRHome) {
	ctx := r.Context()
	pats, err := h.Directory.SearchPatients(ctx, p.Query, 50)
	if err != nil {
		h.internal(w, r, "search patients", err)
		return
	}
	p.Patients = h.people(pats)
	if p.Patient == "" && len(pats) > 0 {
		p.Patient = pats[0].ID
	}
	prs, err := h.Directory.Practitioners(ctx)
	if err != nil {
		h.internal(w, r, "list practitioners", err)
		return
	}
	p.Practitioners = h.people(prs)
	p.Apps = h.apps(r)
	if p.App == "" {
		p.App = clients.DemoSampleApp
	}
	h.render(w, r, status, ehrHomePage(p))
}

// apps lists registered clients that have a launch URL, the sample app first.
func (h *Handler) apps(r *http.Request) []App {
	sample := App{ClientID: clients.DemoSampleApp, Name: "ehrsim sample app", LaunchURL: h.base() + "/sample-app/launch.html"}
	out := []App{sample}
	if h.Clients == nil {
		return out
	}
	list, err := h.Clients.List(r.Context())
	if err != nil {
		h.logger().Warn("list clients", "err", err)
		return out
	}
	for _, c := range list {
		if c.LaunchURL == "" || c.ID == clients.DemoSampleApp {
			continue
		}
		out = append(out, App{ClientID: c.ID, Name: c.Name, LaunchURL: c.LaunchURL})
	}
	return out
}

// ehrPost mints a provider EHR launch for the chosen patient and app and
// shows it. need_patient_banner is false: the EHR shows the banner.
func (h *Handler) ehrPost(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Launches, h.Directory) {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.Error(w, r, http.StatusBadRequest, "Bad form", "The form could not be read: "+err.Error())
		return
	}
	p := EHRHome{Query: r.PostForm.Get("q"), Patient: r.PostForm.Get("patient"), Practitioner: r.PostForm.Get("practitioner"), App: r.PostForm.Get("app")}
	var app *App
	for _, a := range h.apps(r) {
		if a.ClientID == p.App {
			app = &a
			break
		}
	}
	if app == nil {
		p.Errors = FieldErrors{"app": "Choose one of the listed apps."}
		h.ehrHome(w, r, http.StatusBadRequest, p)
		return
	}
	no := false
	req := launcher.Request{
		LaunchType:        string(launcher.ProviderEHR),
		Patient:           p.Patient,
		Practitioner:      p.Practitioner,
		NeedPatientBanner: &no,
		AppLaunchURL:      app.LaunchURL,
		Client:            launcher.Client{ClientID: app.ClientID},
	}
	res, _, err := h.Launches.Mint(r.Context(), req)
	if err != nil {
		var fe *launcher.FieldError
		if errors.As(err, &fe) {
			p.Errors = FieldErrors{fe.Field: fe.Message}
			h.ehrHome(w, r, http.StatusBadRequest, p)
			return
		}
		h.internal(w, r, "mint a launch", err)
		return
	}
	http.Redirect(w, r, "/ehr?launch="+url.QueryEscape(res.Launch), http.StatusSeeOther)
}

// ehrScreen shows the EHR frame around the app for an existing launch code.
func (h *Handler) ehrScreen(w http.ResponseWriter, r *http.Request, code string) {
	ctx := r.Context()
	l, err := h.Launches.Open(ctx, code)
	switch {
	case errors.Is(err, launcher.ErrExpiredLaunch):
		h.Error(w, r, http.StatusGone, "Launch expired", "This launch has expired. Mint a new one on the launcher page, or pick a patient in the simulated EHR.")
		return
	case err != nil:
		h.Error(w, r, http.StatusNotFound, "Unknown launch", "The launch code in this address is unknown or damaged. Mint a new launch on the launcher page.")
		return
	}
	// Inside the EHR the banner is ours, so the app must be told it need not
	// draw one (app-launch §need_patient_banner): the launcher gives the
	// framed variant of the same launch (same id, expiry and single use).
	_, src, err := h.Launches.Framed(l)
	if err != nil {
		h.internal(w, r, "frame the launch", err)
		return
	}
	s := EHRScreen{
		AppSrc:        src,
		FrameAttrs:    frameAttrs(h.base(), src),
		AppName:       l.Client.ClientID,
		LaunchType:    string(l.Type),
		SimulateError: string(l.SimulateError),
	}
	if pid := l.Patient(); pid != "" {
		if ps, err := h.Directory.Patient(ctx, pid); err == nil {
			s.Patient, s.PatientKnown = h.person(ps), true
			s.Allergies, s.AllergiesKnown = h.allergies(ctx, pid)
		}
	}
	if l.Type == launcher.PatientPortal {
		s.User, s.UserKnown = s.Patient, s.PatientKnown
	} else if l.Practitioner != "" {
		if pr, err := h.Directory.Practitioner(ctx, l.Practitioner); err == nil {
			s.User, s.UserKnown = h.person(pr), true
		}
	}
	if l.Encounter != "" {
		if e, err := h.Directory.Encounter(ctx, l.Encounter); err == nil {
			s.Encounter = describeEncounter(e)
		}
	}
	if h.Clients != nil && s.AppName != "" {
		if c, err := h.Clients.Get(ctx, s.AppName); err == nil && c.Name != "" {
			s.AppName = c.Name
		}
	}
	h.render(w, r, http.StatusOK, ehrScreenPage(s))
}
