package authz

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"database/sql"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// KeyGracePeriod is how long a rotated-out public key stays in /auth/keys,
// so id_tokens signed just before a rotation still verify.
const KeyGracePeriod = 24 * time.Hour

// keyReload bounds how stale the in-memory key ring may be after
// `ehrsim keys rotate` ran in another process against the same database.
const keyReload = time.Minute

// migrations are the authz package's tables (append-only, store.Migrate).
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS authz_keys (kid TEXT PRIMARY KEY, der BLOB NOT NULL, created_at INTEGER NOT NULL, retired_at INTEGER)`,
	`CREATE TABLE IF NOT EXISTS authz_families (id TEXT PRIMARY KEY, data BLOB NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS authz_tokens (hash BLOB PRIMARY KEY, family TEXT NOT NULL, kind TEXT NOT NULL, token_id TEXT NOT NULL, scope TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)`,
	`CREATE INDEX IF NOT EXISTS authz_tokens_family ON authz_tokens (family)`,
}

func migrate(ctx context.Context, db *store.DB) error { return db.Migrate(ctx, "authz", migrations) }

// generateKey makes a new RSA-2048 key; tests swap in a cached key.
var generateKey = func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) }

// signingKey is one RSA-2048 RS256 key; it satisfies op.SigningKey and op.Key.
type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k *signingKey) Algorithm() jose.SignatureAlgorithm          { return jose.RS256 }
func (k *signingKey) Key() any                                    { return k.key }
func (k *signingKey) ID() string                                  { return k.kid }
func (k *signingKey) Use() string                                 { return "sig" }

type publicKey struct{ *signingKey }

func (k publicKey) Key() any { return &k.key.PublicKey }

// keyRing holds the active signing key and the public keys still published.
type keyRing struct {
	db  *store.DB
	now func() time.Time

	mu       sync.RWMutex
	active   *signingKey
	public   []op.Key
	loadedAt time.Time
}

func newKeyRing(ctx context.Context, db *store.DB, now func() time.Time) (*keyRing, error) {
	kr := &keyRing{db: db, now: now}
	if err := kr.load(ctx); err != nil {
		return nil, err
	}
	if kr.active == nil {
		if _, err := insertKey(ctx, db, now()); err != nil {
			return nil, err
		}
		if err := kr.load(ctx); err != nil {
			return nil, err
		}
	}
	if kr.active == nil {
		return nil, fmt.Errorf("authz: no active signing key after generating one")
	}
	return kr, nil
}

func insertKey(ctx context.Context, db *store.DB, now time.Time) (string, error) {
	k, err := generateKey()
	if err != nil {
		return "", fmt.Errorf("authz: generate key: %w", err)
	}
	kid := randomHandle(12)
	_, err = db.SQL.ExecContext(ctx, `INSERT INTO authz_keys (kid, der, created_at) VALUES (?, ?, ?)`,
		kid, x509.MarshalPKCS1PrivateKey(k), now.Unix())
	return kid, err
}

func (kr *keyRing) load(ctx context.Context) error {
	now := kr.now()
	rows, err := kr.db.SQL.QueryContext(ctx, `SELECT kid, der, retired_at FROM authz_keys WHERE retired_at IS NULL OR retired_at > ? ORDER BY created_at DESC, rowid DESC`,
		now.Add(-KeyGracePeriod).Unix())
	if err != nil {
		return fmt.Errorf("authz: load keys: %w", err)
	}
	defer rows.Close()
	var active *signingKey
	var public []op.Key
	for rows.Next() {
		var kid string
		var der []byte
		var retired sql.NullInt64
		if err := rows.Scan(&kid, &der, &retired); err != nil {
			return err
		}
		pk, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return fmt.Errorf("authz: key %s: %w", kid, err)
		}
		sk := &signingKey{kid: kid, key: pk}
		sk.key.Precompute()
		if !retired.Valid && active == nil {
			active = sk
		}
		public = append(public, publicKey{sk})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	kr.mu.Lock()
	kr.active, kr.public, kr.loadedAt = active, public, now
	kr.mu.Unlock()
	return nil
}

// current returns the active key, reloading the ring when it may be stale.
func (kr *keyRing) current(ctx context.Context) *signingKey {
	kr.mu.RLock()
	k, stale := kr.active, kr.now().Sub(kr.loadedAt) > keyReload
	kr.mu.RUnlock()
	if stale {
		if err := kr.load(ctx); err == nil {
			kr.mu.RLock()
			if kr.active != nil {
				k = kr.active
			}
			kr.mu.RUnlock()
		}
	}
	return k
}

func (kr *keyRing) keySet(ctx context.Context) []op.Key {
	kr.current(ctx)
	kr.mu.RLock()
	defer kr.mu.RUnlock()
	return append([]op.Key(nil), kr.public...)
}

// RotateKeys generates a new RS256 signing key and retires the current one;
// the retired public key stays published for KeyGracePeriod. Used by
// `ehrsim keys rotate`; a running server picks the new key up within a minute.
func RotateKeys(ctx context.Context, db *store.DB) error {
	if err := migrate(ctx, db); err != nil {
		return err
	}
	now := time.Now()
	// Insert first, then retire the others: there is never a moment without
	// an active key.
	kid, err := insertKey(ctx, db, now)
	if err != nil {
		return err
	}
	if _, err := db.SQL.ExecContext(ctx, `UPDATE authz_keys SET retired_at = ? WHERE retired_at IS NULL AND kid <> ?`, now.Unix(), kid); err != nil {
		return fmt.Errorf("authz: retire keys: %w", err)
	}
	return nil
}
