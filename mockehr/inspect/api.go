package inspect

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/apierr"
)

// API serves the inspector's JSON: a launch's events (live with
// Accept: text/event-stream), recent launches, and a client's report.
type API struct {
	Recorder *Recorder
	// ReportLaunches is how many recent launches a report looks at (0 = 20).
	ReportLaunches int
	Now            func() time.Time
}

// Mount registers the routes.
func (a *API) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/launches/{id}/events", a.events)
	mux.HandleFunc("GET /api/inspect/launches", a.recent)
	mux.HandleFunc("GET /api/clients/{id}/report", a.report)
}

// EventsBody is the JSON of GET /api/launches/{id}/events.
type EventsBody struct {
	LaunchID string  `json:"launch_id"`
	Errors   int     `json:"errors"`
	Warnings int     `json:"warnings"`
	Events   []Event `json:"events"`
}

func (a *API) events(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		a.stream(w, r, id)
		return
	}
	evs, err := a.Recorder.Events(r.Context(), id)
	if err != nil {
		apierr.Write(w, http.StatusInternalServerError, "server_error", "", err.Error())
		return
	}
	body := EventsBody{LaunchID: id, Events: evs}
	if body.Events == nil {
		body.Events = []Event{}
	}
	body.Errors, body.Warnings = Count(evs)
	apierr.WriteJSON(w, http.StatusOK, body)
}

// streamFor bounds one server-sent-events connection.
const streamFor = 10 * time.Minute

// stream sends the launch's events so far, then each new one as it is
// recorded (server-sent events, "event: inspect"), for streamFor at most.
func (a *API) stream(w http.ResponseWriter, r *http.Request, id string) {
	fl, ok := w.(http.Flusher)
	if !ok {
		apierr.Write(w, http.StatusNotAcceptable, "not_acceptable", "", "streaming is not available on this connection")
		return
	}
	live, cancel := a.Recorder.Subscribe(id)
	defer cancel()
	past, err := a.Recorder.Events(r.Context(), id)
	if err != nil {
		apierr.Write(w, http.StatusInternalServerError, "server_error", "", err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	seen := map[string]bool{}
	send := func(e Event) {
		b, _ := json.Marshal(e)
		fmt.Fprintf(w, "event: inspect\ndata: %s\n\n", b)
	}
	for _, e := range past {
		seen[eventKey(e)] = true
		send(e)
	}
	fl.Flush()
	t := time.NewTimer(streamFor)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			return
		case e := <-live:
			if seen[eventKey(e)] {
				continue
			}
			send(e)
			fl.Flush()
		}
	}
}

func eventKey(e Event) string {
	return strconv.FormatInt(e.At.UnixNano(), 10) + "\x00" + string(e.Kind) + "\x00" + e.Summary
}

func (a *API) recent(w http.ResponseWriter, r *http.Request) {
	limit := 50
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n <= 1000 {
		limit = n
	}
	list, err := a.Recorder.Recent(r.Context(), limit)
	if err != nil {
		apierr.Write(w, http.StatusInternalServerError, "server_error", "", err.Error())
		return
	}
	if list == nil {
		list = []LaunchSummary{}
	}
	apierr.WriteJSON(w, http.StatusOK, map[string]any{"launches": list})
}

// Report builds client id's report over its recent launches.
func (a *API) Report(r *http.Request, id string) (*Report, error) {
	n := a.ReportLaunches
	if n <= 0 {
		n = 20
	}
	launches, err := a.Recorder.ClientLaunches(r.Context(), id, n)
	if err != nil {
		return nil, err
	}
	now := time.Now
	if a.Now != nil {
		now = a.Now
	}
	return BuildReport(id, launches, now()), nil
}

func (a *API) report(w http.ResponseWriter, r *http.Request) {
	rep, err := a.Report(r, r.PathValue("id"))
	if err != nil {
		apierr.Write(w, http.StatusInternalServerError, "server_error", "", err.Error())
		return
	}
	switch f := r.URL.Query().Get("format"); f {
	case "", "json":
		apierr.WriteJSON(w, http.StatusOK, rep)
	case "junit":
		b, err := rep.JUnit()
		if err != nil {
			apierr.Write(w, http.StatusInternalServerError, "server_error", "", err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.Write(b)
	case "text":
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(rep.Text()))
	default:
		apierr.Write(w, http.StatusBadRequest, "invalid_request", "format", fmt.Sprintf("unknown format %q: json, junit or text", f))
	}
}
