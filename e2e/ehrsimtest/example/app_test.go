package example_test

import (
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

// smartApp is the app under test: a minimal SMART on FHIR EHR-launch app.
// GET /launch?iss=…&launch=… redirects to the EHR's authorize endpoint
// (PKCE, aud, launch); GET /callback exchanges the code and shows the
// patient's name, or an error page for a refused authorization.
type smartApp struct {
	*httptest.Server
	conf *oauth2.Config // ClientID and RedirectURL; the endpoints come from each launch's iss

	mu      sync.Mutex
	pending map[string]pending // by state
}

type pending struct {
	verifier string
	iss      string
	conf     oauth2.Config
}

func newSMARTApp(t *testing.T, clientID string) *smartApp {
	a := &smartApp{pending: map[string]pending{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /launch", a.launch)
	mux.HandleFunc("GET /callback", a.callback)
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	// Only now does the app know its own URL, and so its redirect URI.
	a.conf = &oauth2.Config{
		ClientID:    clientID,
		RedirectURL: a.URL + "/callback",
		Scopes:      []string{"launch", "openid", "fhirUser", "patient/Patient.rs", "patient/Observation.rs"},
	}
	return a
}

func (a *smartApp) launch(w http.ResponseWriter, r *http.Request) {
	iss, launch := r.URL.Query().Get("iss"), r.URL.Query().Get("launch")
	conf, err := discover(r, iss, *a.conf)
	if err != nil {
		http.Error(w, "discovery: "+err.Error(), http.StatusBadGateway)
		return
	}
	state, verifier := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	a.mu.Lock()
	a.pending[state] = pending{verifier: verifier, iss: iss, conf: conf}
	a.mu.Unlock()
	http.Redirect(w, r, conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("aud", iss), oauth2.SetAuthURLParam("launch", launch)), http.StatusFound)
}

func (a *smartApp) callback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a.mu.Lock()
	p, ok := a.pending[q.Get("state")]
	delete(a.pending, q.Get("state"))
	a.mu.Unlock()
	if !ok {
		http.Error(w, "unknown state", http.StatusBadRequest)
		return
	}
	if e := q.Get("error"); e != "" {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "<p id=error>The EHR refused access (%s)</p>", html.EscapeString(e))
		return
	}
	tok, err := p.conf.Exchange(r.Context(), q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		http.Error(w, "token: "+err.Error(), http.StatusBadGateway)
		return
	}
	patient, _ := tok.Extra("patient").(string)
	var pt struct {
		Name []struct {
			Given  []string
			Family string
		}
	}
	if err := getJSON(p.conf.Client(r.Context(), tok), p.iss+"/Patient/"+url.PathEscape(patient), &pt); err != nil || len(pt.Name) == 0 {
		http.Error(w, fmt.Sprintf("read Patient/%s: %v", patient, err), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "<h1 id=patient>%s %s</h1>", html.EscapeString(pt.Name[0].Given[0]), html.EscapeString(pt.Name[0].Family))
}

// discover reads the EHR's endpoints from iss/.well-known/smart-configuration.
func discover(r *http.Request, iss string, conf oauth2.Config) (oauth2.Config, error) {
	var sc struct {
		Authorize string `json:"authorization_endpoint"`
		Token     string `json:"token_endpoint"`
	}
	if err := getJSON(http.DefaultClient, iss+"/.well-known/smart-configuration", &sc); err != nil {
		return conf, err
	}
	conf.Endpoint = oauth2.Endpoint{AuthURL: sc.Authorize, TokenURL: sc.Token, AuthStyle: oauth2.AuthStyleInParams}
	return conf, nil
}

func getJSON(c *http.Client, u string, v any) error {
	res, err := c.Get(u)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return json.NewDecoder(res.Body).Decode(v)
}
