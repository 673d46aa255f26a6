package fhir

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/inspect"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// record tells the launch inspector about one FHIR request: what was asked,
// what the token allowed or why it was refused, the status and result
// count, judged by the inspector's FHIR rules. Requests with no token the
// server knows (none, or a forged one) belong to no launch and are not
// recorded. Recording never changes the answer.
func (s *Server) record(rq *req, aerr *apiError) {
	in := s.inspector
	if in == nil {
		return
	}
	r := rq.r
	g, expired := rq.grant, false
	if g == nil && rq.expired != nil {
		g, expired = rq.expired, true
	}
	inQuery := queryGet(r, "access_token")
	if g == nil && inQuery != "" {
		// RFC 6750 §2.3 tokens are not accepted, but the request is still
		// the app's: find its launch to say so.
		g, _ = s.grants.ResolveGrant(r.Context(), inQuery)
	}
	if g == nil || g.LaunchID == "" {
		return
	}
	if aerr == nil && inQuery == "" && !expired && g.SimulateError == "" && (g.Patient == "" || otherPatient(r, g.Patient) == "") &&
		in.SkipRoutine(g.LaunchID, inspect.KindFHIR) {
		return
	}
	q := r.URL.Query()
	if q.Has("access_token") {
		q.Set("access_token", "(redacted)")
	}
	target := strings.TrimPrefix(r.URL.Path, rq.base)
	if rq.base == "" {
		if b, err := s.base(r); err == nil {
			target = strings.TrimPrefix(r.URL.Path, strings.TrimPrefix(b, s.baseURL))
		}
	}
	if enc := q.Encode(); enc != "" {
		target += "?" + enc
	}
	e := inspect.Event{LaunchID: g.LaunchID, ClientID: g.ClientID, Kind: inspect.KindFHIR, Status: rq.status,
		Request: map[string]string{"method": r.Method, "path": target, "scopes": strings.Join(g.Scopes, " ")}}
	if aerr != nil {
		e.Status = aerr.status
		e.Error = aerr.code + ": " + aerr.msg
		e.Summary = fmt.Sprintf("%s %s → %d (%s)", r.Method, target, e.Status, aerr.msg)
	} else {
		e.Summary = fmt.Sprintf("%s %s → %d", r.Method, target, e.Status)
		if rq.count >= 0 {
			e.Response = map[string]string{"total": fmt.Sprint(rq.count)}
			e.Summary += fmt.Sprintf(", %d results", rq.count)
		}
		e.Request["allowed_by"] = "the token's scopes (" + strings.Join(g.Scopes, " ") + ")"
	}
	e.Check(inspect.RuleTokenInQuery, inQuery != "", "the access token was sent in the URL's query string (access_token=…)")
	e.Check(inspect.RuleTokenExpiredUse, expired, "the access token had expired when the app used it")
	if expired && g.Refreshable {
		e.Check(inspect.RuleRefreshLate, true, "the app holds a refresh token but used its expired access token instead")
	}
	if g.Patient != "" {
		other := otherPatient(r, g.Patient)
		e.Check(inspect.RuleOtherPatient, other != "", "the app asked for patient "+other+", not the launch's patient "+g.Patient)
	}
	in.Record(e)
	if sim, ok := inspect.Simulated(e); ok {
		in.Record(sim)
	} else if g.SimulateError == smart.SimRequestSlow && !expired {
		in.Record(inspect.Event{LaunchID: g.LaunchID, ClientID: g.ClientID, Kind: inspect.KindSimulatedError, Status: e.Status,
			Summary: "simulated error request_slow injected at fhir: the answer was delayed", Request: map[string]string{"simulate_error": string(smart.SimRequestSlow)}})
	}
}

// otherPatient returns the patient id a request targets when it is not
// want ("" when it targets want or no patient).
func otherPatient(r *http.Request, want string) string {
	prev := ""
	for seg := range strings.SplitSeq(strings.Trim(r.URL.Path, "/"), "/") {
		if prev == "Patient" && seg != "" && !strings.HasPrefix(seg, "_") && seg != want {
			return seg
		}
		prev = seg
	}
	if r.URL.RawQuery == "" {
		return ""
	}
	q := r.URL.Query()
	for _, p := range []string{"patient", "subject", "_id"} {
		for _, v := range q[p] {
			for _, one := range strings.Split(v, ",") {
				id := strings.TrimPrefix(one, "Patient/")
				if p == "_id" && !strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "/Patient") {
					continue
				}
				if id != "" && id != want && !strings.Contains(id, "/") {
					return id
				}
			}
		}
	}
	return ""
}

// recordMetadata notes a CapabilityStatement read (discovery): on a /sim
// base it names its launch; on /fhir it waits to be claimed (inspect doc).
func (s *Server) recordMetadata(r *http.Request, status int) {
	if s.inspector == nil {
		return
	}
	launchID := ""
	if sc := r.PathValue("scenario"); sc != "" && s.scenarioLaunch != nil {
		launchID = s.scenarioLaunch(r.Context(), sc)
	}
	e := inspect.Event{LaunchID: launchID, Kind: inspect.KindDiscovery, Status: status,
		Summary: fmt.Sprintf("GET metadata (CapabilityStatement) → %d", status), Request: map[string]string{"method": r.Method, "path": r.URL.Path}}
	e.From(remoteHost(r), r.Header.Get("Origin"))
	s.inspector.Record(e)
}

func remoteHost(r *http.Request) string {
	if u, err := url.Parse("//" + r.RemoteAddr); err == nil {
		return u.Hostname()
	}
	return r.RemoteAddr
}
