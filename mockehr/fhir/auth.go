package fhir

import (
	"errors"
	"hash/maphash"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/fhirstore"
	"github.com/ehrsim/ehrsim/mockehr/scopes"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// authenticate resolves the bearer token (RFC 6750 §2.1), checks that it
// was issued for this FHIR base (RS-03) and plays the launch's simulated
// request error (smart.PhaseRequest; docs/simulated-errors.md).
//
// On the way, rq.base is set to the base's URL: on success it is the
// grant's audience (equal to it, without building the string again).
func (s *Server) authenticate(rq *req) *apiError {
	b, aerr := s.fhirBase(rq.r)
	if aerr != nil {
		return aerr
	}
	if aerr := s.resolve(rq, b); aerr != nil {
		rq.base = s.baseString(b)
		return aerr
	}
	rq.base = smart.TrimSlash(rq.grant.Audience) // == b's URL (resolve checked)
	rq.set = s.scopeSet(rq.grant.Scopes)
	return s.simulate(rq)
}

// resolve finds the request's grant and checks it was issued for base b.
func (s *Server) resolve(rq *req, b smart.FHIRBase) *apiError {
	h := rq.r.Header.Get("Authorization")
	if h == "" {
		return &apiError{status: http.StatusUnauthorized, code: "login", msg: "this FHIR server requires a bearer access token (Authorization: Bearer …)", realmOnly: true}
	}
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return invalidToken("the Authorization header must be \"Bearer <access token>\"")
	}
	g, err := s.grants.ResolveGrant(rq.r.Context(), token)
	switch {
	case errors.Is(err, smart.ErrExpiredToken):
		rq.expired = g
		return invalidToken("the access token has expired")
	case errors.Is(err, smart.ErrInvalidToken):
		return invalidToken("the access token is unknown, malformed or revoked")
	case err != nil:
		return errf(http.StatusInternalServerError, "exception", "token lookup failed: "+err.Error())
	case g == nil:
		return invalidToken("the access token is unknown")
	case g.Expired(s.now()):
		rq.expired = g
		return invalidToken("the access token has expired")
	case !isBase(b, g.Audience):
		return invalidToken("the access token was issued for FHIR base " + g.Audience + ", not " + s.baseString(b))
	}
	rq.grant = g
	return nil
}

func (s *Server) simulate(rq *req) *apiError {
	switch rq.grant.SimulateError {
	case smart.SimRequestInvalidToken:
		return invalidToken("simulated error request_invalid_token: the access token is invalid")
	case smart.SimRequestExpiredToken:
		return invalidToken("simulated error request_expired_token: the access token has expired")
	case smart.SimRequestInsufficientScope:
		return forbidden("simulated error request_insufficient_scope: the access token's scopes do not allow this request")
	case smart.SimRequestServerError:
		return errf(http.StatusInternalServerError, "exception", "simulated error request_server_error")
	case smart.SimRequestRateLimited:
		return &apiError{status: http.StatusTooManyRequests, code: "throttled", msg: "simulated error request_rate_limited: slow down and retry after 1 second", retryAfter: 1}
	case smart.SimRequestSlow:
		t := time.NewTimer(s.slowDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-rq.r.Context().Done():
			return errf(http.StatusServiceUnavailable, "timeout", "request cancelled during simulated delay")
		}
	}
	return nil
}

// scopeSet parses and indexes a granted scope list once per distinct list.
// The cache is looked up by a hash of the list (no key string built per
// request) and the list compared in full.
func (s *Server) scopeSet(granted []string) *scopes.Set {
	c := &s.sets
	h := hashScopes(c.seed, granted)
	c.mu.RLock()
	e, ok := c.m[h]
	c.mu.RUnlock()
	if ok && slices.Equal(e.scopes, granted) {
		return e.set
	}
	list, _ := scopes.ParseList(strings.Join(granted, " ")) // grants hold only valid scopes; skip any other
	set := scopes.NewSet(list)
	c.mu.Lock()
	if len(c.m) >= scopeCacheMax { // bound memory: distinct lists are few in practice
		clear(c.m)
	}
	c.m[h] = scopeEntry{scopes: slices.Clone(granted), set: set}
	c.mu.Unlock()
	return set
}

const scopeCacheMax = 4096

// scopeCache holds the parsed scope sets by a hash of their list.
type scopeCache struct {
	seed maphash.Seed
	mu   sync.RWMutex
	m    map[uint64]scopeEntry
}

type scopeEntry struct {
	scopes []string
	set    *scopes.Set
}

func hashScopes(seed maphash.Seed, list []string) uint64 {
	var h maphash.Hash
	h.SetSeed(seed)
	for _, sc := range list {
		h.WriteString(sc)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// visibility is the outcome of an access check on one resource.
type visibility int

const (
	visOK       visibility = iota
	visHidden              // outside the compartment: report 404
	visFiltered            // fails every granular filter: report 403
)

// policy is a decision for one (type, interaction) made usable on resources.
type policy struct {
	scopes.Decision
	compartment string // patient id when PatientOnly applies to this type
	restrict    bool
	any         [][]fhirstore.Clause
}

// noPatient stands for "patient/ scopes without a patient in context": no
// compartment matches it.
const noPatient = "\x00"

func (rq *req) policy(typ string, in scopes.Interaction) policy {
	d := rq.set.Decide(typ, in)
	p := policy{Decision: d}
	if !d.Allowed {
		return p
	}
	td := fhirstore.Type(typ)
	if d.PatientOnly && td != nil && td.Compartment {
		p.compartment = rq.grant.Patient
		if p.compartment == "" {
			p.compartment = noPatient
		}
	}
	if d.Filters != nil {
		p.restrict = true
		for _, f := range d.Filters {
			if cs, ok := filterClauses(td, f); ok {
				p.any = append(p.any, cs)
			}
		}
	}
	return p
}

// filterClauses turns one granular scope's parameters into search clauses;
// a parameter the type does not support makes the filter match nothing.
func filterClauses(td *fhirstore.TypeDef, f []scopes.Param) ([]fhirstore.Clause, bool) {
	if td == nil {
		return nil, false
	}
	out := make([]fhirstore.Clause, 0, len(f))
	for _, p := range f {
		c, err := fhirstore.ParseClause(td, p.Name, p.Value)
		if err != nil {
			return nil, false
		}
		out = append(out, c)
	}
	return out, true
}

func (p *policy) check(r *fhirstore.Resource) visibility {
	if p.compartment != "" && r.Patient != p.compartment {
		return visHidden
	}
	if p.restrict {
		for _, g := range p.any {
			if fhirstore.MatchAll(g, r) {
				return visOK
			}
		}
		return visFiltered
	}
	return visOK
}

// apply adds the policy's restrictions to a query.
func (p *policy) apply(q *fhirstore.Query) {
	q.Compartment = p.compartment
	q.Restrict, q.Any = p.restrict, p.any
}

func deny(typ string, in scopes.Interaction) *apiError {
	names := map[scopes.Interaction]string{'c': "create", 'r': "read", 'u': "update", 'd': "delete", 's': "search"}
	return forbidden("the access token's scopes do not grant " + names[in] + " (" + string(rune(in)) + ") on " + typ)
}

// alwaysReadable: the fhirUser resource (OIDC-09) is readable with any
// valid token of the grant (RS-14). The launch's context (patient,
// encounter) is not: launch and launch/encounter convey context, not
// access, so the context Encounter needs an Encounter read scope like any
// other (SMART 2.2 scopes, RS-06).
func (rq *req) alwaysReadable(typ, id string) bool {
	if rq.grant.FHIRUser == "" {
		return false
	}
	t, i := fhirstore.SplitReference(rq.grant.FHIRUser)
	return t != "" && t == typ && i == id
}

func (rq *req) supportedType() (*fhirstore.TypeDef, *apiError) {
	typ := rq.r.PathValue("type")
	td := fhirstore.Type(typ)
	if td == nil {
		return nil, notFound("resource type " + typ + " is not supported by this server (see " + rq.base + "/metadata)")
	}
	return td, nil
}
