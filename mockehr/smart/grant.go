package smart

import (
	"context"
	"errors"
	"time"
)

// Grant is what one access token stands for. The authorization server makes
// it; the FHIR server decides every request from it.
type Grant struct {
	TokenID   string // stable id of the access token (for logs and revocation)
	ClientID  string
	Subject   string   // OIDC sub of the user (or the client id for backend services)
	FHIRUser  string   // relative reference of the user, e.g. "Practitioner/pr-1"; empty for backend services
	Scopes    []string // granted scope strings exactly as reported in the token response
	Patient   string   // bare id of the patient in context, empty when none
	Encounter string   // bare id of the encounter in context, empty when none

	// Audience is the FHIR base URL the authorization was for (the "aud" of
	// the authorize request, or the token URL's FHIR base for backend
	// services), normalised without a trailing slash. The FHIR server refuses
	// a token on any other base (checklist RS-03).
	Audience string

	IssuedAt  time.Time
	ExpiresAt time.Time

	// SimulateError is the launch's simulated error, empty when none. The
	// FHIR server acts on those of PhaseRequest.
	SimulateError SimulatedError

	// LaunchID is the launch the authorization belongs to ("" when none),
	// so the launch inspector can attribute FHIR requests.
	LaunchID string
	// Refreshable: the authorization holds a refresh token (the inspector
	// tells an app that lets its token expire to use it).
	Refreshable bool
}

// Expired reports whether the grant has expired at now.
func (g *Grant) Expired(now time.Time) bool { return !g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt) }

// Errors a GrantResolver returns. Any other error is an internal failure.
var (
	ErrInvalidToken = errors.New("the access token is unknown, malformed or revoked")
	ErrExpiredToken = errors.New("the access token has expired")
)

// GrantResolver turns a bearer token into its grant. It must be cheap: the
// FHIR server calls it on every request (no database round trip on the hot
// path). An expired token returns the grant together with ErrExpiredToken.
type GrantResolver interface {
	ResolveGrant(ctx context.Context, accessToken string) (*Grant, error)
}

// GrantResolverFunc adapts a function to GrantResolver.
type GrantResolverFunc func(ctx context.Context, accessToken string) (*Grant, error)

func (f GrantResolverFunc) ResolveGrant(ctx context.Context, t string) (*Grant, error) {
	return f(ctx, t)
}
