package authui

import (
	"strings"

	"github.com/ehrsim/ehrsim/mockehr/scopes"
)

// consentContext is what the consent page's wording depends on: whether
// an EHR is involved, who is signed in and whose record is at hand.
type consentContext struct {
	EHR         bool   // an EHR launch: a patient or encounter is "open in the EHR"
	UserKind    string // Patient | Practitioner | RelatedPerson | ""
	UserName    string
	PatientName string // "" when no patient is in context
	OwnRecord   bool   // the signed-in user is the patient
}

// possessive is whose record a patient scope reads: "your" for the patient
// themself, else the patient's name ("Amy Shaw's").
func (c consentContext) possessive() string {
	switch {
	case c.OwnRecord:
		return "your"
	case c.PatientName != "":
		return c.PatientName + "'s"
	}
	return "the patient's"
}

// describeScope is scopes.Describe worded for the launch at hand: a
// standalone launch has no EHR to have a patient "open", and a clinician
// or a parent consenting to patient scopes reads the patient's records, not
// their own.
func describeScope(sc scopes.Scope, c consentContext) string {
	switch sc.Kind {
	case scopes.KindLaunchContext:
		var t string
		switch {
		case c.EHR:
			t = "Know which " + sc.LaunchType + " is open in the EHR"
		case sc.LaunchType == "patient" && c.OwnRecord:
			t = "Know that the record is yours"
		default:
			t = "Know which " + sc.LaunchType + " you chose"
		}
		if sc.LaunchType == "patient" && c.PatientName != "" && !c.OwnRecord {
			t += " (" + c.PatientName + ")"
		}
		if sc.Role != "" {
			t += " (role " + sc.Role + ")"
		}
		return t
	case scopes.KindFHIRUser:
		if c.UserName != "" {
			return "Know who you are: your user record (" + c.UserName + ")"
		}
		return "Know who you are: your user record"
	case scopes.KindOnlineAccess:
		if !c.EHR {
			return "Stay signed in while you use the app (online access)"
		}
	case scopes.KindResource:
		t := scopes.Describe(sc)
		if sc.Context == scopes.ContextPatient {
			t = strings.Replace(t, " your ", " "+c.possessive()+" ", 1)
		}
		return t
	}
	return scopes.Describe(sc)
}

// consentHeading is the consent page's question.
func consentHeading(c consentContext) string {
	switch {
	case c.OwnRecord || (c.PatientName == "" && c.UserKind == "Patient"):
		return "to access your data?"
	case c.PatientName != "":
		return "to access " + c.PatientName + "'s record on your behalf?"
	}
	return "to access data on your behalf?"
}
