package smart

import "encoding/json"

// LaunchContext is the SMART launch context of one authorization (SMART App
// Launch 2.2 §launch context): decided by the launch and the pickers, kept
// with the token family, and repeated as is by the token response, every
// refresh and introspection. Its JSON is the token response's.
type LaunchContext struct {
	Patient           string            `json:"patient,omitempty"`   // bare id (TOK-09, EHR-04)
	Encounter         string            `json:"encounter,omitempty"` // bare id
	FHIRContext       []FHIRContextItem `json:"fhirContext,omitempty"`
	NeedPatientBanner *bool             `json:"need_patient_banner,omitempty"`
	SmartStyleURL     string            `json:"smart_style_url,omitempty"`
	Intent            string            `json:"intent,omitempty"`
	Tenant            string            `json:"tenant,omitempty"`
}

// FHIRContextItem is one SMART 2.2 fhirContext object (TOK-11).
type FHIRContextItem struct {
	Reference  string          `json:"reference,omitempty"`
	Canonical  string          `json:"canonical,omitempty"`
	Identifier json.RawMessage `json:"identifier,omitempty"`
	Type       string          `json:"type,omitempty"`
	Role       string          `json:"role,omitempty"`
}
