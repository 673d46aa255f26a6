package clients

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Launch-defined clients (sandbox mode). A launch whose client section names
// an unregistered client_id defines a client for as long as that launch
// lives; so does an unregistered client_id that completes an authorization
// in sandbox mode (a public client). The authorization server extends the
// record while tokens issued to the client live. Such a client is a real
// client at every endpoint: the token and revocation endpoints authenticate
// it by its own rules even when the request names no live grant (a replayed
// or unknown code, a random refresh token), so those requests get the
// grant's error (invalid_grant) and not invalid_client.
//
// One client_id may be defined by several launches with different rules;
// each distinct definition is one row (keyed by a hash of the definition),
// and a caller authenticates against any live one. The newest comes first.

// launchMigrations are the SQLite table of launch-defined clients (owner
// "launch_clients"; append only; postgresLaunchMigrations in storage.go is
// its PostgreSQL counterpart). secret_salt/secret_hash hold a
// confidential-symmetric client's secret exactly as registered secrets are
// held (HMAC-SHA256 with a per-row salt).
var launchMigrations = []string{
	`CREATE TABLE IF NOT EXISTS launch_clients (
		id TEXT NOT NULL,
		def_hash BLOB NOT NULL,
		data TEXT NOT NULL,
		secret_salt BLOB,
		secret_hash BLOB,
		updated_at INTEGER NOT NULL,
		expires_at INTEGER NOT NULL,
		PRIMARY KEY (id, def_hash)
	)`,
	`CREATE INDEX IF NOT EXISTS launch_clients_expiry ON launch_clients (expires_at)`,
}

// LaunchDefined is one live definition of a launch-defined client.
type LaunchDefined struct {
	Client
	ExpiresAt time.Time

	salt, hash []byte
}

// CheckSecret reports whether secret is this definition's secret (constant
// time); false when the definition has none.
func (d *LaunchDefined) CheckSecret(secret string) bool { return SecretMatches(d.salt, d.hash, secret) }

// Secret returns the definition's salted secret hash (nil, nil for none),
// for callers that keep the definition with a grant.
func (d *LaunchDefined) Secret() (salt, hash []byte) { return d.salt, d.hash }

// SaltSecret returns a fresh salt and HMAC-SHA256(salt, secret): how every
// client secret is kept.
func SaltSecret(secret string) (salt, hash []byte, err error) {
	salt = make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, err
	}
	return salt, hashSecret(salt, secret), nil
}

// SecretMatches reports, in constant time, whether secret is the one salt
// and hash were made from; false for an empty secret or no stored hash.
func SecretMatches(salt, hash []byte, secret string) bool {
	if len(salt) == 0 || len(hash) != sha256.Size || secret == "" {
		return false
	}
	return hmac.Equal(hashSecret(salt, secret), hash)
}

// launchPrune spaces out the deletion of expired definitions.
type launchPrune struct {
	mu   sync.Mutex
	last time.Time
}

// DefineLaunchClient records (or keeps alive until at least until) the
// launch-defined client c with its secret ("" for none). A definition equal
// to a recorded one only extends that row.
func (r *Registry) DefineLaunchClient(ctx context.Context, c Client, secret string, until time.Time) error {
	if c.ID == "" {
		return errors.New("clients: a launch-defined client needs an id")
	}
	switch c.Type {
	case TypePublic, TypeSymmetric, TypeAsymmetric, TypeBackend:
	default:
		return fmt.Errorf("clients: unknown client type %q", c.Type)
	}
	if (c.Type == TypeSymmetric) != (secret != "") {
		return fmt.Errorf("clients: a %s client %s a secret", c.Type, map[bool]string{true: "needs", false: "has no"}[c.Type == TypeSymmetric])
	}
	data, err := r.encode(c)
	if err != nil {
		return err
	}
	sh := sha256.Sum256([]byte(secret))
	def := sha256.Sum256(append(append([]byte(data), 0), sh[:]...))
	var salt, hash []byte
	if secret != "" {
		if salt, hash, err = SaltSecret(secret); err != nil {
			return err
		}
	}
	now := r.now()
	if err := r.st.DefineLaunch(ctx, c.ID, def[:], data, salt, hash, now.UnixMilli(), until.Unix()); err != nil {
		return fmt.Errorf("clients: define launch client %s: %w", c.ID, err)
	}
	r.pruneLaunchClients(ctx, now)
	return nil
}

// ExtendLaunchClient keeps every live definition of id alive until at least
// until (tokens issued to it live that long). Unknown ids are a no-op.
func (r *Registry) ExtendLaunchClient(ctx context.Context, id string, until time.Time) error {
	// Only live rows: an expired definition stays dead.
	return r.st.ExtendLaunch(ctx, id, until.Unix(), r.now().Unix())
}

// LaunchClients returns the live definitions of id, newest first; none for
// an id no launch defined (or whose launches and tokens have all expired).
func (r *Registry) LaunchClients(ctx context.Context, id string) ([]LaunchDefined, error) {
	rows, err := r.st.LaunchDefs(ctx, id, r.now().Unix())
	if err != nil {
		return nil, fmt.Errorf("clients: launch clients of %s: %w", id, err)
	}
	var out []LaunchDefined
	for _, row := range rows {
		d := LaunchDefined{salt: row.Salt, hash: row.Hash}
		var s storedClient
		if err := json.Unmarshal([]byte(row.Data), &s); err != nil {
			return nil, fmt.Errorf("clients: decode launch client %s: %w", id, err)
		}
		d.Client = *r.decode(id, s, len(d.hash) > 0, 0, 0)
		d.ExpiresAt = time.Unix(row.ExpiresAt, 0).UTC()
		out = append(out, d)
	}
	return out, nil
}

// pruneLaunchClients deletes expired definitions, at most once a minute.
func (r *Registry) pruneLaunchClients(ctx context.Context, now time.Time) {
	r.launchPrune.mu.Lock()
	if now.Sub(r.launchPrune.last) < time.Minute {
		r.launchPrune.mu.Unlock()
		return
	}
	r.launchPrune.last = now
	r.launchPrune.mu.Unlock()
	// A failed prune is retried a minute later; expired rows are never read.
	r.st.PruneLaunch(ctx, now.Unix())
}
