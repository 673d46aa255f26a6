package inspect

import (
	"net/url"
	"strings"
	"time"
)

// Kind names what an event is.
type Kind string

const (
	KindLaunchMinted   Kind = "launch.minted"
	KindDiscovery      Kind = "discovery"        // smart-configuration, openid-configuration, metadata, JWKS
	KindAuthorize      Kind = "authorize"        // the authorize request (accepted or refused)
	KindLogin          Kind = "login"            // the user signed in
	KindPatientChosen  Kind = "patient.chosen"   // patient picker
	KindEncounter      Kind = "encounter.chosen" // encounter picker
	KindConsent        Kind = "consent"          // the user allowed (scopes kept) or denied
	KindCodeIssued     Kind = "code.issued"
	KindToken          Kind = "token"      // code exchange or client_credentials
	KindRefresh        Kind = "refresh"    // refresh_token grant
	KindIntrospect     Kind = "introspect" // introspection
	KindRevoke         Kind = "revoke"
	KindFHIR           Kind = "fhir" // one FHIR request
	KindSimulatedError Kind = "simulated_error"
)

// Event is one recorded protocol step.
type Event struct {
	Seq      int64     `json:"seq"` // order within its launch (0 until recorded)
	LaunchID string    `json:"launch_id,omitempty"`
	ClientID string    `json:"client_id,omitempty"`
	At       time.Time `json:"at"`
	Kind     Kind      `json:"kind"`
	// Summary is one line a person reads, e.g. "authorization_code → 200,
	// scopes launch patient/*.rs, patient pat-1, id_token issued".
	Summary string `json:"summary"`
	// Request and Response hold what was sent and answered, secrets
	// redacted (Redact).
	Request  map[string]string `json:"request,omitempty"`
	Response map[string]string `json:"response,omitempty"`
	Status   int               `json:"status,omitempty"` // HTTP status answered
	Error    string            `json:"error,omitempty"`  // the error answered (OAuth code or FHIR issue), with its description
	// Diagnostics are the rules this step broke; Checked the rules it was
	// judged by (passed or not), so a report can tell "not exercised".
	Diagnostics []Diagnostic `json:"diagnostics,omitempty"`
	Checked     []string     `json:"checked,omitempty"`

	// origin and remote attribute an unattributed discovery event to the
	// next authorize request from the same browser (doc.go).
	origin, remote string
}

// Diagnostic is a rule an event broke.
type Diagnostic struct {
	Rule     string   `json:"rule"`
	Severity Severity `json:"severity"`
	Message  string   `json:"message"` // what happened, one line
	Spec     string   `json:"spec"`
	SpecURL  string   `json:"spec_url"`
}

// Check records that rule id was applied to the event; broke says whether
// the app broke it, with message saying how.
func (e *Event) Check(id string, broke bool, message string) {
	e.Checked = append(e.Checked, id)
	if !broke {
		return
	}
	r, ok := LookupRule(id)
	if !ok {
		return
	}
	e.Diagnostics = append(e.Diagnostics, Diagnostic{Rule: id, Severity: r.Severity, Message: message, Spec: r.Spec, SpecURL: r.SpecURL})
}

// From remembers the browser an unattributed event came from.
func (e *Event) From(remote, origin string) { e.remote, e.origin = remote, origin }

// secretParams are redacted wherever they appear.
var secretParams = map[string]bool{
	"client_secret": true, "code_verifier": true, "client_assertion": true, "refresh_token": true,
	"access_token": true, "token": true, "code": true, "password": true, "assertion": true, "id_token": true,
}

// maxParamValue is how much of one parameter's value an event keeps.
const maxParamValue = 2048

// Redact returns the parameters of v with secrets shortened to a
// recognisable prefix (codes and tokens) or hidden (secrets, verifiers),
// as copies, values longer than maxParamValue cut.
func Redact(v url.Values) map[string]string {
	if len(v) == 0 {
		return nil
	}
	out := make(map[string]string, len(v))
	for k, vs := range v {
		// Copies, never slices of the request: events outlive it, and a
		// slice would keep the whole request line or body alive. A long
		// value is cut (the inspector shows parameters, not payloads).
		val := strings.Join(vs, ", ")
		if len(val) > maxParamValue {
			val = val[:maxParamValue] + "… (" + itoa(len(val)) + " characters)"
		}
		val = strings.Clone(val)
		k = strings.Clone(k)
		if secretParams[k] && val != "" {
			switch k {
			case "code", "token", "refresh_token", "access_token":
				if len(val) > 8 {
					val = val[:6] + "…"
				}
			default:
				val = "(" + itoa(len(val)) + " characters, redacted)"
			}
		}
		out[k] = val
	}
	return out
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// Errors counts the error-severity diagnostics of events; Warnings the
// warnings.
func Count(events []Event) (errors, warnings int) {
	for _, e := range events {
		for _, d := range e.Diagnostics {
			switch d.Severity {
			case SevError:
				errors++
			case SevWarning:
				warnings++
			}
		}
	}
	return errors, warnings
}

// Simulated is the simulated_error event that accompanies e when e's error
// was a simulated one (the launch asked for it): the timeline says the
// failure was injected, and by which name.
func Simulated(e Event) (Event, bool) {
	i := strings.Index(e.Error, "simulated error ")
	if i < 0 {
		return Event{}, false
	}
	name := strings.TrimPrefix(e.Error[i:], "simulated error ")
	if j := strings.IndexAny(name, " :)"); j >= 0 {
		name = name[:j]
	}
	return Event{LaunchID: e.LaunchID, ClientID: e.ClientID, At: e.At, Kind: KindSimulatedError, Status: e.Status,
		Summary: "simulated error " + name + " injected at " + string(e.Kind), Request: map[string]string{"simulate_error": name}}, true
}
