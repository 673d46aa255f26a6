package fhir

import (
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Security service codings (CS-02). R4's restful-security-service code
// system names SMART-on-FHIR; the SMART App Launch IG's CapabilityStatement
// also uses the smart-app-launch code.
var securityService = []map[string]string{
	{"system": "http://terminology.hl7.org/CodeSystem/restful-security-service", "code": "SMART-on-FHIR", "display": "SMART-on-FHIR"},
	{"system": "http://hl7.org/fhir/restful-security-service", "code": "smart-app-launch", "display": "SMART App Launch"},
}

const oauthURIs = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"

// oauthExtension lists the endpoints that exist, exactly as the discovery
// document does (CS-03…CS-05): one Endpoints value feeds both.
func oauthExtension(e smart.Endpoints) map[string]any {
	var subs []map[string]string
	for _, kv := range [][2]string{
		{"authorize", e.Authorization}, {"token", e.Token}, {"introspect", e.Introspection},
		{"revoke", e.Revocation}, {"manage", e.Management}, {"register", e.Registration},
	} {
		if kv[1] != "" {
			subs = append(subs, map[string]string{"url": kv[0], "valueUri": kv[1]})
		}
	}
	return map[string]any{"url": oauthURIs, "extension": subs}
}

// revIncludes maps a target type to the "Source:param" values whose
// references can point at it.
func revIncludes() map[string][]string {
	out := map[string][]string{}
	for _, src := range fhirstore.Types() {
		for _, name := range src.Includes {
			p := src.Params[name]
			for _, tgt := range fhirstore.Types() {
				ok := len(p.Targets) == 0
				for _, t := range p.Targets {
					ok = ok || t == tgt.Name
				}
				if ok {
					out[tgt.Name] = append(out[tgt.Name], src.Name+":"+name)
				}
			}
		}
	}
	for _, v := range out {
		sort.Strings(v)
	}
	return out
}

// capabilityStatement lists exactly what this package implements, from
// the same type table search uses.
func (s *Server) capabilityStatement(base string) map[string]any {
	fhirBase, _ := smart.ParseFHIRBase(s.baseURL, base)
	interactions := []map[string]string{}
	for _, c := range []string{"read", "vread", "update", "patch", "delete", "history-instance", "create", "search-type"} {
		interactions = append(interactions, map[string]string{"code": c})
	}
	var resources []map[string]any
	for _, td := range fhirstore.Types() {
		var params []map[string]string
		for _, p := range td.SortedParams() {
			params = append(params, map[string]string{"name": p.Name, "type": p.Kind.String()})
		}
		var inc []string
		for _, i := range td.Includes {
			inc = append(inc, td.Name+":"+i)
		}
		res := map[string]any{
			"type":              td.Name,
			"interaction":       interactions,
			"versioning":        "versioned-update",
			"readHistory":       true,
			"updateCreate":      true,
			"conditionalCreate": false,
			"conditionalRead":   "not-supported",
			"conditionalUpdate": false,
			"conditionalDelete": "not-supported",
			"searchParam":       params,
		}
		if len(inc) > 0 {
			res["searchInclude"] = inc
		}
		if rev := s.revByType[td.Name]; len(rev) > 0 {
			res["searchRevInclude"] = rev
		}
		if td.Name == "Patient" {
			res["operation"] = []map[string]string{{"name": "everything", "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"}}
		}
		resources = append(resources, res)
	}
	return map[string]any{
		"resourceType":   "CapabilityStatement",
		"id":             "ehrsim",
		"url":            base + "/metadata",
		"name":           "EhrsimFHIRServer",
		"title":          "ehrsim mock EHR FHIR R4 server",
		"status":         "active",
		"experimental":   true,
		"date":           s.started.Format(time.RFC3339),
		"publisher":      "ehrsim",
		"kind":           "instance",
		"software":       map[string]string{"name": "ehrsim"},
		"implementation": map[string]string{"description": "ehrsim mock EHR", "url": base},
		"fhirVersion":    "4.0.1",
		"format":         []string{"json", "application/fhir+json", "application/json"},
		"patchFormat":    []string{"application/json-patch+json"},
		"rest": []map[string]any{{
			"mode": "server",
			"security": map[string]any{
				"extension":   []any{oauthExtension(s.endpoints(fhirBase))},
				"service":     []any{map[string]any{"coding": securityService, "text": "OAuth2 using SMART-on-FHIR profile (SMART App Launch 2.2)"}},
				"description": "SMART App Launch: bearer tokens from the authorization server; patient/, user/ and system/ scopes (v1 and v2, granular) are enforced on every request.",
			},
			"resource": resources,
		}},
	}
}

// handleMetadata serves the CapabilityStatement without auth (CS-01).
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	base, aerr := s.base(r)
	if aerr == nil {
		aerr = negotiate(r)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	if s.upstream != nil {
		if err := s.upstream.Metadata(w, r, base, s.securityFor(base)); err != nil {
			var ae *apiError
			if !errors.As(err, &ae) {
				ae = errf(http.StatusBadGateway, "transient", "upstream FHIR server: "+err.Error())
			}
			writeError(w, ae)
			s.recordMetadata(r, ae.status)
			return
		}
		s.recordMetadata(r, http.StatusOK)
		return
	}
	body, err := json.Marshal(s.capabilityStatement(base))
	if err != nil {
		writeError(w, errf(http.StatusInternalServerError, "exception", err.Error()))
		return
	}
	writeBody(w, http.StatusOK, body)
	s.recordMetadata(r, http.StatusOK)
}

// styleJSON is the SMART style document (App Launch §styling). Its URL is
// versioned (v1): change the path when the content changes (EHR-07).
var styleJSON = []byte(`{
  "color_background": "#f6f7f9",
  "color_error": "#b3261e",
  "color_highlight": "#2f6fde",
  "color_modal_backdrop": "rgba(16, 24, 40, 0.5)",
  "color_success": "#1e7d32",
  "color_text": "#1d2433",
  "dim_border_radius": "6px",
  "dim_font_size": "14px",
  "dim_spacing_size": "16px",
  "font_family_body": "system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif",
  "font_family_heading": "system-ui, -apple-system, \"Segoe UI\", Roboto, sans-serif"
}
`)

func (s *Server) handleStyle(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=86400")
	w.WriteHeader(http.StatusOK)
	w.Write(styleJSON)
}
