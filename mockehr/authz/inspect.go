package authz

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/inspect"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// What the authorization server tells the launch inspector (package
// inspect): each authorize request, page answer, code, token, refresh,
// introspection, revocation and discovery document, judged by the rules a
// strict EHR applies. Recording never changes an answer.

// statusRecorder remembers the status and Location a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func remoteIP(r *http.Request) string {
	h, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return h
}

func (s *Server) inspector() *inspect.Recorder { return s.opts.Inspector }

// recordDiscovery notes a discovery document served on base b (smart-
// configuration) or by the issuer (openid-configuration, JWKS).
func (s *Server) recordDiscovery(r *http.Request, status int, what, launchID string) {
	if s.inspector() == nil {
		return
	}
	e := inspect.Event{LaunchID: launchID, Kind: inspect.KindDiscovery, Status: status,
		Summary: fmt.Sprintf("GET %s → %d", what, status), Request: map[string]string{"method": r.Method, "path": r.URL.Path}}
	if o := r.Header.Get("Origin"); o != "" {
		e.Request["origin"] = o
	}
	e.From(remoteIP(r), r.Header.Get("Origin"))
	s.inspector().Record(e)
}

// recordingDiscovery wraps a discovery handler of the issuer.
func (s *Server) recordingDiscovery(what string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.recordDiscovery(r, rec.status, what, "")
	})
}

// authorizeLaunch is the launch an authorize request is attributed to: the
// one it names (even expired), else the client's most recent one.
func (s *Server) authorizeLaunch(ac *authorizeCtx, clientID string) *launcher.Launch {
	switch {
	case ac.launch != nil:
		return ac.launch
	case ac.stale != nil:
		return ac.stale
	}
	return nil
}

// recordAuthorize judges an authorize request and records it, after its
// answer (status and Location) is known.
func (s *Server) recordAuthorize(r *http.Request, ac *authorizeCtx, status int, location string) {
	in := s.inspector()
	if in == nil {
		return
	}
	f := r.Form
	clientID := strings.Clone(f.Get("client_id")) // kept by the inspector: not a slice of the request
	var launchID string
	if l := s.authorizeLaunch(ac, clientID); l != nil {
		launchID = l.ID
	} else {
		launchID = in.RecentLaunchOf(clientID, time.Hour)
	}
	if launchID == "" {
		return
	}
	in.Claim(launchID, clientID, remoteIP(r), r.Header.Get("Origin"))
	req := inspect.Redact(f)
	if l := req["launch"]; len(l) > 16 {
		req["launch"] = l[:12] + "…"
	}
	req["method"] = r.Method
	e := inspect.Event{LaunchID: launchID, ClientID: clientID, Kind: inspect.KindAuthorize, Status: status, Request: req}

	// state (RFC 6749 §10.12)
	state := f.Get("state")
	e.Check(inspect.RuleStateMissing, state == "", "the authorize request has no state")
	if state != "" {
		reused := in.SeenAuthorize(launchID, func(p *inspect.Event) bool { return p.Request["state"] == state })
		e.Check(inspect.RuleStateReused, reused, "the state "+state+" was already used by an earlier authorize request of this launch")
	}
	// PKCE (RFC 7636)
	method, ch := f.Get("code_challenge_method"), f.Get("code_challenge")
	e.Check(inspect.RulePKCEMissing, ch == "" && method == "", "no code_challenge: the app does not use PKCE")
	e.Check(inspect.RulePKCEPlain, method == "plain" || (ch != "" && method == ""), "code_challenge_method is "+orPlain(method)+", not S256")
	// aud
	aud := f.Get("aud")
	if aud == "" {
		aud = f.Get("resource")
	}
	e.Check(inspect.RuleAudMissing, aud == "", "no aud: the app does not say which FHIR server the token is for")
	if aud != "" {
		want := ""
		if l := s.authorizeLaunch(ac, clientID); l != nil && s.opts.Launches != nil {
			want = s.launchBase(l)
		}
		_, ok := smart.ParseFHIRBase(s.base, aud)
		mismatch := !ok || (want != "" && smart.TrimSlash(aud) != want)
		e.Check(inspect.RuleAudMismatch, mismatch, fmt.Sprintf("aud %s is not the FHIR base the app was given (%s)", aud, orUnknown(want)))
	}
	// launch
	sc, _ := scopes.ParseList(f.Get("scope"))
	asksLaunch := false
	for _, x := range sc {
		asksLaunch = asksLaunch || (x.Kind == scopes.KindLaunch)
	}
	if l := s.authorizeLaunch(ac, clientID); l != nil && l.Type.IsEHR() {
		e.Check(inspect.RuleLaunchMissing, !ac.launchParam, "this EHR launch's authorize request has no launch parameter")
	} else if asksLaunch && !ac.launchParam {
		e.Check(inspect.RuleLaunchMissing, true, "the launch scope was requested without a launch parameter")
	}
	if ac.launchParam {
		e.Check(inspect.RuleLaunchStale, ac.launchProblem, "the launch parameter is "+ac.problem)
	}
	// scopes
	var unsupported, v1, wild []string
	raw := strings.Fields(f.Get("scope"))
	for _, x := range raw {
		p, err := scopes.Parse(x)
		switch {
		case err != nil:
			unsupported = append(unsupported, x)
		case p.Kind == scopes.KindResource && p.V1:
			v1 = append(v1, x)
		}
		if err == nil && p.Kind == scopes.KindResource && p.ResourceType == "*" {
			wild = append(wild, x)
		}
	}
	e.Check(inspect.RuleScopeUnsupported, len(unsupported) > 0, "not SMART scopes this server supports: "+strings.Join(unsupported, " "))
	e.Check(inspect.RuleScopeV1, len(v1) > 0, "SMART v1 scope syntax: "+strings.Join(v1, " "))
	e.Check(inspect.RuleScopeWildcard, len(wild) > 0, "wildcard resource scopes: "+strings.Join(wild, " "))
	has := func(s string) bool {
		for _, x := range raw {
			if x == s {
				return true
			}
		}
		return false
	}
	e.Check(inspect.RuleFHIRUserScopes, has("fhirUser") && !has("openid"), "fhirUser was requested without openid")

	e.Summary = fmt.Sprintf("%s authorize by %s → %d", r.Method, clientID, status)
	s.outcome(&e, location)
	in.Record(e)
	if sim, ok := inspect.Simulated(e); ok {
		in.Record(sim)
	}
	if e.Response["code"] != "" {
		in.Record(inspect.Event{LaunchID: launchID, ClientID: clientID, Kind: inspect.KindCodeIssued,
			Summary: "authorization code issued (no page needed)", Response: map[string]string{"redirect_uri": f.Get("redirect_uri")}})
	}
}

func orPlain(m string) string {
	if m == "" {
		return "missing (so plain)"
	}
	return m
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// launchBase is the FHIR base the app of launch l was given.
func (s *Server) launchBase(l *launcher.Launch) string {
	if l.Type.IsEHR() {
		return smart.FHIRBase{Origin: s.base}.URL()
	}
	if sc := l.Scenario(); sc != "" {
		return smart.FHIRBase{Origin: s.base, Scenario: sc}.URL()
	}
	return ""
}

// outcome fills an authorize-like event's response from the redirect
// Location: a code (shortened) or an error.
func (s *Server) outcome(e *inspect.Event, location string) {
	if location == "" {
		return
	}
	u, err := url.Parse(location)
	if err != nil {
		return
	}
	q := u.Query()
	e.Response = map[string]string{}
	switch {
	case q.Get("code") != "":
		e.Response["code"] = inspect.Redact(url.Values{"code": {q.Get("code")}})["code"]
		e.Response["redirect"] = u.Scheme + "://" + u.Host + u.Path
		e.Summary += ", code issued"
	case q.Get("error") != "":
		e.Error = q.Get("error") + ": " + q.Get("error_description")
		e.Response["redirect"] = u.Scheme + "://" + u.Host + u.Path
		e.Summary += ", error " + q.Get("error")
	case strings.HasPrefix(location, s.issuer+"/"):
		e.Response["next"] = strings.TrimPrefix(u.Path, "/auth/") + " page"
		e.Summary += ", to the " + strings.TrimPrefix(u.Path, "/auth/") + " page"
	}
}

// recordPage notes a page answer (login, pickers, consent) and, when it
// finished the request, the code or error it sent the app.
func (s *Server) recordPage(r *http.Request, a *authRequest, step smart.AuthStep, next string, err error) {
	in := s.inspector()
	if in == nil || a == nil || a.Launch == nil {
		return
	}
	kind := map[smart.AuthStep]inspect.Kind{smart.StepLogin: inspect.KindLogin, smart.StepPatient: inspect.KindPatientChosen,
		smart.StepEncounter: inspect.KindEncounter, smart.StepConsent: inspect.KindConsent}[step]
	f := r.PostForm
	e := inspect.Event{LaunchID: a.Launch.ID, ClientID: a.ClientID, Kind: kind, Status: http.StatusSeeOther, Request: map[string]string{}}
	switch {
	case f.Get("decision") == "deny":
		e.Summary = "the user denied access"
	case step == smart.StepLogin:
		e.Summary, e.Request["user"] = "signed in as "+f.Get("user"), f.Get("user")
	case step == smart.StepPatient:
		e.Summary, e.Request["patient"] = "patient "+f.Get("patient")+" chosen", f.Get("patient")
	case step == smart.StepEncounter:
		e.Summary, e.Request["encounter"] = "encounter "+orNone(f.Get("encounter"))+" chosen", f.Get("encounter")
	case step == smart.StepConsent:
		kept := f["scope"]
		var dropped []string
		for _, sc := range a.Requested {
			if !contains(kept, sc.Raw) {
				dropped = append(dropped, sc.Raw)
			}
		}
		e.Summary, e.Request["scopes_kept"] = "consent given", strings.Join(kept, " ")
		if len(dropped) > 0 {
			e.Request["scopes_deselected"] = strings.Join(dropped, " ")
			e.Summary += " (deselected: " + strings.Join(dropped, " ") + ")"
		}
	}
	if err != nil {
		e.Error, e.Status = err.Error(), 0
	}
	s.outcome(&e, next)
	in.Record(e)
	if e.Response["code"] != "" {
		in.Record(inspect.Event{LaunchID: a.Launch.ID, ClientID: a.ClientID, Kind: inspect.KindCodeIssued, Summary: "authorization code issued",
			Response: map[string]string{"redirect_uri": a.RedirectURI}})
	}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// recordToken judges and records a token-endpoint request (grant types
// authorization_code, refresh_token, client_credentials) after its answer.
func (s *Server) recordToken(r *http.Request, g grantRef, resp *tokenResponse, err error) {
	in := s.inspector()
	if in == nil || g.launchID == "" {
		return
	}
	f := r.PostForm
	grant := f.Get("grant_type")
	kind := inspect.KindToken
	if grant == "refresh_token" {
		kind = inspect.KindRefresh
	}
	e := inspect.Event{LaunchID: g.launchID, ClientID: g.clientID, Kind: kind, Request: inspect.Redact(f)}
	e.Request["client_auth"] = clientAuthMethod(r)
	if err != nil {
		oe := asOAuthError(err)
		e.Status, e.Error = oe.status(), oe.Code+": "+oe.Description
		e.Summary = fmt.Sprintf("%s → %d %s", grant, e.Status, oe.Code)
	} else {
		e.Status = http.StatusOK
		e.Response = map[string]string{"scope": resp.Scope, "expires_in": fmt.Sprint(resp.ExpiresIn)}
		ctx := []string{}
		if resp.Patient != "" {
			e.Response["patient"] = resp.Patient
			ctx = append(ctx, "patient "+resp.Patient)
		}
		if resp.Encounter != "" {
			e.Response["encounter"] = resp.Encounter
			ctx = append(ctx, "encounter "+resp.Encounter)
		}
		if resp.IDToken != "" {
			e.Response["id_token"] = "issued (RS256)"
			ctx = append(ctx, "id_token issued")
		}
		if resp.RefreshToken != "" {
			e.Response["refresh_token"] = "issued"
		}
		e.Summary = fmt.Sprintf("%s → 200, scopes %s", grant, resp.Scope)
		if len(ctx) > 0 {
			e.Summary += ", " + strings.Join(ctx, ", ")
		}
	}
	if grant == "authorization_code" {
		e.Check(inspect.RuleRedirectMismatch, err != nil && strings.Contains(err.Error(), "redirect_uri differs"), "the token request's redirect_uri differs from the authorize request's")
		e.Check(inspect.RuleCodeReused, err != nil && strings.Contains(err.Error(), "already used"), "the authorization code was redeemed a second time")
		if f.Get("code_verifier") != "" && err == nil {
			e.Request["pkce"] = "verified (S256)"
		}
	}
	if r.URL.Query().Has("client_secret") {
		e.Check(inspect.RuleSecretInQuery, true, "client_secret was sent in the token URL's query string")
	} else if f.Get("client_secret") != "" || usedBasic(r) {
		e.Check(inspect.RuleSecretInQuery, false, "")
	}
	if a := f.Get("client_assertion"); a != "" {
		hdr, claims := unverifiedJWT(a)
		e.Check(inspect.RuleAssertionNoKid, hdr["kid"] == nil, "the client assertion's JOSE header has no kid")
		exp, _ := claims["exp"].(float64)
		e.Check(inspect.RuleAssertionLongExp, exp > 0 && time.Unix(int64(exp), 0).Sub(s.now()) > 5*time.Minute+30*time.Second,
			"the client assertion's exp is more than 5 minutes ahead")
		e.Check(inspect.RuleAssertionJTIReused, err != nil && strings.Contains(err.Error(), "jti") && strings.Contains(err.Error(), "used"),
			"the client assertion's jti was already used")
	}
	in.Record(e)
	if sim, ok := inspect.Simulated(e); ok {
		in.Record(sim)
	}
}

func clientAuthMethod(r *http.Request) string {
	f := r.PostForm
	switch {
	case usedBasic(r):
		return "client_secret_basic"
	case f.Get("client_assertion") != "":
		return "private_key_jwt"
	case f.Get("client_secret") != "":
		return "client_secret_post"
	case f.Get("client_id") != "":
		return "none (public client)"
	}
	return "none"
}

// unverifiedJWT decodes a JWT's header and claims without verifying it.
func unverifiedJWT(jwt string) (hdr, claims map[string]any) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 || len(jwt) > 16<<10 {
		return nil, nil
	}
	for i, dst := range []*map[string]any{&hdr, &claims} {
		if b, err := base64.RawURLEncoding.DecodeString(parts[i]); err == nil {
			json.Unmarshal(b, dst)
		}
	}
	return hdr, claims
}

// recordTokenUse notes an introspection or revocation of a token.
func (s *Server) recordTokenUse(r *http.Request, kind inspect.Kind, token string, status int, detail string) {
	in := s.inspector()
	if in == nil {
		return
	}
	e, ok := s.tokens.lookup(token)
	if !ok || e.fam.LaunchID == "" {
		return
	}
	if kind == inspect.KindIntrospect && status == http.StatusOK && detail == "active" && in.SkipRoutine(e.fam.LaunchID, kind) {
		return
	}
	in.Record(inspect.Event{LaunchID: e.fam.LaunchID, ClientID: e.fam.ClientID, Kind: kind, Status: status,
		Summary: fmt.Sprintf("%s of a %s token → %d %s", kind, e.kind, status, detail), Request: map[string]string{"client_auth": clientAuthMethod(r)}})
}
