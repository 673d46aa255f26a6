package fhir

import (
	"errors"
	"net/http"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Upstream answers the FHIR interactions from another FHIR server instead
// of the store (mockehr/upstream, --fhir-upstream). The server keeps
// everything that decides: routing, the token check, the simulated request
// errors, content negotiation and the scope decisions, which Serve reads
// through Access, so a proxied request is judged exactly as a stored one.
type Upstream interface {
	// Serve answers one request that passed the token check. An error it
	// returns is written as an OperationOutcome: make it with Error to
	// choose the status (any other error is a 502).
	Serve(a *Access) error
	// Metadata answers GET {base}/metadata without a token; security is
	// ehrsim's rest.security element (the SMART oauth-uris extension) to
	// put in place of the upstream's.
	Metadata(w http.ResponseWriter, r *http.Request, base string, security map[string]any) error
}

// Error is an error Upstream implementations return to choose the
// status and OperationOutcome issue code (FHIR issue-type) of the answer.
func Error(status int, code, msg string) error { return errf(status, code, msg) }

// Access is one authorised request, as an Upstream sees it.
type Access struct{ rq *req }

// Request and Writer are the request and the response being answered.
func (a *Access) Request() *http.Request      { return a.rq.r }
func (a *Access) Writer() http.ResponseWriter { return a.rq.w }

// Base is the FHIR base the request came to (the token's aud): every
// URL in an answer is built on it.
func (a *Access) Base() string { return a.rq.base }

// Grant is the token's grant.
func (a *Access) Grant() *smart.Grant { return a.rq.grant }

// SetTotal tells the launch inspector how many results a search had.
func (a *Access) SetTotal(n int) { a.rq.count = n }

// Policy is the scope decision for one (type, interaction): the same one
// the built-in store applies.
type Policy struct {
	Allowed bool
	// Confined: only patient/ scopes grant this on a compartment type, so
	// every result must belong to Compartment, the launch patient ("" when
	// the token has no patient: then nothing matches).
	Confined    bool
	Compartment string
	// Filters are the granular scopes' parameters (nil: unfiltered); a
	// resource passes when it matches every Param of one entry.
	Filters [][]scopes.Param

	p  policy
	rq *req
	in scopes.Interaction
	ty string
}

// Policy decides interaction in on typ.
func (a *Access) Policy(typ string, in scopes.Interaction) *Policy {
	p := a.rq.policy(typ, in)
	out := &Policy{Allowed: p.Allowed, Filters: p.Filters, p: p, rq: a.rq, in: in, ty: typ}
	if p.compartment != "" {
		out.Confined = true
		if p.compartment != noPatient {
			out.Compartment = p.compartment
		}
	}
	return out
}

// Deny is the 403 insufficient_scope answer for a policy that does not
// allow its interaction.
func (p *Policy) Deny() error { return deny(p.ty, p.in) }

// Check judges one resource under the policy, as the store's read does:
// nil when it may be seen, a 404 when it lies outside the compartment (its
// existence does not leak), a 403 when it matches no granular scope. The
// fhirUser resource is always readable (RS-14), never more.
func (p *Policy) Check(r *fhirstore.Resource) error {
	if (p.in == scopes.Read || p.in == scopes.Search) && p.rq.alwaysReadable(r.Type, r.ID) {
		return nil
	}
	if !p.Allowed {
		return deny(r.Type, p.in)
	}
	switch p.p.check(r) {
	case visHidden:
		return notFound(r.Type + "/" + r.ID + " does not exist in the patient compartment this token is limited to")
	case visFiltered:
		return forbidden(r.Type + "/" + r.ID + " matches none of the granular scopes granted for " + r.Type)
	}
	return nil
}

// AlwaysReadable reports whether typ/id is the token's fhirUser, which any
// token of the grant may read.
func (a *Access) AlwaysReadable(typ, id string) bool { return a.rq.alwaysReadable(typ, id) }

// Parse decodes and indexes a resource body so a Policy can judge it.
func (a *Access) Parse(typ string, body []byte) (*fhirstore.Resource, error) {
	return a.rq.s.store.Parse(typ, body)
}

// ApplyPatch applies an RFC 6902 JSON Patch to a resource body exactly as
// the store's PATCH does (its operations limit and "test" semantics), so a
// patch can be judged on its result before it is written upstream.
func (a *Access) ApplyPatch(doc, patch []byte) ([]byte, error) {
	out, err := applyPatch(doc, patch)
	if err != nil {
		return nil, err
	}
	return out, nil
}

// SecurityFor is the rest.security element of this server's
// CapabilityStatement on base.
func (s *Server) securityFor(base string) map[string]any {
	rest := s.capabilityStatement(base)["rest"].([]map[string]any)
	return rest[0]["security"].(map[string]any)
}

// serveUpstream hands an authorised request to the upstream.
func (s *Server) serveUpstream(rq *req) *apiError {
	err := s.upstream.Serve(&Access{rq: rq})
	if err == nil {
		return nil
	}
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	return errf(http.StatusBadGateway, "transient", "upstream FHIR server: "+err.Error())
}
