package authui

import "time"

// Hidden carries the request id and CSRF token every form posts back.
type Hidden struct {
	RequestID string
	CSRF      string
}

// ErrorView is the readable error page (never a redirect to an unvalidated URI).
type ErrorView struct {
	Status int
	Title  string
	Detail string
	// Home is the site root: the launcher at Home, the launch inspector
	// at Home + "inspect".
	Home string
	// Inspect opens the launch inspector on the request's launch when it
	// is known, else on the recent launches.
	Inspect string
}

// Person is one selectable user or patient.
type Person struct {
	Ref    string // "Practitioner/pr-1", "Patient/p-1", "RelatedPerson/rp-1"
	Name   string
	Detail string // one line: role, or sex · age · MRN
}

// LoginView lets the user pick who they are.
type LoginView struct {
	Hidden
	Action        string // form action for the choice
	SearchAction  string // GET target of the search box (the same page)
	Query         string
	ClientID      string
	Practitioners []Person // provider launches
	Patients      []Person // patient launches
	PatientTotal  int      // patients matching, beyond the list's limit
	Related       []Person // patient launches: proxies
	Error         string
}

// PatientRow is one patient in the picker.
type PatientRow struct {
	ID     string
	Name   string
	Detail string // age, sex, birth date and MRN, as the launcher writes them
}

// PatientPickerView is the standalone launch/patient picker.
type PatientPickerView struct {
	Hidden
	Action       string
	SearchAction string
	Query        string
	Limited      bool // the launch limits the choice
	Patients     []PatientRow
}

// EncounterRow is one encounter in the picker.
type EncounterRow struct {
	ID       string
	Type     string
	Class    string
	Status   string
	Period   string
	Location string
}

// EncounterPickerView asks for launch/encounter context.
type EncounterPickerView struct {
	Hidden
	Action      string
	PatientName string
	Encounters  []EncounterRow
}

// ScopeItem is one requested scope on the consent page.
type ScopeItem struct {
	Raw         string
	Description string
}

// ConsentView lists the requested scopes, each a checkbox.
type ConsentView struct {
	Hidden
	Action      string
	ClientID    string
	Heading     string // the rest of "Allow {client} …": whose data, worded for the user
	UserName    string
	PatientName string
	Scopes      []ScopeItem
}

// GrantRow is one app's active access on the manage page: every token
// family the app holds for the user, revoked together.
type GrantRow struct {
	IDs      []string // token family ids (the revoke form's values)
	ClientID string
	App      string // the app's registered name, else its client id
	Scopes   []string
	Patients string // whose records, by name
	Launches int    // how many authorizations the row gathers
	Expires  string // the latest expiry
	// LastAuthorized is when the user last let the app in (the latest
	// sign-in among the row's grants); "" when unknown.
	LastAuthorized string
	lastAuth       time.Time
}

// ManageView is the patient/user access-management page (SMART
// management_endpoint): sign in, see which apps hold access, revoke it.
type ManageView struct {
	CSRF   string
	Action string
	Query  string // the sign-in list's search
	User   string // display name of the signed-in user; empty: not signed in
	// The sign-in list, grouped as on the login page.
	Practitioners []Person
	Patients      []Person
	Related       []Person
	Grants        []GrantRow
	Notice        string
	Home          string // the launcher
}
