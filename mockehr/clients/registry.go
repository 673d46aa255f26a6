package clients

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// RegistryOptions configure a Registry.
type RegistryOptions struct {
	// BaseURL is the server's public origin (e.g. http://localhost:8080). URLs
	// of a client that start with it are stored as "{base}/…" templates and
	// expanded with the current BaseURL on every read, so the demo clients and
	// the sample app keep working when the server runs on another port.
	BaseURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Registry stores clients in the shared database (table clients) through
// its ClientStore: SQLite, or PostgreSQL when one is configured. It is safe
// for concurrent use.
//
// Get answers from a small cache for up to cacheTTL: every launch looks its
// client up several times (mint, authorize, token), and the query was ~9% of
// a full launch's CPU. Writes through this Registry drop the entry at once;
// another instance sharing the database sees a change within cacheTTL.
type Registry struct {
	db   *store.DB
	st   ClientStore
	base string
	now  func() time.Time

	cacheMu sync.Mutex
	cache   map[string]cachedClient

	launchPrune launchPrune
}

// cacheTTL bounds how stale a client read by another instance may be.
const cacheTTL = time.Second

// cacheMax bounds the cache: sandbox mode looks up arbitrary client ids.
const cacheMax = 1024

type cachedClient struct {
	c  *Client // nil: not found
	at time.Time
}

// migrations are the SQLite tables of the owner "clients" (append-only,
// store.Migrate contract; postgresMigrations in storage.go are their
// PostgreSQL counterpart).
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS clients (
		id TEXT PRIMARY KEY,
		data TEXT NOT NULL,
		secret_salt BLOB,
		secret_hash BLOB,
		created_at INTEGER NOT NULL,
		updated_at INTEGER NOT NULL
	)`,
	`CREATE TABLE IF NOT EXISTS client_jtis (
		iss TEXT NOT NULL,
		jti TEXT NOT NULL,
		exp INTEGER NOT NULL,
		PRIMARY KEY (iss, jti)
	)`,
	`CREATE INDEX IF NOT EXISTS client_jtis_exp ON client_jtis (exp)`,
}

const baseTemplate = "{base}"

// NewRegistry migrates the registry's tables and seeds the demo clients that
// are absent (see doc.go for the list).
func NewRegistry(ctx context.Context, db *store.DB, opts RegistryOptions) (*Registry, error) {
	if db == nil {
		return nil, errors.New("clients: nil database")
	}
	r := &Registry{db: db, st: newClientStore(db), base: strings.TrimSuffix(opts.BaseURL, "/"), now: opts.Now}
	if r.now == nil {
		r.now = time.Now
	}
	if err := db.Migrate(ctx, "clients", migrations); err != nil {
		return nil, err
	}
	if err := db.Migrate(ctx, "launch_clients", launchMigrations); err != nil {
		return nil, err
	}
	if err := r.seedDemo(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// BaseURL is the origin the registry expands "{base}" templates with.
func (r *Registry) BaseURL() string { return r.base }

// Get returns the client with id, or ErrNotFound. The caller owns the
// returned value.
func (r *Registry) Get(ctx context.Context, id string) (*Client, error) {
	now := r.now()
	r.cacheMu.Lock()
	e, ok := r.cache[id]
	r.cacheMu.Unlock()
	if ok && now.Sub(e.at) < cacheTTL && !now.Before(e.at) {
		if e.c == nil {
			return nil, ErrNotFound
		}
		return e.c.clone(), nil
	}
	var c *Client
	row, err := r.st.Get(ctx, id)
	switch {
	case err == nil:
		c, err = r.fromRow(row)
	case errors.Is(err, errNoRow):
		err = ErrNotFound
	}
	if err == nil || errors.Is(err, ErrNotFound) {
		r.cacheMu.Lock()
		if r.cache == nil || len(r.cache) >= cacheMax {
			r.cache = map[string]cachedClient{}
		}
		r.cache[id] = cachedClient{c: c.clone(), at: now}
		r.cacheMu.Unlock()
	}
	return c, err
}

// ClientExists reports whether id is a registered client (launch-defined
// clients are not registered).
func (r *Registry) ClientExists(ctx context.Context, id string) (bool, error) {
	_, err := r.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// forget drops id from the cache after a write.
func (r *Registry) forget(id string) {
	r.cacheMu.Lock()
	delete(r.cache, id)
	r.cacheMu.Unlock()
}

// clone deep-copies c (nil stays nil).
func (c *Client) clone() *Client {
	if c == nil {
		return nil
	}
	cp := *c
	cp.RedirectURIs = append([]string(nil), c.RedirectURIs...)
	cp.JWKS = append(json.RawMessage(nil), c.JWKS...)
	return &cp
}

// List returns every client, ordered by id.
func (r *Registry) List(ctx context.Context) ([]Client, error) {
	rows, err := r.st.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("list clients: %w", err)
	}
	var out []Client
	for _, row := range rows {
		c, err := r.fromRow(row)
		if err != nil {
			return nil, err
		}
		out = append(out, *c)
	}
	return out, nil
}

// Create validates and stores a new client. secret is required for
// confidential-symmetric clients and refused for others. Validation errors
// are *FieldError; a taken id is ErrExists.
func (r *Registry) Create(ctx context.Context, c Client, secret string) (*Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	salt, hash, err := r.secretFor(c.Type, &secret, nil, nil)
	if err != nil {
		return nil, err
	}
	now := r.now().UTC().Truncate(time.Second)
	data, err := r.encode(c)
	if err != nil {
		return nil, err
	}
	created, err := r.st.Insert(ctx, clientRow{ID: c.ID, Data: data, Created: now.Unix(), Updated: now.Unix()}, salt, hash)
	r.forget(c.ID) // a cached "not found" must not outlive the insert
	if err != nil {
		return nil, fmt.Errorf("create client %s: %w", c.ID, err)
	}
	if !created {
		return nil, ErrExists
	}
	return r.Get(ctx, c.ID)
}

// Update replaces the client c.ID (ErrNotFound when absent). secret nil
// keeps the stored secret; non-nil sets a new one. Changing the type away
// from confidential-symmetric drops the secret. The write is one statement:
// keeping the secret is a condition of the UPDATE, not a value read before
// it, so a concurrent change of the secret is never undone.
func (r *Registry) Update(ctx context.Context, c Client, secret *string) (*Client, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	data, err := r.encode(c)
	if err != nil {
		return nil, err
	}
	now := r.now().UTC().Unix()
	var found bool
	if c.Type == TypeSymmetric && secret == nil {
		found, err = r.st.UpdateKeepSecret(ctx, c.ID, data, now)
		if err == nil && !found {
			// No such client, or one without a secret to keep.
			if _, _, serr := r.st.Secret(ctx, c.ID); serr == nil {
				err = fieldErr("client_secret", "a confidential-symmetric client needs a secret")
			} else if !errors.Is(serr, errNoRow) {
				err = serr
			}
		}
	} else {
		var salt, hash []byte
		salt, hash, err = r.secretFor(c.Type, secret, nil, nil)
		if err != nil {
			if _, _, serr := r.st.Secret(ctx, c.ID); errors.Is(serr, errNoRow) {
				return nil, ErrNotFound
			}
			return nil, err
		}
		found, err = r.st.Update(ctx, c.ID, data, salt, hash, now)
	}
	r.forget(c.ID)
	if err != nil {
		var fe *FieldError
		if errors.As(err, &fe) {
			return nil, err
		}
		return nil, fmt.Errorf("update client %s: %w", c.ID, err)
	}
	if !found {
		return nil, ErrNotFound
	}
	return r.Get(ctx, c.ID)
}

// Delete removes the client (ErrNotFound when absent). A deleted demo client
// comes back on the next start (seeding fills in absent demo clients).
func (r *Registry) Delete(ctx context.Context, id string) error {
	found, err := r.st.Delete(ctx, id)
	r.forget(id)
	if err != nil {
		return fmt.Errorf("delete client %s: %w", id, err)
	}
	if !found {
		return ErrNotFound
	}
	return nil
}

// CheckSecret reports whether secret is the stored secret of client id. It
// compares HMAC-SHA256(salt, secret) in constant time and does the same
// work for unknown clients and clients without a secret.
func (r *Registry) CheckSecret(ctx context.Context, id, secret string) bool {
	salt, hash, err := r.st.Secret(ctx, id)
	ok := err == nil && len(salt) > 0 && len(hash) == sha256.Size
	if !ok {
		salt, hash = make([]byte, 16), make([]byte, sha256.Size)
	}
	return hmac.Equal(hashSecret(salt, secret), hash) && ok
}

func hashSecret(salt []byte, secret string) []byte {
	m := hmac.New(sha256.New, salt)
	m.Write([]byte(secret))
	return m.Sum(nil)
}

// secretFor decides the stored salt and hash for a client of type typ.
func (r *Registry) secretFor(typ string, secret *string, oldSalt, oldHash []byte) (salt, hash []byte, err error) {
	if typ != TypeSymmetric {
		if secret != nil && *secret != "" {
			return nil, nil, fieldErr("client_secret", "only confidential-symmetric clients have a secret (this one is %s)", typ)
		}
		return nil, nil, nil
	}
	if secret == nil {
		if len(oldHash) == 0 {
			return nil, nil, fieldErr("client_secret", "a confidential-symmetric client needs a secret")
		}
		return oldSalt, oldHash, nil
	}
	if err := checkSecret(*secret); err != nil {
		return nil, nil, err
	}
	salt = make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return nil, nil, err
	}
	return salt, hashSecret(salt, *secret), nil
}

// storedClient is the JSON kept in clients.data: the Client minus the
// columns and derived fields.
type storedClient struct {
	Name                 string          `json:"name,omitempty"`
	Type                 string          `json:"type"`
	RedirectURIs         []string        `json:"redirect_uris,omitempty"`
	LaunchURL            string          `json:"launch_url,omitempty"`
	Scope                string          `json:"scope,omitempty"`
	JWKSURL              string          `json:"jwks_url,omitempty"`
	JWKS                 json.RawMessage `json:"jwks,omitempty"`
	PKCE                 string          `json:"pkce,omitempty"`
	AccessTokenLifetime  int             `json:"access_token_lifetime,omitempty"`
	RefreshTokenLifetime int             `json:"refresh_token_lifetime,omitempty"`
}

func (r *Registry) encode(c Client) (string, error) {
	s := storedClient{
		Name: c.Name, Type: c.Type, LaunchURL: r.template(c.LaunchURL), Scope: c.Scope,
		JWKSURL: r.template(c.JWKSURL), JWKS: c.JWKS, PKCE: c.PKCE,
		AccessTokenLifetime: c.AccessTokenLifetime, RefreshTokenLifetime: c.RefreshTokenLifetime,
	}
	for _, u := range c.RedirectURIs {
		s.RedirectURIs = append(s.RedirectURIs, r.template(u))
	}
	b, err := json.Marshal(s)
	return string(b), err
}

func (r *Registry) fromRow(row clientRow) (*Client, error) {
	var s storedClient
	if err := json.Unmarshal([]byte(row.Data), &s); err != nil {
		return nil, fmt.Errorf("decode client: %w", err)
	}
	return r.decode(row.ID, s, row.HasSecret, row.Created, row.Updated), nil
}

// template turns a URL on this server's origin into a "{base}/…" template.
func (r *Registry) template(u string) string {
	if r.base != "" && strings.HasPrefix(u, r.base+"/") {
		return baseTemplate + strings.TrimPrefix(u, r.base)
	}
	return u
}

func (r *Registry) expand(u string) string {
	if strings.HasPrefix(u, baseTemplate) {
		return r.base + strings.TrimPrefix(u, baseTemplate)
	}
	return u
}

func (r *Registry) decode(id string, s storedClient, hasSecret bool, created, updated int64) *Client {
	c := &Client{
		ID: id, Name: s.Name, Type: s.Type, LaunchURL: r.expand(s.LaunchURL), Scope: s.Scope,
		JWKSURL: r.expand(s.JWKSURL), JWKS: s.JWKS, PKCE: s.PKCE,
		AccessTokenLifetime: s.AccessTokenLifetime, RefreshTokenLifetime: s.RefreshTokenLifetime,
		HasSecret: hasSecret,
		CreatedAt: time.Unix(created, 0).UTC(), UpdatedAt: time.Unix(updated, 0).UTC(),
	}
	for _, u := range s.RedirectURIs {
		c.RedirectURIs = append(c.RedirectURIs, r.expand(u))
	}
	return c
}
