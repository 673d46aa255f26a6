package authz

import (
	"log/slog"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// authRequest is one authorization request from /authorize until its code
// is redeemed. It lives in memory only (docs/architecture.md, state and storage), in a
// bounded map. It satisfies op.AuthRequest.
type authRequest struct {
	ID        string
	CreatedAt time.Time
	ExpiresAt time.Time // request (before the code) or code expiry

	ClientID       string
	RedirectURI    string
	State          string
	Nonce          string
	ResponseType   oidc.ResponseType
	ResponseMode   oidc.ResponseMode
	Challenge      *oidc.CodeChallenge
	Prompt         []string
	Requested      []scopes.Scope // valid requested scopes, granted by the client rules
	Granted        []scopes.Scope // what the user consented to
	Aud            string         // normalised FHIR base
	LaunchParam    bool           // the request carried a launch parameter (EHR launch)
	Launch         *launcher.Launch
	Client         *clientDef
	BrowserID      string // binds the pages to the browser that started the request
	SessionID      string
	UserKind       string // Practitioner | Patient | RelatedPerson | "" (login decides)
	FHIRUser       string // relative reference of the user
	Patient        string
	Encounter      string
	PatientChoice  []string // patients the picker is limited to (launch list or a related person's)
	Consented      bool
	encounterAsked bool
	AuthTime       time.Time
	done           bool
	version        int // bumped by every commit (storage.commit's check-and-set)
	Code           string
}

func (a *authRequest) GetID() string                         { return a.ID }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAMR() []string                      { return nil }
func (a *authRequest) GetAudience() []string                 { return []string{a.ClientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.AuthTime }
func (a *authRequest) GetClientID() string                   { return a.ClientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.Challenge }
func (a *authRequest) GetNonce() string                      { return a.Nonce }
func (a *authRequest) GetRedirectURI() string                { return a.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.ResponseMode }
func (a *authRequest) GetScopes() []string                   { return rawScopes(a.Granted) }
func (a *authRequest) GetState() string                      { return a.State }
func (a *authRequest) GetSubject() string                    { return subjectOf(a.FHIRUser) }
func (a *authRequest) Done() bool                            { return a.done }

func (a *authRequest) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", a.ID), slog.String("client_id", a.ClientID))
}

func (a *authRequest) simulate() string {
	if a.Launch == nil {
		return ""
	}
	return string(a.Launch.SimulateError)
}

func rawScopes(ss []scopes.Scope) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = s.Raw
	}
	return out
}

// subjectOf derives the OIDC sub from the user's FHIR reference
// ("Practitioner/pr-1" → "Practitioner-pr-1"): stable, readable, and free of
// ':' (zitadel's opaque token format splits on it).
func subjectOf(fhirUser string) string {
	b := []byte(fhirUser)
	for i, c := range b {
		if c == '/' || c == ':' {
			b[i] = '-'
		}
	}
	return string(b)
}

// cloneAll copies ss and its strings (see authorize: stored requests must
// not keep the request's bytes alive).
func cloneAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.Clone(s)
	}
	return out
}
