package clients

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/go-jose/go-jose/v4"
)

// demoPrivateJWKS is a PUBLIC DEMO KEY SET — never use it for anything real.
//
//go:embed demokeys/demo-private-jwks.json
var demoPrivateJWKS []byte

// Demo key ids (demokeys/demo-private-jwks.json).
const (
	DemoKeyRS384 = "ehrsim-demo-rs384"
	DemoKeyES384 = "ehrsim-demo-es384"
)

// Demo client ids and the demo-confidential secret (see doc.go).
const (
	DemoSampleApp    = "sample-app"
	DemoPublic       = "demo-public"
	DemoConfidential = "demo-confidential"
	DemoAsymmetric   = "demo-asymmetric"
	DemoBackend      = "demo-backend"
	DemoSecret       = "demo-secret"
	DemoBackendScope = "system/*.rs system/*.read"
)

// DemoPrivateJWKS returns the embedded demo key set WITH private keys
// (RS384 kid ehrsim-demo-rs384, ES384 kid ehrsim-demo-es384), so docs,
// tests and e2e can sign client assertions for demo-asymmetric and
// demo-backend. Public demo keys: never use them for anything real.
func DemoPrivateJWKS() []byte { return append([]byte(nil), demoPrivateJWKS...) }

var demoPublic = sync.OnceValues(func() ([]byte, error) {
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(demoPrivateJWKS, &set); err != nil {
		return nil, fmt.Errorf("demo keys: %w", err)
	}
	var pub jose.JSONWebKeySet
	for _, k := range set.Keys {
		pub.Keys = append(pub.Keys, k.Public())
	}
	return json.Marshal(pub)
})

// DemoPublicJWKS returns the public halves of the demo keys, as registered
// for demo-asymmetric and demo-backend.
func DemoPublicJWKS() []byte {
	b, err := demoPublic()
	if err != nil {
		panic(err) // the embedded file is part of the build; a bad one is a programming error
	}
	return b
}

// demoClients are seeded when absent. Redirect and launch URLs use the
// "{base}" template, so they follow the server's current BaseURL.
func demoClients() []Client {
	sample := baseTemplate + "/sample-app/index.html"
	redirects := []string{sample, "http://localhost:9000/callback"}
	keys := json.RawMessage(DemoPublicJWKS())
	return []Client{
		{ID: DemoSampleApp, Name: "ehrsim sample app", Type: TypePublic, RedirectURIs: []string{sample},
			LaunchURL: baseTemplate + "/sample-app/launch.html"},
		{ID: DemoPublic, Name: "Demo public client", Type: TypePublic, RedirectURIs: redirects},
		{ID: DemoConfidential, Name: "Demo confidential client (client_secret)", Type: TypeSymmetric, RedirectURIs: redirects},
		{ID: DemoAsymmetric, Name: "Demo confidential client (private_key_jwt)", Type: TypeAsymmetric, RedirectURIs: redirects, JWKS: keys},
		{ID: DemoBackend, Name: "Demo backend service", Type: TypeBackend, JWKS: keys, Scope: DemoBackendScope},
	}
}

func (r *Registry) seedDemo(ctx context.Context) error {
	now := r.now().UTC().Unix()
	for _, c := range demoClients() {
		// Validate the expanded form (templates are not URLs), store the template.
		v := c
		v.RedirectURIs = nil
		probe := &Registry{base: "http://localhost"}
		for _, u := range c.RedirectURIs {
			v.RedirectURIs = append(v.RedirectURIs, probe.expand(u))
		}
		v.LaunchURL = probe.expand(c.LaunchURL)
		if err := v.Validate(); err != nil {
			return fmt.Errorf("demo client %s: %w", c.ID, err)
		}
		c.Name, c.PKCE, c.JWKS = v.Name, v.PKCE, v.JWKS
		var salt, hash []byte
		if c.Type == TypeSymmetric {
			secret := DemoSecret
			var err error
			if salt, hash, err = r.secretFor(c.Type, &secret, nil, nil); err != nil {
				return err
			}
		}
		data, err := r.encode(c)
		if err != nil {
			return err
		}
		// Insert only when absent: instances seeding at the same moment
		// leave one row each, and a client edited since is kept.
		if _, err := r.st.Insert(ctx, clientRow{ID: c.ID, Data: data, Created: now, Updated: now}, salt, hash); err != nil {
			return fmt.Errorf("seed demo client %s: %w", c.ID, err)
		}
	}
	return nil
}
