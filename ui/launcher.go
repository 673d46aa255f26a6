package ui

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/apierr"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// LauncherPage is the view model of the launcher page.
type LauncherPage struct {
	BaseURL       string
	Form          LaunchForm
	Patients      []Person // chooser: one page of search results, the chosen one first
	PatientTotal  int      // patients matching the search, on every page
	PatientPageNo int      // the page shown, from 1
	PatientPages  int      // pages of maxChooserPatients
	Encounters    []Option // the chosen patient's encounters
	Practitioners []Person
	Clients       []clients.Client
	Errors        FieldErrors
	Result        *LaunchResult
	RequestJSON   string // the POST /api/launches body this form sends
	APICurl       string // the same launch minted from a script
}

// Option is a select option.
type Option struct{ Value, Label string }

// LaunchResult is the result panel.
type LaunchResult struct {
	launcher.Result
	Type         launcher.LaunchType
	ClientID     string
	ClientSecret string // only echoed when the form sent it
	ClientType   string
	RedirectURIs []string
	Scope        string
	PKCE         string
	BackendCurl  string // backend services: client assertion + token request
}

// maxChooserPatients is the patient chooser's page size; search narrows
// the list and the pager walks it.
const maxChooserPatients = 25

// patientCountText says how many patients the chooser holds, and which of
// them the page shows.
func patientCountText(p LauncherPage) string {
	n := p.PatientTotal
	noun := "patients"
	if n == 1 {
		noun = "patient"
	}
	s := thousands(n) + " " + noun
	if p.Form.PatientQuery != "" {
		s += " match “" + p.Form.PatientQuery + "”"
	}
	if p.PatientPages > 1 {
		first := (p.PatientPageNo-1)*maxChooserPatients + 1
		last := min(first+maxChooserPatients-1, n)
		s += "; showing " + thousands(first) + "–" + thousands(last)
	}
	if n == 0 && p.Form.PatientQuery != "" {
		s += ". Search by a name, an MRN or a birth date (YYYY-MM-DD), or clear the search."
	}
	return s
}

// AdvancedOpen: the Advanced fold is open when the address says so, or
// when one of its fields has an error to show.
func (p LauncherPage) AdvancedOpen() bool {
	if p.Form.Advanced {
		return true
	}
	for _, f := range advancedFields {
		if p.Errors[f] != "" {
			return true
		}
	}
	return false
}

// advancedFields are the form fields inside the Advanced fold.
var advancedFields = []string{"fhir_context", "need_patient_banner", "smart_style_url", "intent", "tenant",
	"client_id", "client_type", "client_secret", "redirect_uris", "scope", "jwks_url", "jwks", "pkce",
	"simulate_error", "access_token_lifetime", "refresh_token_lifetime", "launch_once"}

// AdvancedSet lists, for the closed fold's summary, what is set inside it.
func (p LauncherPage) AdvancedSet() string {
	f := p.Form
	var set []string
	if len(f.FHIRContext) > 0 || f.NeedPatientBanner != "" || f.SmartStyleURL != "" || f.Intent != "" || f.Tenant != "" {
		set = append(set, "launch context")
	}
	if (f.ClientID != "" && !(f.LaunchType == string(launcher.BackendService) && f.ClientID == clients.DemoBackend)) ||
		f.ClientType != "" || f.ClientSecret != "" || f.RedirectURIs != "" || f.Scope != "" || f.JWKSURL != "" || f.JWKS != "" || f.PKCE != "" {
		set = append(set, "client")
	}
	if f.SimulateError != "" {
		set = append(set, "simulated error "+f.SimulateError)
	}
	if f.AccessTokenLifetime != "" || f.RefreshTokenLifetime != "" || f.LaunchOnce {
		set = append(set, "lifetimes")
	}
	if len(set) == 0 {
		return ""
	}
	return "set: " + strings.Join(set, ", ")
}

// thousands writes n with a comma between each group of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func boolAttr(b bool) string { return strconv.FormatBool(b) }

func (h *Handler) launcherGet(w http.ResponseWriter, r *http.Request) {
	f := parseLaunchForm(r.URL.Query(), h.base())
	if len(r.URL.Query()) == 0 {
		// A first visit is a ready EHR launch: the clinician is signed in to
		// the EHR with a patient's chart open, so "Create launch" then
		// "Launch" runs the sample app for that patient. Any query string
		// (a bookmark, an edit) says exactly what it wants instead.
		f.SkipLogin = true
		if h.Directory != nil {
			if ps, err := h.Directory.SearchPatients(r.Context(), "", 1); err == nil && len(ps) == 1 {
				f.Patient = ps[0].ID
			}
		}
	}
	if r.URL.Query().Get("mint") == "1" {
		h.mint(w, r, f)
		return
	}
	h.renderLauncher(w, r, http.StatusOK, LauncherPage{Form: f})
}

func (h *Handler) launcherPost(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		h.Error(w, r, http.StatusBadRequest, "Bad form", "The form could not be read: "+err.Error())
		return
	}
	h.mint(w, r, parseLaunchForm(r.PostForm, h.base()))
}

// mint asks the launcher for a launch and shows the result, or the form
// again with each error next to its field (400).
func (h *Handler) mint(w http.ResponseWriter, r *http.Request, f LaunchForm) {
	if h.missing(w, r, h.Launches) {
		return
	}
	p := LauncherPage{Form: f}
	req, errs := f.Request()
	if errs != nil {
		p.Errors = errs
		h.renderLauncher(w, r, http.StatusBadRequest, p)
		return
	}
	res, l, err := h.Launches.Mint(r.Context(), req)
	if err != nil {
		var fe *launcher.FieldError
		if errors.As(err, &fe) {
			p.Errors = FieldErrors{formField(fe.Field): fe.Message}
			h.renderLauncher(w, r, http.StatusBadRequest, p)
			return
		}
		h.internal(w, r, "mint a launch", err)
		return
	}
	lr := &LaunchResult{
		Result:       *res,
		Type:         l.Type,
		ClientID:     l.Client.ClientID,
		ClientType:   l.Client.ClientType,
		RedirectURIs: l.Client.RedirectURIs,
		Scope:        l.Client.Scope,
		PKCE:         l.Client.PKCE,
		ClientSecret: f.ClientSecret,
	}
	if l.Type == launcher.BackendService {
		lr.BackendCurl = backendCurl(h.base(), res.FHIRBaseURL, lr.ClientID, lr.Scope)
	}
	p.Result = lr
	h.renderLauncher(w, r, http.StatusOK, p)
}

func (h *Handler) renderLauncher(w http.ResponseWriter, r *http.Request, status int, p LauncherPage) {
	ctx := r.Context()
	p.BaseURL = h.base()
	if h.Directory != nil {
		if err := h.fillChoosers(ctx, &p); err != nil {
			h.internal(w, r, "load patients and practitioners", err)
			return
		}
	}
	if h.Clients != nil {
		if list, err := h.Clients.List(ctx); err == nil {
			p.Clients = list
		} else {
			h.logger().WarnContext(ctx, "list clients", "err", err)
		}
	}
	req, _ := p.Form.Request()
	p.RequestJSON = requestJSON(req)
	p.APICurl = apiCurl(p.BaseURL, p.RequestJSON)
	h.render(w, r, status, launcherPage(p))
}

// fillChoosers loads the patient, encounter and practitioner choices.
func (h *Handler) fillChoosers(ctx context.Context, p *LauncherPage) error {
	page := max(p.Form.PatientPage, 1)
	res, err := h.Directory.PagePatients(ctx, p.Form.PatientQuery, (page-1)*maxChooserPatients, maxChooserPatients)
	if err != nil {
		return err
	}
	p.PatientTotal = res.Total
	p.PatientPages = (res.Total + maxChooserPatients - 1) / maxChooserPatients
	if page > p.PatientPages && p.PatientPages > 0 {
		// A page beyond the end (a bookmark from before a search narrowed
		// the list): show the last one instead of nothing.
		page = p.PatientPages
		if res, err = h.Directory.PagePatients(ctx, p.Form.PatientQuery, (page-1)*maxChooserPatients, maxChooserPatients); err != nil {
			return err
		}
	}
	p.PatientPageNo = page
	pats := res.Patients
	chosen := p.Form.Patient
	found := chosen == ""
	for _, pt := range pats {
		if pt.ID == chosen {
			found = true
		}
	}
	if !found { // keep the chosen patient visible even when the search hides it
		if pt, err := h.Directory.Patient(ctx, chosen); err == nil {
			pats = append([]smart.PersonSummary{pt}, pats...)
		}
	}
	p.Patients = h.people(pats)
	if chosen != "" {
		p.Encounters = h.encounterOptions(ctx, chosen)
	}
	prs, err := h.Directory.Practitioners(ctx)
	if err != nil {
		return err
	}
	p.Practitioners = h.people(prs)
	return nil
}

func (h *Handler) encounterOptions(ctx context.Context, patientID string) []Option {
	encs, err := h.Directory.Encounters(ctx, patientID)
	if err != nil {
		return nil
	}
	out := make([]Option, len(encs))
	for i, e := range encs {
		out[i] = Option{Value: e.ID, Label: describeEncounter(e)}
	}
	return out
}

// launcherEncounters answers the encounter <option>s of one patient, for the
// page's script to refresh the encounter chooser when the patient changes.
func (h *Handler) launcherEncounters(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Directory) {
		return
	}
	q := r.URL.Query()
	var opts []Option
	if id := q.Get("patient"); id != "" {
		opts = h.encounterOptions(r.Context(), id)
	}
	h.render(w, r, http.StatusOK, encounterOptions(opts, q.Get("encounter")))
}

// launcherPreview answers the API request body and the bookmark link for
// the form in the query string: the page's live preview.
func (h *Handler) launcherPreview(w http.ResponseWriter, r *http.Request) {
	f := parseLaunchForm(r.URL.Query(), h.base())
	req, errs := f.Request()
	body := requestJSON(req)
	w.Header().Set("Cache-Control", "no-store")
	apierr.WriteJSON(w, http.StatusOK, map[string]any{
		"request":           body,
		"curl":              apiCurl(h.base(), body),
		"permalink":         f.Permalink(),
		"errors":            errs,
		"skip_login_reason": f.SkipLoginReason(),
		"skip_login_hint":   f.SkipLoginHint(),
	})
}

// requestJSON is the launch API body, indented, with the secret masked.
func requestJSON(req launcher.Request) string {
	if req.Client.ClientSecret != "" {
		req.Client.ClientSecret = "********"
	}
	b, err := json.MarshalIndent(req, "", "  ")
	if err != nil {
		return "{}"
	}
	return string(b)
}

func apiCurl(base, body string) string {
	return "curl -s -X POST " + base + "/api/launches \\\n  -H 'Content-Type: application/json' \\\n  -d '" + strings.ReplaceAll(body, "'", `'\''`) + "'"
}
