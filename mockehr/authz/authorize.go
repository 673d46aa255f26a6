package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// authorizeCtx is what handleAuthorize resolved before zitadel parses the
// request; it travels in the context to VerifyAuthRequest and Authorize.
type authorizeCtx struct {
	launch      *launcher.Launch
	stale       *launcher.Launch // an expired launch the request named (for the inspector)
	launchParam bool
	aud         string
	problem     string // an invalid_request description for Authorize to redirect with
	// launchProblem: problem is about the launch (unknown, expired, minted
	// for another client), so the launch cannot vouch for the client.
	launchProblem bool
	client        *clientDef
	browserID     string
	sessionID     string
	sessionUser   string // FHIR reference of the logged-in user, if any
}

type authorizeCtxKey struct{}

func authorizeFrom(ctx context.Context) *authorizeCtx {
	ac, _ := ctx.Value(authorizeCtxKey{}).(*authorizeCtx)
	return ac
}

// handleAuthorize serves GET and POST /auth/authorize (AZ-01/02). It checks
// client_id and redirect_uri first, so those errors render a page and never
// redirect (RFC 6749 §4.1.2.1, AZ-05/06, ERR-07), then hands over to zitadel.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.errorPage(w, r, http.StatusBadRequest, "Malformed authorization request", err.Error())
		return
	}
	ac := &authorizeCtx{}
	rec := &statusRecorder{ResponseWriter: w}
	s.authorize(rec, r, ac)
	s.recordAuthorize(r, ac, rec.status, rec.Header().Get("Location"))
}

func (s *Server) authorize(w http.ResponseWriter, r *http.Request, ac *authorizeCtx) {
	ctx := r.Context()
	s.resolveLaunch(ctx, r.Form, ac)
	clientID := r.Form.Get("client_id")
	if clientID == "" {
		s.errorPage(w, r, http.StatusBadRequest, "Missing client_id", "The authorization request has no client_id parameter, so there is no registered redirect URI to send an error to.")
		return
	}
	def, msg := s.resolveClient(ctx, clientID, ac.launch)
	if msg != "" {
		s.errorPage(w, r, http.StatusBadRequest, "Unknown client", msg)
		return
	}
	ac.client = def
	if ac.launch != nil && ac.launch.Client.ClientID != "" && ac.launch.Client.ClientID != clientID && ac.problem == "" {
		ac.problem, ac.launchProblem = fmt.Sprintf("the launch was minted for client %q, not %q", ac.launch.Client.ClientID, clientID), true
	}
	sim := simulateOf(ac.launch)
	if sim == smart.SimAuthInvalidClientID {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid client_id",
			fmt.Sprintf("The client_id %q was refused (simulated error auth_invalid_client_id). No code was issued.", clientID))
		return
	}
	redirect := r.Form.Get("redirect_uri")
	if redirect == "" {
		s.errorPage(w, r, http.StatusBadRequest, "Missing redirect_uri", "The authorization request has no redirect_uri parameter.")
		return
	}
	if sim == smart.SimAuthInvalidRedirectURI {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid redirect_uri",
			fmt.Sprintf("The redirect_uri %q was refused (simulated error auth_invalid_redirect_uri). No code was issued.", redirect))
		return
	}
	if u, err := url.Parse(redirect); err != nil || !u.IsAbs() || u.Fragment != "" {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid redirect_uri", fmt.Sprintf("redirect_uri %q is not an absolute URI without a fragment (RFC 6749 §3.1.2).", redirect))
		return
	}
	if !def.redirectAllowed(redirect) {
		s.errorPage(w, r, http.StatusBadRequest, "Invalid redirect_uri",
			fmt.Sprintf("redirect_uri %q is not one of the registered: %s", redirect, strings.Join(def.Client.RedirectURIs, ", ")))
		return
	}
	if ac.launchProblem && def.AnyRedirect {
		// No registration or launch vouches for this redirect_uri, and the
		// launch the request carries does not either: redirecting the error
		// would make ehrsim an open redirector (RFC 9700 §4.11; AZ-06).
		s.errorPage(w, r, http.StatusBadRequest, "Launch refused",
			fmt.Sprintf("The authorization request was refused: %s. Client %q has no registered redirect URIs, so the error is shown here instead of being sent to %q (RFC 6749 §4.1.2.1). No code was issued.", ac.problem, clientID, redirect))
		return
	}
	if rt := r.Form.Get("response_type"); rt != "" && rt != string(oidc.ResponseTypeCode) {
		// AZ-10: the redirect_uri is validated, so the error goes back to it.
		a := &authRequest{RedirectURI: redirect, State: r.Form.Get("state"), ResponseType: oidc.ResponseTypeCode}
		e := &oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type=code is supported"}
		http.Redirect(w, r, s.errorURL(a, e), http.StatusFound)
		return
	}
	sess := s.session(r)
	ac.browserID, ac.sessionID, ac.sessionUser = sess.browserID(), sess.sessionID(), sess.user()
	if sess.isNew() {
		if err := sess.save(w, r); err != nil {
			s.errorPage(w, r, http.StatusInternalServerError, "Session error", err.Error())
			return
		}
	}
	r = r.WithContext(context.WithValue(ctx, authorizeCtxKey{}, ac))
	http.StripPrefix("/auth", s.opHandler).ServeHTTP(w, r)
}

// resolveLaunch validates aud (or resource, AZ-09) and opens the launch
// (EHR launch "launch" parameter) or the scenario named by a /sim base.
func (s *Server) resolveLaunch(ctx context.Context, form url.Values, ac *authorizeCtx) {
	if code := form.Get("launch"); code != "" {
		ac.launchParam = true
		if s.opts.Launches == nil {
			ac.problem, ac.launchProblem = "unknown launch", true
		} else if l, err := s.opts.Launches.Open(ctx, code); errors.Is(err, launcher.ErrExpiredLaunch) {
			ac.problem, ac.launchProblem, ac.stale = "the launch has expired", true, l
		} else if err != nil {
			ac.problem, ac.launchProblem = "unknown launch", true
		} else {
			ac.launch = l
		}
	}
	aud := form.Get("aud")
	if aud == "" {
		aud = form.Get("resource")
	}
	if aud == "" {
		if ac.problem == "" {
			ac.problem = "aud is required: the FHIR base URL the app will call"
		}
		return
	}
	fb, ok := smart.ParseFHIRBase(s.base, aud)
	base, scenario := fb.URL(), fb.Scenario
	if !ok {
		if ac.problem == "" {
			ac.problem = "aud does not match a FHIR base URL of this server"
		}
		return
	}
	ac.aud = base
	if scenario == "" {
		return
	}
	l, err := s.openScenario(ctx, scenario)
	if err != nil {
		if ac.problem == "" {
			ac.problem, ac.launchProblem = "aud names an unknown or expired scenario", true
		}
		return
	}
	if ac.launch == nil {
		ac.launch = l
	}
}

func (s *Server) openScenario(ctx context.Context, scenario string) (*launcher.Launch, error) {
	if s.opts.Launches == nil {
		return nil, errors.New("no launcher")
	}
	return s.opts.Launches.OpenScenario(ctx, scenario)
}

// simulateOf is the launch's simulated error, "" for none.
func simulateOf(l *launcher.Launch) smart.SimulatedError {
	if l == nil {
		return ""
	}
	return l.SimulateError
}

// VerifyAuthRequest hands zitadel the client handleAuthorize resolved.
func (ss *smartServer) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	ac := authorizeFrom(ctx)
	if ac == nil || ac.client == nil {
		return nil, oidc.ErrInvalidRequest().WithDescription("authorization requests go through /auth/authorize")
	}
	return &op.ClientRequest[oidc.AuthRequest]{Request: r, Client: ss.srv.opClientFor(ac.client, r.Data.RedirectURI)}, nil
}

func (s *Server) opClientFor(def *clientDef, redirect string) *opClient {
	return &opClient{def: def, redirect: redirect, loginURL: func(id string) string { return s.pageURL(stepLogin, id) }}
}

// Authorize runs after zitadel validated redirect_uri, prompt, response_type
// and the challenge method; every error returned here is redirected to the
// client with the state (ERR-07).
func (ss *smartServer) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	s := ss.srv
	ac := authorizeFrom(ctx)
	if ac.problem != "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("%s", ac.problem) // AZ-07/08, EHR-09
	}
	if r.Data.RequestParam != "" {
		return nil, oidc.ErrRequestNotSupported()
	}
	// PKCE (RFC 7636, SMART app-launch §PKCE): S256 only, in every mode.
	ch, method := r.Data.CodeChallenge, r.Data.CodeChallengeMethod
	switch {
	case method == oidc.CodeChallengeMethodPlain:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method plain is not supported; use S256") // PKCE-02
	case ch != "" && method != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256") // PKCE-03
	case method != "" && ch == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge is missing")
	case ch == "" && ac.client.pkceRequired():
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge (PKCE, S256) is required") // PKCE-01
	}
	switch simulateOf(ac.launch) {
	case smart.SimAuthInvalidScope:
		return nil, oidc.ErrInvalidScope().WithDescription("simulated error auth_invalid_scope")
	case smart.SimAuthAccessDenied:
		return nil, oidc.ErrAccessDenied().WithDescription("simulated error auth_access_denied")
	case smart.SimAuthTemporarilyUnavailable:
		return nil, &oidc.Error{ErrorType: "temporarily_unavailable", Description: "simulated error auth_temporarily_unavailable"}
	}
	// Copies of the request's strings: the request and its token family
	// outlive the request, and a slice would keep its whole line alive.
	requested, _ := scopes.ParseList(strings.Clone(r.Form.Get("scope")))
	granted, _ := ac.client.grantScopes(requested)
	if len(granted) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("none of the requested scopes is valid and allowed for this client")
	}
	now := s.now()
	a := &authRequest{
		ID: randomHandle(24), CreatedAt: now, ExpiresAt: now.Add(authRequestLifetime),
		ClientID: strings.Clone(r.Data.ClientID), RedirectURI: strings.Clone(r.Data.RedirectURI),
		State: strings.Clone(r.Data.State), Nonce: strings.Clone(r.Data.Nonce),
		ResponseType: r.Data.ResponseType, ResponseMode: r.Data.ResponseMode, Prompt: cloneAll(r.Data.Prompt),
		Requested: granted, Granted: granted, Aud: ac.aud, LaunchParam: ac.launchParam, Launch: ac.launch,
		Client: ac.client, BrowserID: ac.browserID, SessionID: ac.sessionID,
	}
	if ch != "" {
		a.Challenge = &oidc.CodeChallenge{Challenge: ch, Method: method}
	}
	if ac.launch != nil && ac.launch.LaunchOnce && s.opts.Launches != nil {
		if err := s.opts.Launches.Consume(ctx, ac.launch); err != nil {
			return nil, oidc.ErrInvalidRequest().WithDescription("the launch was already used")
		}
	}
	s.presetContext(ctx, a, ac)
	if s.pendingStep(a) == "" {
		// Nothing to ask (a launch that skips login and consent): the
		// request is stored finished, with its code, in one write.
		a.done, a.Code, a.ExpiresAt = true, randomHandle(32), now.Add(s.opts.CodeLifetime)
	}
	if err := s.storage.add(ctx, a); err != nil {
		return nil, err
	}
	s.rememberClient(ctx, ac.client, a.ExpiresAt.Add(s.opts.CodeLifetime))
	if a.done {
		return op.NewRedirect(s.codeURL(a, a.Code)), nil
	}
	next, err := s.nextStep(ctx, a)
	if err != nil {
		s.storage.DeleteAuthRequest(ctx, a.ID)
		return nil, err
	}
	return op.NewRedirect(next), nil
}

func hasPrompt(a *authRequest, p string) bool { return contains(a.Prompt, p) }
