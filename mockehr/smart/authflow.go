package smart

import (
	"fmt"
	"time"
)

// The contract between the authorization server (mockehr/authz), which owns
// authorization requests, sessions, CSRF and every decision, and its pages
// (ui/authui), which own HTTP routes and presentation of the login, patient
// picker, encounter picker, consent and access-management pages. The pages
// ask the server what to show and hand it the user's answers; they never
// change a request themselves. (zitadel's own example keeps its login UI
// apart from the OP the same way.)

// AuthStep names a page of the authorization flow, in flow order.
type AuthStep string

const (
	StepLogin     AuthStep = "login"
	StepPatient   AuthStep = "patient"
	StepEncounter AuthStep = "encounter"
	StepConsent   AuthStep = "consent"
)

// AuthSteps lists the steps in flow order.
var AuthSteps = []AuthStep{StepLogin, StepPatient, StepEncounter, StepConsent}

// PendingAuth is a pending authorization request as its pages see it.
type PendingAuth struct {
	ID       string
	ClientID string
	Step     AuthStep // the page the request needs now
	CSRF     string   // the browser session's token every form posts back
	// UserKind limits who may sign in: Practitioner (provider launches),
	// Patient (patient launches: patients and their related persons), or
	// "" (anyone).
	UserKind      string
	FHIRUser      string   // signed-in user, e.g. "Practitioner/pr-1"
	Patient       string   // patient in context (bare id)
	PatientChoice []string // patients the picker is limited to; empty: any
	LaunchType    string   // the launch's type, "" without a launch
	Scopes        []string // requested (and allowed) scopes, raw, for consent
}

// PageError is a problem an authorization page shows as a readable HTML
// page (never a redirect to an unvalidated URI).
type PageError struct {
	Status int
	Title  string
	Detail string
}

func (e *PageError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Title, e.Detail) }

// AppGrant is one app's active access on behalf of a user (a token family),
// for the access-management page (SMART management_endpoint).
type AppGrant struct {
	ID       string // revocation handle of the grant
	ClientID string
	Scopes   []string
	Patient  string
	Expires  time.Time
	// Authorized is when the user signed in for the grant (its auth_time):
	// the last time they let the app in.
	Authorized time.Time
}
