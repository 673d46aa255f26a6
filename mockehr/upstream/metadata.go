package upstream

import (
	"encoding/json"
	"net/http"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
)

// Metadata serves the upstream's CapabilityStatement with ehrsim's
// security element (the SMART oauth-uris extension of this base) in place
// of the upstream's own, and its URLs rewritten (fhir.Upstream).
func (p *Proxy) Metadata(w http.ResponseWriter, r *http.Request, base string, security map[string]any) error {
	resp, err := p.do(r.Context(), http.MethodGet, "metadata", nil, nil, nil)
	if err != nil {
		return err
	}
	defer resp.Close()
	body, err := p.readAll(resp)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return p.statusErrorBase(resp, body, base, "metadata")
	}
	var cs map[string]any
	if json.Unmarshal(body, &cs) != nil || cs["resourceType"] != "CapabilityStatement" {
		return errInvalid("the upstream FHIR server's metadata is not a CapabilityStatement")
	}
	rest, _ := cs["rest"].([]any)
	if len(rest) == 0 {
		rest = []any{map[string]any{"mode": "server"}}
	}
	for _, x := range rest {
		m, ok := x.(map[string]any)
		if !ok || m["mode"] == "client" {
			continue
		}
		m["security"] = security
		// Only the types ehrsim can judge are served (Serve's 404).
		if res, ok := m["resource"].([]any); ok {
			kept := res[:0]
			for _, r := range res {
				if rm, ok := r.(map[string]any); ok {
					if t, _ := rm["type"].(string); fhirstore.Type(t) != nil {
						kept = append(kept, r)
					}
				}
			}
			m["resource"] = kept
		}
	}
	cs["rest"] = rest
	if impl, ok := cs["implementation"].(map[string]any); ok {
		impl["url"] = base
	} else {
		cs["implementation"] = map[string]any{"description": "ehrsim in front of an upstream FHIR server", "url": base}
	}
	out, err := json.Marshal(cs)
	if err != nil {
		return errInvalid("the upstream FHIR server's metadata cannot be re-encoded")
	}
	writeBody(w, http.StatusOK, p.rewrite(out, base))
	return nil
}
