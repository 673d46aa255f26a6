package authz

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
	"github.com/ehrsim/ehrsim/mockehr/clients"
	"github.com/ehrsim/ehrsim/mockehr/smart"
)

// Where a client's rules come from (docs/launch-defined-clients.md):
//
//  1. a registered client, narrowed by the client section of the launch the
//     request carries (launch parameter or /sim scenario in aud);
//  2. an unregistered client_id that the request's launch defines: that
//     launch's definition;
//  3. an unregistered client_id that live launches (or live tokens) define:
//     the registry's launch-defined clients, newest first (a launch section
//     without a client_id still narrows it);
//  4. sandbox mode only: any other client_id is a public client accepting
//     whatever redirect_uri it presents; an authorization it completes
//     records it as launch-defined, so it stays known while its grants live.
//
// Strict mode (--strict-clients) keeps only 1.

// launchSection returns the launch's client section when it applies to
// client id: it names that id, or names none (a scenario any client may use).
func launchSection(id string, l *launcher.Launch) *launcher.Client {
	if l == nil || isZeroClient(&l.Client) || (l.Client.ClientID != "" && l.Client.ClientID != id) {
		return nil
	}
	return &l.Client
}

func isZeroClient(c *launcher.Client) bool {
	return c.ClientID == "" && c.ClientType == "" && c.ClientSecret == "" && len(c.RedirectURIs) == 0 &&
		c.Scope == "" && c.JWKSURL == "" && len(c.JWKS) == 0 && c.PKCE == ""
}

// resolveClient finds the effective client of an authorize request for id
// and launch l (nil when none), or a message for the error page.
func (s *Server) resolveClient(ctx context.Context, id string, l *launcher.Launch) (*clientDef, string) {
	lc := launchSection(id, l)
	reg, err := s.registered(ctx, id)
	if err != nil {
		return nil, "The client registry failed: " + err.Error()
	}
	if reg != nil {
		return narrow(reg, lc), ""
	}
	if s.opts.Strict {
		return nil, fmt.Sprintf("client_id %q is not registered (the server runs with --strict-clients).", id)
	}
	if lc != nil && lc.ClientID == id {
		d, err := launchClientDef(id, l)
		if err != nil {
			return nil, err.Error()
		}
		return d, ""
	}
	known, err := s.launchDefined(ctx, id)
	if err != nil {
		return nil, "The client registry failed: " + err.Error()
	}
	if len(known) > 0 {
		return narrow(known[0], lc), ""
	}
	return narrow(sandboxClient(id), lc), ""
}

// clientsNamed returns every definition a token or revocation request by
// client id may be authenticated against when no grant in the request
// names the client: the registered client, or the live launch-defined ones.
func (s *Server) clientsNamed(ctx context.Context, id string) ([]*clientDef, error) {
	reg, err := s.registered(ctx, id)
	if err != nil || reg != nil {
		return []*clientDef{reg}, err
	}
	if s.opts.Strict {
		return nil, nil
	}
	return s.launchDefined(ctx, id)
}

func (s *Server) registered(ctx context.Context, id string) (*clientDef, error) {
	if s.opts.Clients == nil || id == "" {
		return nil, nil
	}
	c, err := s.opts.Clients.Get(ctx, id)
	if err != nil {
		if errors.Is(err, clients.ErrNotFound) || errors.Is(err, smart.ErrNotFound) {
			return nil, nil
		}
		return nil, err
	}
	return &clientDef{Client: *c, Registered: true}, nil
}

func (s *Server) launchDefined(ctx context.Context, id string) ([]*clientDef, error) {
	if s.opts.Clients == nil || id == "" {
		return nil, nil
	}
	lds, err := s.opts.Clients.LaunchClients(ctx, id)
	if err != nil {
		return nil, err
	}
	out := make([]*clientDef, len(lds))
	for i := range lds {
		out[i] = launchDefinedDef(&lds[i])
	}
	return out, nil
}

// rememberClient keeps an unregistered client known until at least until:
// a sandbox client is recorded (public, any redirect), a launch-defined one
// is extended while the tokens issued to it live. Registered clients need
// nothing. A failure is logged: the grant itself is still valid, only
// grant-less requests of this client would later be refused.
func (s *Server) rememberClient(ctx context.Context, d *clientDef, until time.Time) {
	if d.Registered || s.opts.Clients == nil {
		return
	}
	var err error
	if d.Sandbox {
		err = s.opts.Clients.DefineLaunchClient(ctx, clients.Client{ID: d.id(), Type: clients.TypePublic}, "", until)
	} else {
		err = s.opts.Clients.ExtendLaunchClient(ctx, d.id(), until)
	}
	if err != nil {
		s.log.WarnContext(ctx, "cannot record the launch-defined client", "client_id", d.id(), "err", err)
	}
}
