package authz

import (
	"context"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
)

// ClientRegistry is what the server needs from mockehr/clients' registry:
// registered clients (Get returns an error wrapping clients.ErrNotFound for
// an unknown id) and launch-defined ones (LaunchClients lists the live
// definitions of an id, newest first).
type ClientRegistry interface {
	Get(ctx context.Context, id string) (*clients.Client, error)
	CheckSecret(ctx context.Context, id, secret string) bool
	LaunchClients(ctx context.Context, id string) ([]clients.LaunchDefined, error)
	DefineLaunchClient(ctx context.Context, c clients.Client, secret string, until time.Time) error
	ExtendLaunchClient(ctx context.Context, id string, until time.Time) error
}

// AssertionVerifier checks a SMART private_key_jwt client assertion
// (RS384/ES384, aud = token URL, exp ≤ 5 min, jti replay) for a registered
// client, or for adhoc (a launch-defined client) when it is not nil.
type AssertionVerifier interface {
	Verify(ctx context.Context, assertionType, assertion, clientIDParam string, adhoc *clients.Client) (*clients.Client, error)
}

// LaunchService is what the server needs from the launcher: opening launch
// codes (the authorize "launch" parameter) and scenario ids (the
// /sim/{scenario}/fhir base in "aud"), and consuming launch_once launches.
type LaunchService interface {
	Open(ctx context.Context, code string) (*launcher.Launch, error)
	OpenScenario(ctx context.Context, scenario string) (*launcher.Launch, error)
	Consume(ctx context.Context, l *launcher.Launch) error
}
