package ui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
)

// Inspector is what the inspector pages need from the launch inspector
// (*inspect.Recorder).
type Inspector interface {
	Events(ctx context.Context, launchID string) ([]inspect.Event, error)
	Recent(ctx context.Context, limit int) ([]inspect.LaunchSummary, error)
	ClientLaunches(ctx context.Context, clientID string, limit int) ([][]inspect.Event, error)
}

// reportLaunches is how many recent launches the report page judges (the
// JSON API's default too).
const reportLaunches = 20

// InspectList is the view model of /inspect.
type InspectList struct {
	Launches []InspectListRow
	Query    string // the launch id or code typed into the form
	Error    string
}

// InspectListRow is one recent launch.
type InspectListRow struct {
	inspect.LaunchSummary
	Started string
	Counts  string
}

// Timeline is the view model of /inspect/{id}.
type Timeline struct {
	LaunchID  string
	ClientID  string
	Started   string // first event's time, UTC
	Steps     []TimelineStep
	Errors    int
	Warnings  int
	Counts    string // "3 errors, 1 warning"
	StreamURL string // server-sent events of the launch
	EventsURL string // the same as JSON
}

// TimelineStep is one event of the timeline.
type TimelineStep struct {
	Seq         int64
	Offset      string // "+1.234 s" after the first event
	At          string
	Kind        string
	Summary     string
	Status      int
	Error       string
	Request     []KV
	Response    []KV
	Diagnostics []inspect.Diagnostic
	Checked     []string
}

// KV is one request or response parameter.
type KV struct{ Key, Value string }

// ReportPage is the view model of /clients/{id}/report.
type ReportPage struct {
	*inspect.Report
	BaseURL   string // for the ehrsim report command line
	Counts    string
	Generated string
	Failed    []inspect.RuleResult
	Passed    int
	Unused    int
}

// inspectList serves /inspect: recent launches; ?launch= opens one by id,
// launch code or scenario id.
func (h *Handler) inspectList(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Inspector) {
		return
	}
	p := InspectList{Query: strings.TrimSpace(r.URL.Query().Get("launch"))}
	if p.Query != "" {
		if id := h.resolveLaunch(r.Context(), p.Query); id != "" {
			http.Redirect(w, r, "/inspect/"+url.PathEscape(id), http.StatusSeeOther)
			return
		}
		p.Error = "No launch has the id or launch code “" + p.Query + "”."
	}
	list, err := h.Inspector.Recent(r.Context(), 100)
	if err != nil {
		h.internal(w, r, "list recent launches", err)
		return
	}
	for _, s := range list {
		p.Launches = append(p.Launches, InspectListRow{LaunchSummary: s, Started: formatAt(s.Started), Counts: counts(s.Errors, s.Warnings)})
	}
	status := http.StatusOK
	if p.Error != "" {
		status = http.StatusNotFound
	}
	h.render(w, r, status, inspectListPage(p))
}

// resolveLaunch returns the launch id q names: an id with recorded events,
// or a launch code (or a /sim scenario id) the launcher opens, expired or
// not. "" when none.
func (h *Handler) resolveLaunch(ctx context.Context, q string) string {
	if evs, err := h.Inspector.Events(ctx, q); err == nil && len(evs) > 0 {
		return q
	}
	if h.Launches == nil {
		return ""
	}
	l, err := h.Launches.Open(ctx, q)
	if errors.Is(err, launcher.ErrUnknownLaunch) {
		if sc, ok := h.Launches.(interface {
			OpenScenario(context.Context, string) (*launcher.Launch, error)
		}); ok {
			l, err = sc.OpenScenario(ctx, q)
		}
	}
	if l != nil && (err == nil || errors.Is(err, launcher.ErrExpiredLaunch)) {
		return l.ID
	}
	return ""
}

// inspectTimeline serves /inspect/{id}: the launch's steps in order.
func (h *Handler) inspectTimeline(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Inspector) {
		return
	}
	id := r.PathValue("id")
	evs, err := h.Inspector.Events(r.Context(), id)
	if err != nil {
		h.internal(w, r, "read the launch's events", err)
		return
	}
	if len(evs) == 0 {
		if other := h.resolveLaunch(r.Context(), id); other != "" && other != id {
			http.Redirect(w, r, "/inspect/"+url.PathEscape(other), http.StatusSeeOther)
			return
		}
		h.Error(w, r, http.StatusNotFound, "Launch not found", "No steps were recorded for the launch "+id+". The inspector keeps the most recent launches only; mint a new launch on the launcher page.")
		return
	}
	h.render(w, r, http.StatusOK, inspectTimelinePage(buildTimeline(id, evs)))
}

func buildTimeline(id string, evs []inspect.Event) Timeline {
	p := Timeline{LaunchID: id, EventsURL: "/api/launches/" + url.PathEscape(id) + "/events"}
	p.StreamURL = p.EventsURL
	p.Errors, p.Warnings = inspect.Count(evs)
	p.Counts = counts(p.Errors, p.Warnings)
	first := evs[0].At
	p.Started = formatAt(first)
	for _, e := range evs {
		if p.ClientID == "" {
			p.ClientID = e.ClientID
		}
		p.Steps = append(p.Steps, TimelineStep{
			Seq: e.Seq, Offset: offset(e.At.Sub(first)), At: formatAt(e.At), Kind: string(e.Kind),
			Summary: e.Summary, Status: e.Status, Error: e.Error, Request: sortedKV(e.Request), Response: sortedKV(e.Response),
			Diagnostics: e.Diagnostics, Checked: e.Checked,
		})
	}
	return p
}

// inspectReport serves /clients/{id}/report: the client's conformance
// report over its recent launches.
func (h *Handler) inspectReport(w http.ResponseWriter, r *http.Request) {
	if h.missing(w, r, h.Inspector) {
		return
	}
	id := r.PathValue("id")
	launches, err := h.Inspector.ClientLaunches(r.Context(), id, reportLaunches)
	if err != nil {
		h.internal(w, r, "build the report", err)
		return
	}
	rep := inspect.BuildReport(id, launches, h.now())
	p := ReportPage{Report: rep, BaseURL: h.base(), Counts: counts(rep.Errors, rep.Warnings), Generated: formatAt(rep.Generated)}
	for _, res := range rep.Rules {
		switch res.Outcome {
		case inspect.Fail:
			p.Failed = append(p.Failed, res)
		case inspect.Pass:
			p.Passed++
		default:
			p.Unused++
		}
	}
	h.render(w, r, http.StatusOK, reportPage(p))
}

// counts is "3 errors, 1 warning".
func counts(errs, warns int) string {
	return plural(errs, "error") + ", " + plural(warns, "warning")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	if strings.HasSuffix(word, "ch") {
		return strconv.Itoa(n) + " " + word + "es"
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func offset(d time.Duration) string {
	if d < time.Second {
		return fmt.Sprintf("+%d ms", d.Milliseconds())
	}
	return fmt.Sprintf("+%.3f s", d.Seconds())
}

func formatAt(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05.000 UTC")
}

func sortedKV(m map[string]string) []KV {
	out := make([]KV, 0, len(m))
	for k, v := range m {
		out = append(out, KV{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func stepID(seq int64) string { return "step-" + strconv.FormatInt(seq, 10) }

func inspectURL(launchID string) string { return "/inspect/" + url.PathEscape(launchID) }

func stepURL(launchID string, seq int64) string { return inspectURL(launchID) + "#" + stepID(seq) }

func reportURL(clientID string) string { return "/clients/" + url.PathEscape(clientID) + "/report" }

func severityClass(s inspect.Severity) string {
	switch s {
	case inspect.SevError:
		return "badge badge-error"
	case inspect.SevWarning:
		return "badge badge-warn"
	}
	return "badge"
}

func outcomeText(o inspect.Outcome) string {
	switch o {
	case inspect.Pass:
		return "pass"
	case inspect.Fail:
		return "fail"
	}
	return "not exercised"
}

func outcomeClass(o inspect.Outcome) string {
	switch o {
	case inspect.Pass:
		return "badge badge-ok"
	case inspect.Fail:
		return "badge badge-error"
	}
	return "badge"
}

func joinComma(s []string) string { return strings.Join(s, ", ") }

// inspectFramedURL links the inspector from the simulated EHR: the launch
// code of the framed app's URL opens the launch's timeline (/inspect
// resolves it to the launch id).
func inspectFramedURL(appSrc string) string {
	u, err := url.Parse(appSrc)
	if err != nil || u.Query().Get("launch") == "" {
		return ""
	}
	return "/inspect?launch=" + url.QueryEscape(u.Query().Get("launch"))
}
