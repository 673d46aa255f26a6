package ui

import (
	"net/http"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// repoDocs is where the repository's docs/ pages are published.
const repoDocs = "https://github.com/ehrsim/ehrsim/blob/main/docs/"

// LaunchTypeDoc says what a launch type exercises, for the Docs page.
type LaunchTypeDoc struct {
	Type      launcher.LaunchType
	Exercises string
}

var launchTypeDocs = []LaunchTypeDoc{
	{launcher.ProviderEHR, "An app opened from a clinician's chart: iss and launch in the launch URL, the launch scope, patient and encounter from the EHR, the clinician as fhirUser, need_patient_banner. Run it framed in the simulated EHR."},
	{launcher.PatientPortal, "An app opened from a patient portal: an EHR launch whose user is the patient (or a parent or other related person), patient/ scopes on their own record."},
	{launcher.ProviderStandalone, "An app a clinician opens on its own: discovery from the FHIR base only, launch/patient with the patient picker (and launch/encounter with the encounter picker), login, consent."},
	{launcher.PatientStandalone, "An app a patient opens on its own: login as the patient or a related person, launch/patient from who signed in, consent worded for their own record."},
	{launcher.BackendService, "A service with no user or browser: client_credentials with a private_key_jwt client assertion (RS384 or ES384), system/ scopes, the token endpoint found by discovery."},
}

// DemoClient is one demo client on the Docs page.
type DemoClient struct {
	ID, Name, Type, Purpose string
}

// demoPurposes says what each demo client is for, in catalogue order.
var demoPurposes = []struct{ ID, Purpose string }{
	{clients.DemoSampleApp, "The built-in sample app: EHR launches from the launcher and the simulated EHR."},
	{clients.DemoPublic, "A public app (PKCE, no secret) of your own at http://localhost:9000/callback."},
	{clients.DemoConfidential, "A confidential app authenticating with the client secret " + clients.DemoSecret + "."},
	{clients.DemoAsymmetric, "A confidential app authenticating with a private_key_jwt signed with the demo keys."},
	{clients.DemoBackend, "Backend service launches: the launcher fills it in, and its ready-made commands sign with the demo keys."},
}

func (h *Handler) docs(w http.ResponseWriter, r *http.Request) {
	p := DocsPage{BaseURL: h.base()}
	for _, d := range demoPurposes {
		c := DemoClient{ID: d.ID, Purpose: d.Purpose}
		if h.Clients != nil {
			if reg, err := h.Clients.Get(r.Context(), d.ID); err == nil {
				c.Name, c.Type = reg.Name, reg.Type
			} else {
				continue // not registered in this server
			}
		}
		p.DemoClients = append(p.DemoClients, c)
	}
	h.render(w, r, http.StatusOK, docsPage(p))
}
