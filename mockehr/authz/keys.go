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
// `ehrsim keys rotate` ran in another process against the same database
// (or another instance rotated). A reload is one small query, made by the
// first signature or key set request after the bound.
const keyReload = 3 * time.Second

// keyActivation is how old a new key must be before it signs: longer than
// keyReload, so every instance sharing the database publishes a key in its
// JWKS before any instance signs an id_token with it (a client behind a
// load balancer may fetch the key set from any of them). Every instance
// signs with a rotated key within keyActivation + keyReload and the
// second of rounding in created_at (8 s, under the 10 s promised). A
// database's first key signs at once: no other key could be in use.
const keyActivation = 4 * time.Second

// migrations are the authz package's SQLite tables (append-only,
// store.Migrate). With PostgreSQL, the signing keys live there
// (postgresMigrations), and so do the token tables.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS authz_keys (kid TEXT PRIMARY KEY, der BLOB NOT NULL, created_at INTEGER NOT NULL, retired_at INTEGER)`,
	`CREATE TABLE IF NOT EXISTS authz_families (id TEXT PRIMARY KEY, data BLOB NOT NULL, revoked INTEGER NOT NULL DEFAULT 0, expires_at INTEGER NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS authz_tokens (hash BLOB PRIMARY KEY, family TEXT NOT NULL, kind TEXT NOT NULL, token_id TEXT NOT NULL, scope TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)`,
	`CREATE INDEX IF NOT EXISTS authz_tokens_family ON authz_tokens (family)`,
}

// postgresMigrations are the owner "authz"'s PostgreSQL tables (append
// only). seq orders keys created in the same second, as rowid does in
// SQLite.
var postgresMigrations = []string{
	`CREATE TABLE IF NOT EXISTS authz_keys (kid TEXT PRIMARY KEY, der BYTEA NOT NULL, created_at BIGINT NOT NULL, retired_at BIGINT, seq BIGSERIAL NOT NULL)`,
	// The token store (tokenrows.go): data is the family's JSON.
	`CREATE TABLE IF NOT EXISTS authz_families (id TEXT PRIMARY KEY, data BYTEA NOT NULL, revoked BOOLEAN NOT NULL DEFAULT false, expires_at BIGINT NOT NULL)`,
	`CREATE TABLE IF NOT EXISTS authz_tokens (hash BYTEA PRIMARY KEY, family TEXT NOT NULL, kind TEXT NOT NULL, token_id TEXT NOT NULL, scope BYTEA NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked BOOLEAN NOT NULL DEFAULT false)`,
	`CREATE INDEX IF NOT EXISTS authz_tokens_family ON authz_tokens (family)`,
	`CREATE INDEX IF NOT EXISTS authz_tokens_expiry ON authz_tokens (expires_at)`,
	`CREATE INDEX IF NOT EXISTS authz_families_expiry ON authz_families (expires_at)`,
	// Authorization requests and codes (requests.go, pgRequests); in memory
	// with SQLite. Times are unix milliseconds.
	`CREATE TABLE IF NOT EXISTS authz_requests (
		id TEXT PRIMARY KEY,
		data BYTEA NOT NULL,
		version INTEGER NOT NULL,
		done BOOLEAN NOT NULL DEFAULT false,
		code_hash BYTEA UNIQUE,
		used BOOLEAN NOT NULL DEFAULT false,
		used_until BIGINT,
		replayed BOOLEAN NOT NULL DEFAULT false,
		expires_at BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS authz_requests_expiry ON authz_requests (expires_at)`,
}

var _ = store.RegisterPostgres("authz", postgresMigrations)

func migrate(ctx context.Context, db *store.DB) error { return db.Migrate(ctx, "authz", migrations) }

// KeyStore keeps the signing keys (PKCS#1 DER). Its SQLite and PostgreSQL
// implementations pass one contract test (keys_contract_test.go). Both
// changes are atomic, so instances sharing a database never end up with
// two keys made active by a race, nor a moment without an active key.
type KeyStore interface {
	// AddFirst stores the key only when no key is active; added reports
	// whether it did (false: another instance made one first).
	AddFirst(ctx context.Context, kid string, der []byte, createdAt int64) (added bool, err error)
	// Rotate stores the key and retires every other active key at
	// createdAt, in one transaction.
	Rotate(ctx context.Context, kid string, der []byte, createdAt int64) error
	// Published returns the keys not retired, or retired after
	// retiredAfter, newest first (keyRing.load picks the signing key).
	Published(ctx context.Context, retiredAfter int64) ([]storedKey, error)
}

// storedKey is one row of a KeyStore.
type storedKey struct {
	Kid       string
	DER       []byte
	Retired   bool
	CreatedAt int64 // unix seconds
}

// keyStoreFor returns db's KeyStore: PostgreSQL's when configured, else
// SQLite's.
func keyStoreFor(db *store.DB) KeyStore {
	if db.PG != nil {
		return postgresKeys{db.PG}
	}
	return sqliteKeys{db.SQL}
}

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
	st  KeyStore
	now func() time.Time

	mu       sync.RWMutex
	active   *signingKey
	public   []op.Key
	loadedAt time.Time
}

func newKeyRing(ctx context.Context, db *store.DB, now func() time.Time) (*keyRing, error) {
	kr := &keyRing{st: keyStoreFor(db), now: now}
	if err := kr.load(ctx); err != nil {
		return nil, err
	}
	if kr.active == nil {
		kid, der, err := newKey()
		if err != nil {
			return nil, err
		}
		if _, err := kr.st.AddFirst(ctx, kid, der, now().Unix()); err != nil {
			return nil, fmt.Errorf("authz: store key: %w", err)
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

// newKey makes a key and its kid.
func newKey() (kid string, der []byte, err error) {
	k, err := generateKey()
	if err != nil {
		return "", nil, fmt.Errorf("authz: generate key: %w", err)
	}
	return randomHandle(12), x509.MarshalPKCS1PrivateKey(k), nil
}

func (kr *keyRing) load(ctx context.Context) error {
	now := kr.now()
	rows, err := kr.st.Published(ctx, now.Add(-KeyGracePeriod).Unix())
	if err != nil {
		return fmt.Errorf("authz: load keys: %w", err)
	}
	kr.mu.RLock()
	known := map[string]*signingKey{}
	for _, k := range kr.public {
		if pk, ok := k.(publicKey); ok {
			known[pk.kid] = pk.signingKey
		}
	}
	kr.mu.RUnlock()
	var active, oldest *signingKey
	var public []op.Key
	for _, row := range rows {
		sk := known[row.Kid] // parsed and precomputed already
		if sk == nil {
			pk, err := x509.ParsePKCS1PrivateKey(row.DER)
			if err != nil {
				return fmt.Errorf("authz: key %s: %w", row.Kid, err)
			}
			sk = &signingKey{kid: row.Kid, key: pk}
			sk.key.Precompute()
		}
		// Newest first: the signing key is the newest old enough to be
		// published everywhere (keyActivation), retired or not (the key
		// a rotation retired signs until its successor may).
		// created_at is whole seconds: the key was made before CreatedAt+1.
		if active == nil && !time.Unix(row.CreatedAt+1, 0).After(now.Add(-keyActivation)) {
			active = sk
		}
		oldest = sk
		public = append(public, publicKey{sk})
	}
	if active == nil {
		active = oldest // every key is new: a fresh database's first key
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

// PrepareKeys makes the database's first signing key when it has none, so
// that a first start generates it (RSA-2048: 30 to 300 ms, by chance)
// while it builds its FHIR data: ehrsim calls it in a goroutine right
// after opening the database, and New finds the key made. Instances doing
// this at once store one key (AddFirst).
func PrepareKeys(ctx context.Context, db *store.DB) error {
	if err := migrate(ctx, db); err != nil {
		return err
	}
	st := keyStoreFor(db)
	rows, err := st.Published(ctx, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("authz: load keys: %w", err)
	}
	for _, r := range rows {
		if !r.Retired {
			return nil
		}
	}
	kid, der, err := newKey()
	if err != nil {
		return err
	}
	if _, err := st.AddFirst(ctx, kid, der, time.Now().Unix()); err != nil {
		return fmt.Errorf("authz: store key: %w", err)
	}
	return nil
}

// RotateKeys generates a new RS256 signing key and retires the current one
// in one transaction; the retired public key stays published for
// KeyGracePeriod. Used by `ehrsim keys rotate`; every running server
// sharing the database publishes the new key within keyReload and signs
// with it from keyActivation on, within keyActivation + keyReload.
func RotateKeys(ctx context.Context, db *store.DB) error {
	if err := migrate(ctx, db); err != nil {
		return err
	}
	kid, der, err := newKey()
	if err != nil {
		return err
	}
	if err := keyStoreFor(db).Rotate(ctx, kid, der, time.Now().Unix()); err != nil {
		return fmt.Errorf("authz: rotate keys: %w", err)
	}
	return nil
}

// sqliteKeys is the SQLite KeyStore.
type sqliteKeys struct{ db *sql.DB }

func (s sqliteKeys) AddFirst(ctx context.Context, kid string, der []byte, createdAt int64) (bool, error) {
	// One statement: SQLite runs one writer at a time, so the check and
	// the insert cannot interleave with another's.
	res, err := s.db.ExecContext(ctx, `INSERT INTO authz_keys (kid, der, created_at)
		SELECT ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM authz_keys WHERE retired_at IS NULL)`, kid, der, createdAt)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s sqliteKeys) Rotate(ctx context.Context, kid string, der []byte, at int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO authz_keys (kid, der, created_at) VALUES (?, ?, ?)`, kid, der, at); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE authz_keys SET retired_at = ? WHERE retired_at IS NULL AND kid <> ?`, at, kid); err != nil {
		return err
	}
	return tx.Commit()
}

func (s sqliteKeys) Published(ctx context.Context, retiredAfter int64) ([]storedKey, error) {
	return scanKeys(s.db.QueryContext(ctx, `SELECT kid, der, retired_at IS NOT NULL, created_at FROM authz_keys WHERE retired_at IS NULL OR retired_at > ? ORDER BY created_at DESC, rowid DESC`, retiredAfter))
}

func scanKeys(rows *sql.Rows, err error) ([]storedKey, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []storedKey
	for rows.Next() {
		var k storedKey
		if err := rows.Scan(&k.Kid, &k.DER, &k.Retired, &k.CreatedAt); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// postgresKeys is the PostgreSQL KeyStore. Its changes hold an advisory
// transaction lock, so AddFirst's check and insert, and Rotate, are
// serialized across instances.
type postgresKeys struct{ db *sql.DB }

// keysLockKey is the advisory lock of the signing keys ("authz_keys").
const keysLockKey = 0x617574687a6b

func (s postgresKeys) locked(ctx context.Context, f func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(keysLockKey)); err != nil {
		return err
	}
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}

func (s postgresKeys) AddFirst(ctx context.Context, kid string, der []byte, createdAt int64) (bool, error) {
	var added bool
	err := s.locked(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO authz_keys (kid, der, created_at)
			SELECT $1, $2, $3 WHERE NOT EXISTS (SELECT 1 FROM authz_keys WHERE retired_at IS NULL)`, kid, der, createdAt)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		added = n == 1
		return err
	})
	return added, err
}

func (s postgresKeys) Rotate(ctx context.Context, kid string, der []byte, at int64) error {
	return s.locked(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO authz_keys (kid, der, created_at) VALUES ($1, $2, $3)`, kid, der, at); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `UPDATE authz_keys SET retired_at = $1 WHERE retired_at IS NULL AND kid <> $2`, at, kid)
		return err
	})
}

func (s postgresKeys) Published(ctx context.Context, retiredAfter int64) ([]storedKey, error) {
	return scanKeys(s.db.QueryContext(ctx, `SELECT kid, der, retired_at IS NOT NULL, created_at FROM authz_keys WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC, seq DESC`, retiredAfter))
}
