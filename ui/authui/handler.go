package authui

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/a-h/templ"

	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
	"github.com/ehrsim/ehrsim/ui/layout"
)

// Flow is the authorization server's side of the pages (implemented by
// *authz.Server): it owns the requests, sessions and CSRF, decides every
// answer and says where the browser goes next. Its errors are
// *smart.PageError.
type Flow interface {
	PendingPage(w http.ResponseWriter, r *http.Request, id string, step smart.AuthStep) (*smart.PendingAuth, string, error)
	AnswerPage(w http.ResponseWriter, r *http.Request, step smart.AuthStep) (string, error)
	ManageSession(w http.ResponseWriter, r *http.Request) (user, csrf string, err error)
	ManageAnswer(w http.ResponseWriter, r *http.Request) (notice string, err error)
	GrantsOf(ctx context.Context, user string) []smart.AppGrant
}

// Handler serves the authorization server's pages under /auth: login,
// patient picker, encounter picker, consent and access management, and its
// error page.
type Handler struct {
	Flow      Flow
	Directory smart.Directory // people and encounters shown; nil = none
	Issuer    string          // the OIDC issuer, e.g. http://localhost:8080/auth
	Now       func() time.Time
	Logger    *slog.Logger
	// ClientName is a registered client's display name, "" when unknown;
	// nil shows client ids.
	ClientName func(ctx context.Context, clientID string) string
}

const pickerLimit = 50

// Mount registers the page routes.
func (h *Handler) Mount(mux *http.ServeMux) {
	for _, step := range smart.AuthSteps {
		mux.HandleFunc("GET /auth/"+string(step), h.pageGet(step))
		mux.HandleFunc("POST /auth/"+string(step), h.pagePost(step))
	}
	mux.HandleFunc("GET /auth/manage", h.manageGet)
	mux.HandleFunc("POST /auth/manage", h.managePost)
}

func (h *Handler) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, c templ.Component) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	// The simulated EHR (same origin) frames apps, and an app's authorize
	// request lands these pages in that frame; any other origin framing
	// them could clickjack a consent, so only our own origin may.
	w.Header().Set("Content-Security-Policy", "frame-ancestors 'self'")
	w.Header().Set("X-Frame-Options", "SAMEORIGIN")
	w.Header().Add("Vary", "Sec-Fetch-Dest")
	w.WriteHeader(status)
	ctx := r.Context()
	if r.Header.Get("Sec-Fetch-Dest") == "iframe" {
		// Inside the simulated EHR's app frame (browsers say so on every
		// framed navigation): the compact layout, no site header or footer.
		ctx = layout.WithFramed(ctx)
	}
	if err := c.Render(ctx, w); err != nil && h.Logger != nil {
		h.Logger.ErrorContext(r.Context(), "render", "err", err)
	}
}

// ErrorPage is the readable authorization error page (implements
// authz.ErrorPages).
func (h *Handler) ErrorPage(w http.ResponseWriter, r *http.Request, status int, title, detail string) {
	// The page says once, in its own words, that no code was issued.
	detail = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(detail), "No code was issued."))
	h.render(w, r, status, ErrorPage(ErrorView{Status: status, Title: title, Detail: detail, Home: h.home(), Inspect: h.inspectLink(r)}))
}

// scenarioBase matches a standalone or backend launch's FHIR base, whose
// path carries the launch's scenario.
var scenarioBase = regexp.MustCompile(`/sim/([^/]+)/fhir/?$`)

// inspectLink opens the launch inspector on the launch an authorize
// request belongs to: by its launch code (EHR launches) or the scenario in
// its aud (standalone launches); the list of recent launches otherwise.
func (h *Handler) inspectLink(r *http.Request) string {
	q := r.URL.Query()
	key := q.Get("launch")
	if key == "" {
		if m := scenarioBase.FindStringSubmatch(q.Get("aud")); m != nil {
			key, _ = url.PathUnescape(m[1])
		}
	}
	if key == "" {
		return h.home() + "inspect"
	}
	return h.home() + "inspect?launch=" + url.QueryEscape(key)
}

// home is the site root the issuer lives under (the issuer is {base}/auth).
func (h *Handler) home() string {
	return strings.TrimSuffix(strings.TrimSuffix(h.Issuer, "/"), "/auth") + "/"
}

// fail renders err (a *smart.PageError, else a 500).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var pe *smart.PageError
	switch {
	case errors.As(err, &pe):
	case errors.Is(err, smart.ErrUnavailable):
		w.Header().Set("Retry-After", "5")
		pe = &smart.PageError{Status: http.StatusServiceUnavailable, Title: "The FHIR server is unavailable",
			Detail: err.Error() + ". Reload this page once the FHIR server answers."}
	default:
		pe = &smart.PageError{Status: http.StatusInternalServerError, Title: "Authorization failed", Detail: err.Error()}
	}
	h.ErrorPage(w, r, pe.Status, pe.Title, pe.Detail)
}

func (h *Handler) pageGet(step smart.AuthStep) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, next, err := h.Flow.PendingPage(w, r, r.URL.Query().Get("id"), step)
		switch {
		case err != nil:
			h.fail(w, r, err)
			return
		case p == nil:
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
		hid := Hidden{RequestID: p.ID, CSRF: p.CSRF}
		action := h.Issuer + "/" + string(step)
		q := strings.TrimSpace(r.URL.Query().Get("q"))
		ctx, trouble := withTrouble(r.Context())
		var page templ.Component
		switch step {
		case smart.StepLogin:
			page = LoginPage(h.loginView(ctx, p, hid, action, q))
		case smart.StepPatient:
			page = PatientPickerPage(h.patientView(ctx, p, hid, action, q))
		case smart.StepEncounter:
			page = EncounterPickerPage(h.encounterView(ctx, p, hid, action))
		case smart.StepConsent:
			page = ConsentPage(h.consentView(ctx, p, hid, action))
		}
		if trouble.err != nil {
			// Lists left empty by a data source that is down would read as
			// "nobody to choose": say what is wrong instead.
			h.fail(w, r, trouble.err)
			return
		}
		h.render(w, r, http.StatusOK, page)
	}
}

// trouble holds the first directory error of a page's views that means
// the data source is unavailable (smart.ErrUnavailable).
type trouble struct{ err error }

type troubleKey struct{}

func withTrouble(ctx context.Context) (context.Context, *trouble) {
	t := &trouble{}
	return context.WithValue(ctx, troubleKey{}, t), t
}

// noteDirErr records err on ctx's page when the directory is unavailable;
// other errors (an unknown id) leave the lists as they are.
func noteDirErr(ctx context.Context, err error) {
	if err == nil || !errors.Is(err, smart.ErrUnavailable) {
		return
	}
	if t, ok := ctx.Value(troubleKey{}).(*trouble); ok && t.err == nil {
		t.err = err
	}
}

func (h *Handler) pagePost(step smart.AuthStep) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		next, err := h.Flow.AnswerPage(w, r, step)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

func matches(p smart.PersonSummary, q string) bool {
	return q == "" || strings.Contains(strings.ToLower(p.Name), strings.ToLower(q))
}

func (h *Handler) loginView(ctx context.Context, p *smart.PendingAuth, hid Hidden, action, q string) LoginView {
	v := LoginView{Hidden: hid, Action: action, SearchAction: action, Query: q, ClientID: p.ClientID}
	d := h.Directory
	if d == nil {
		v.Error = "No directory of users is configured."
		return v
	}
	if p.UserKind != "Patient" {
		ps, err := d.Practitioners(ctx)
		noteDirErr(ctx, err)
		for _, pr := range ps {
			if matches(pr, q) && len(v.Practitioners) < pickerLimit {
				v.Practitioners = append(v.Practitioners, Person{Ref: "Practitioner/" + pr.ID, Name: pr.Name, Detail: pr.Role})
			}
		}
	}
	if p.UserKind != "Practitioner" {
		pats, total := h.patientPage(ctx, p, q)
		v.PatientTotal = total
		for _, pt := range pats {
			v.Patients = append(v.Patients, Person{Ref: "Patient/" + pt.ID, Name: pt.Name, Detail: personDetail(pt, h.now())})
		}
		rps, err := d.RelatedPersons(ctx)
		noteDirErr(ctx, err)
		for _, rp := range rps {
			detail := h.relatedDetail(ctx, rp)
			// "Kim" finds Grace Kim's mother as well as Grace Kim.
			if (matches(rp, q) || strings.Contains(strings.ToLower(detail), strings.ToLower(q))) && len(v.Related) < pickerLimit {
				v.Related = append(v.Related, Person{Ref: "RelatedPerson/" + rp.ID, Name: rp.Name, Detail: detail})
			}
		}
	}
	return v
}

// patients lists the patients a picker may show: the launch's list, or a
// directory search.
func (h *Handler) patients(ctx context.Context, p *smart.PendingAuth, q string) []smart.PersonSummary {
	out, _ := h.patientPage(ctx, p, q)
	return out
}

// patientPage is patients with the count of every match (the list stops
// at pickerLimit; the page says how many more a search would find).
func (h *Handler) patientPage(ctx context.Context, p *smart.PendingAuth, q string) ([]smart.PersonSummary, int) {
	d := h.Directory
	var out []smart.PersonSummary
	if len(p.PatientChoice) > 0 {
		for _, id := range p.PatientChoice {
			if pt, err := d.Patient(ctx, id); err == nil && (matches(pt, q) || strings.HasPrefix(pt.BirthDate, q) || pt.MRN == q) {
				out = append(out, pt)
			}
		}
		return out, len(out)
	}
	page, err := d.PagePatients(ctx, q, 0, pickerLimit)
	if err != nil {
		noteDirErr(ctx, err)
		return nil, 0
	}
	return page.Patients, page.Total
}

// personDetail is a patient's line in pickers and sign-in lists, written
// as the launcher writes it: "14 mo, Female · DOB 2024-01-15 · MRN 1003"
// (smart.FormatAge is the one age format).
func personDetail(p smart.PersonSummary, now time.Time) string {
	s := sexLabel(p.Gender)
	if a := smart.FormatAge(p.BirthDate, now); a != "" {
		s = a + ", " + s
	}
	if p.BirthDate != "" {
		s += " · DOB " + p.BirthDate
	}
	if p.MRN != "" {
		s += " · MRN " + p.MRN
	}
	return s
}

func sexLabel(gender string) string {
	switch gender {
	case "female":
		return "Female"
	case "male":
		return "Male"
	case "other":
		return "Other"
	}
	return "Unknown"
}

// relatedDetail says whose related person this is: "mother of Grace Kim".
func (h *Handler) relatedDetail(ctx context.Context, rp smart.PersonSummary) string {
	var names []string
	for _, id := range rp.Patients {
		if pt, err := h.Directory.Patient(ctx, id); err == nil && pt.Name != "" {
			names = append(names, pt.Name)
		}
	}
	role := rp.Role
	if role == "" {
		role = "related person"
	}
	if len(names) == 0 {
		return role
	}
	return role + " of " + strings.Join(names, " and ")
}

func (h *Handler) patientView(ctx context.Context, p *smart.PendingAuth, hid Hidden, action, q string) PatientPickerView {
	v := PatientPickerView{Hidden: hid, Action: action, SearchAction: action, Query: q, Limited: len(p.PatientChoice) > 0}
	if h.Directory == nil {
		return v
	}
	for _, pt := range h.patients(ctx, p, q) {
		v.Patients = append(v.Patients, PatientRow{ID: pt.ID, Name: pt.Name, Detail: personDetail(pt, h.now())})
	}
	return v
}

func (h *Handler) encounterView(ctx context.Context, p *smart.PendingAuth, hid Hidden, action string) EncounterPickerView {
	v := EncounterPickerView{Hidden: hid, Action: action, PatientName: p.Patient}
	d := h.Directory
	if d == nil {
		return v
	}
	if pt, err := d.Patient(ctx, p.Patient); err == nil {
		v.PatientName = pt.Name
	}
	encs, _ := d.Encounters(ctx, p.Patient)
	for _, e := range encs {
		period := e.Start.Format("2006-01-02")
		if !e.End.IsZero() {
			period += " – " + e.End.Format("2006-01-02")
		}
		v.Encounters = append(v.Encounters, EncounterRow{ID: e.ID, Type: layout.ClinicalText(e.Type), Class: e.Class, Status: e.Status, Period: period, Location: e.Location})
	}
	return v
}

func (h *Handler) consentView(ctx context.Context, p *smart.PendingAuth, hid Hidden, action string) ConsentView {
	v := ConsentView{Hidden: hid, Action: action, ClientID: p.ClientID, UserName: h.personName(ctx, p.FHIRUser)}
	if p.Patient != "" {
		v.PatientName = p.Patient
		if h.Directory != nil {
			if pt, err := h.Directory.Patient(ctx, p.Patient); err == nil && pt.Name != "" {
				v.PatientName = pt.Name
			}
		}
	}
	kind, _, _ := strings.Cut(p.FHIRUser, "/")
	c := consentContext{
		EHR:         p.LaunchType == "provider-ehr" || p.LaunchType == "patient-portal",
		UserKind:    kind,
		UserName:    v.UserName,
		PatientName: v.PatientName,
		OwnRecord:   p.Patient != "" && p.FHIRUser == "Patient/"+p.Patient,
	}
	v.Heading = consentHeading(c)
	for _, raw := range p.Scopes {
		sc, err := scopes.Parse(raw)
		desc := raw
		if err == nil {
			desc = describeScope(sc, c)
		}
		v.Scopes = append(v.Scopes, ScopeItem{Raw: raw, Description: desc})
	}
	return v
}

// personName is the display name of a "Type/id" reference, or the
// reference itself when the directory does not know it.
func (h *Handler) personName(ctx context.Context, ref string) string {
	d := h.Directory
	typ, id, _ := strings.Cut(ref, "/")
	if d != nil {
		var p smart.PersonSummary
		switch typ {
		case "Patient":
			p, _ = d.Patient(ctx, id)
		case "Practitioner":
			p, _ = d.Practitioner(ctx, id)
		case "RelatedPerson":
			p, _ = d.RelatedPerson(ctx, id)
		}
		if p.Name != "" {
			return p.Name
		}
	}
	return ref
}

func (h *Handler) manageGet(w http.ResponseWriter, r *http.Request) {
	user, csrf, err := h.Flow.ManageSession(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	v := ManageView{CSRF: csrf, Action: h.Issuer + "/manage", Notice: r.URL.Query().Get("notice"), Query: q, Home: h.home()}
	ctx := r.Context()
	if user != "" {
		v.User = h.personName(ctx, user)
		v.Grants = h.grantRows(ctx, h.Flow.GrantsOf(ctx, user))
	} else {
		v.Practitioners, v.Patients, v.Related = h.everyone(ctx, q)
	}
	h.render(w, r, http.StatusOK, ManagePage(v))
}

// grantRows gathers the grants into one row per app, in the order the
// apps' first grants come (most recent expiry first).
func (h *Handler) grantRows(ctx context.Context, grants []smart.AppGrant) []GrantRow {
	var rows []GrantRow
	at := map[string]int{}
	patients := map[string][]string{}
	for _, g := range grants {
		i, ok := at[g.ClientID]
		if !ok {
			i = len(rows)
			at[g.ClientID] = i
			app := g.ClientID
			if h.ClientName != nil {
				if n := h.ClientName(ctx, g.ClientID); n != "" {
					app = n
				}
			}
			rows = append(rows, GrantRow{ClientID: g.ClientID, App: app, Expires: g.Expires.UTC().Format(time.DateTime + " UTC")})
		}
		row := &rows[i]
		row.IDs = append(row.IDs, g.ID)
		row.Launches++
		if g.Authorized.After(row.lastAuth) {
			row.lastAuth = g.Authorized
			row.LastAuthorized = g.Authorized.UTC().Format(time.DateTime + " UTC")
		}
		for _, sc := range g.Scopes {
			if !slices.Contains(row.Scopes, sc) {
				row.Scopes = append(row.Scopes, sc)
			}
		}
		if g.Patient != "" {
			if name := h.personName(ctx, "Patient/"+g.Patient); !slices.Contains(patients[g.ClientID], name) {
				patients[g.ClientID] = append(patients[g.ClientID], name)
			}
		}
	}
	for i := range rows {
		rows[i].Patients = strings.Join(patients[rows[i].ClientID], ", ")
	}
	return rows
}

func (h *Handler) managePost(w http.ResponseWriter, r *http.Request) {
	notice, err := h.Flow.ManageAnswer(w, r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	u := h.Issuer + "/manage"
	if notice != "" {
		u += "?notice=" + url.QueryEscape(notice)
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// everyone lists the people who can sign in to the manage page, grouped
// as on the login page and narrowed by q.
func (h *Handler) everyone(ctx context.Context, q string) (practitioners, patients, related []Person) {
	d := h.Directory
	if d == nil {
		return nil, nil, nil
	}
	page, err := d.PagePatients(ctx, q, 0, pickerLimit)
	noteDirErr(ctx, err)
	for _, p := range page.Patients {
		patients = append(patients, Person{Ref: "Patient/" + p.ID, Name: p.Name, Detail: personDetail(p, h.now())})
	}
	rps, err := d.RelatedPersons(ctx)
	noteDirErr(ctx, err)
	for _, p := range rps {
		detail := h.relatedDetail(ctx, p)
		if matches(p, q) || strings.Contains(strings.ToLower(detail), strings.ToLower(q)) {
			related = append(related, Person{Ref: "RelatedPerson/" + p.ID, Name: p.Name, Detail: detail})
		}
	}
	prs, err := d.Practitioners(ctx)
	noteDirErr(ctx, err)
	for _, p := range prs {
		if matches(p, q) {
			practitioners = append(practitioners, Person{Ref: "Practitioner/" + p.ID, Name: p.Name, Detail: p.Role})
		}
	}
	return practitioners, patients, related
}
