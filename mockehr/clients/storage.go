package clients

import (
	"context"
	"database/sql"
	"errors"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// ClientStore is the clients package's persistence: registered clients,
// launch-defined clients and used client-assertion jtis. Its SQLite and
// PostgreSQL implementations are one Go type running each engine's SQL
// text; they pass one contract test (storage_contract_test.go). Every
// change is one statement, so instances sharing a database never lose an
// update between a read and a write.
type ClientStore interface {
	// Get returns the registered client id, or errNoRow.
	Get(ctx context.Context, id string) (clientRow, error)
	// List returns every registered client, ordered by id.
	List(ctx context.Context) ([]clientRow, error)
	// Insert adds a client unless the id is taken; created is false then.
	Insert(ctx context.Context, row clientRow, salt, hash []byte) (created bool, err error)
	// Update replaces data and the secret (salt and hash, nil for none) of
	// an existing client; found is false when there is none.
	Update(ctx context.Context, id, data string, salt, hash []byte, updatedAt int64) (found bool, err error)
	// UpdateKeepSecret replaces data of a client that has a secret, keeping
	// the secret; found is false when there is no such client with a secret.
	UpdateKeepSecret(ctx context.Context, id, data string, updatedAt int64) (found bool, err error)
	// Delete removes a client; found is false when there was none.
	Delete(ctx context.Context, id string) (found bool, err error)
	// Secret returns a client's salt and hash (nil when it has none), or
	// errNoRow.
	Secret(ctx context.Context, id string) (salt, hash []byte, err error)

	// DefineLaunch inserts a launch-defined client's definition, or, when
	// that definition exists, sets its updated_at and keeps the later of
	// the two expiries.
	DefineLaunch(ctx context.Context, id string, defHash []byte, data string, salt, hash []byte, updatedAtMilli, expiresAt int64) error
	// ExtendLaunch moves the expiry of id's definitions that are live at
	// now and expire before until to until.
	ExtendLaunch(ctx context.Context, id string, until, now int64) error
	// LaunchDefs returns id's definitions live at now, newest first, at
	// most 64.
	LaunchDefs(ctx context.Context, id string, now int64) ([]launchRow, error)
	// PruneLaunch deletes definitions expired at or before now.
	PruneLaunch(ctx context.Context, now int64) error

	// UseJTI records (iss, jti) as used until keepUntil, taking over an
	// entry that expired before now. It reports false when a live entry
	// exists: the replay signal, on every instance sharing the database.
	UseJTI(ctx context.Context, iss, jti string, keepUntil, now int64) (fresh bool, err error)
	// PruneJTIs deletes entries expired before now.
	PruneJTIs(ctx context.Context, now int64) error
}

// errNoRow is a ClientStore's answer for a missing client.
var errNoRow = errors.New("clients: no such row")

// clientRow is a registered client as stored.
type clientRow struct {
	ID               string
	Data             string
	HasSecret        bool
	Created, Updated int64
}

// launchRow is one launch-defined client's definition as stored.
type launchRow struct {
	Data       string
	Salt, Hash []byte
	ExpiresAt  int64
}

// clientQueries is one engine's SQL for a sqlClientStore.
type clientQueries struct {
	get, list, insert, update, updateKeep, delete, secret string
	define, extend, launchDefs, pruneLaunch               string
	useJTI, pruneJTIs                                     string
}

// sqlClientStore implements ClientStore with database/sql; q holds the
// engine's statements.
type sqlClientStore struct {
	db *sql.DB
	q  *clientQueries
}

// newClientStore returns db's ClientStore: PostgreSQL's when configured,
// else SQLite's.
func newClientStore(db *store.DB) ClientStore {
	if db.PG != nil {
		return &sqlClientStore{db: db.PG, q: &postgresClientQueries}
	}
	return &sqlClientStore{db: db.SQL, q: &sqliteClientQueries}
}

var sqliteClientQueries = clientQueries{
	get:        `SELECT id, data, secret_hash IS NOT NULL, created_at, updated_at FROM clients WHERE id = ?`,
	list:       `SELECT id, data, secret_hash IS NOT NULL, created_at, updated_at FROM clients ORDER BY id`,
	insert:     `INSERT INTO clients (id, data, secret_salt, secret_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO NOTHING`,
	update:     `UPDATE clients SET data = ?, secret_salt = ?, secret_hash = ?, updated_at = ? WHERE id = ?`,
	updateKeep: `UPDATE clients SET data = ?, updated_at = ? WHERE id = ? AND secret_hash IS NOT NULL`,
	delete:     `DELETE FROM clients WHERE id = ?`,
	secret:     `SELECT secret_salt, secret_hash FROM clients WHERE id = ?`,
	define: `INSERT INTO launch_clients (id, def_hash, data, secret_salt, secret_hash, updated_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (id, def_hash) DO UPDATE SET updated_at = excluded.updated_at, expires_at = max(expires_at, excluded.expires_at)`,
	extend: `UPDATE launch_clients SET expires_at = ? WHERE id = ? AND expires_at < ? AND expires_at > ?`,
	launchDefs: `SELECT data, secret_salt, secret_hash, expires_at FROM launch_clients
		WHERE id = ? AND expires_at > ? ORDER BY updated_at DESC LIMIT 64`,
	pruneLaunch: `DELETE FROM launch_clients WHERE expires_at <= ?`,
	useJTI: `INSERT INTO client_jtis (iss, jti, exp) VALUES (?, ?, ?)
		ON CONFLICT(iss, jti) DO UPDATE SET exp = excluded.exp WHERE client_jtis.exp < ?`,
	pruneJTIs: `DELETE FROM client_jtis WHERE exp < ?`,
}

var postgresClientQueries = clientQueries{
	get:        `SELECT id, data, secret_hash IS NOT NULL, created_at, updated_at FROM clients WHERE id = $1`,
	list:       `SELECT id, data, secret_hash IS NOT NULL, created_at, updated_at FROM clients ORDER BY id`,
	insert:     `INSERT INTO clients (id, data, secret_salt, secret_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (id) DO NOTHING`,
	update:     `UPDATE clients SET data = $1, secret_salt = $2, secret_hash = $3, updated_at = $4 WHERE id = $5`,
	updateKeep: `UPDATE clients SET data = $1, updated_at = $2 WHERE id = $3 AND secret_hash IS NOT NULL`,
	delete:     `DELETE FROM clients WHERE id = $1`,
	secret:     `SELECT secret_salt, secret_hash FROM clients WHERE id = $1`,
	define: `INSERT INTO launch_clients (id, def_hash, data, secret_salt, secret_hash, updated_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (id, def_hash) DO UPDATE SET updated_at = excluded.updated_at, expires_at = GREATEST(launch_clients.expires_at, excluded.expires_at)`,
	extend: `UPDATE launch_clients SET expires_at = $1 WHERE id = $2 AND expires_at < $3 AND expires_at > $4`,
	launchDefs: `SELECT data, secret_salt, secret_hash, expires_at FROM launch_clients
		WHERE id = $1 AND expires_at > $2 ORDER BY updated_at DESC LIMIT 64`,
	pruneLaunch: `DELETE FROM launch_clients WHERE expires_at <= $1`,
	useJTI: `INSERT INTO client_jtis (iss, jti, exp) VALUES ($1, $2, $3)
		ON CONFLICT (iss, jti) DO UPDATE SET exp = excluded.exp WHERE client_jtis.exp < $4`,
	pruneJTIs: `DELETE FROM client_jtis WHERE exp < $1`,
}

// postgresMigrations are the PostgreSQL tables of the owners "clients" and
// "launch_clients" (the counterparts of migrations and launchMigrations;
// append only).
var (
	postgresMigrations = []string{
		`CREATE TABLE IF NOT EXISTS clients (
			id TEXT PRIMARY KEY,
			data TEXT NOT NULL,
			secret_salt BYTEA,
			secret_hash BYTEA,
			created_at BIGINT NOT NULL,
			updated_at BIGINT NOT NULL
		)`,
		`CREATE TABLE IF NOT EXISTS client_jtis (
			iss TEXT NOT NULL,
			jti TEXT NOT NULL,
			exp BIGINT NOT NULL,
			PRIMARY KEY (iss, jti)
		)`,
		`CREATE INDEX IF NOT EXISTS client_jtis_exp ON client_jtis (exp)`,
	}
	postgresLaunchMigrations = []string{
		`CREATE TABLE IF NOT EXISTS launch_clients (
			id TEXT NOT NULL,
			def_hash BYTEA NOT NULL,
			data TEXT NOT NULL,
			secret_salt BYTEA,
			secret_hash BYTEA,
			updated_at BIGINT NOT NULL,
			expires_at BIGINT NOT NULL,
			PRIMARY KEY (id, def_hash)
		)`,
		`CREATE INDEX IF NOT EXISTS launch_clients_expiry ON launch_clients (expires_at)`,
	}
	_ = store.RegisterPostgres("clients", postgresMigrations)
	_ = store.RegisterPostgres("launch_clients", postgresLaunchMigrations)
)

func scanClientRow(row interface{ Scan(...any) error }) (clientRow, error) {
	var c clientRow
	err := row.Scan(&c.ID, &c.Data, &c.HasSecret, &c.Created, &c.Updated)
	return c, err
}

func (s *sqlClientStore) Get(ctx context.Context, id string) (clientRow, error) {
	c, err := scanClientRow(s.db.QueryRowContext(ctx, s.q.get, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = errNoRow
	}
	return c, err
}

func (s *sqlClientStore) List(ctx context.Context) ([]clientRow, error) {
	rows, err := s.db.QueryContext(ctx, s.q.list)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []clientRow
	for rows.Next() {
		c, err := scanClientRow(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func affected(res sql.Result, err error) (bool, error) {
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

func (s *sqlClientStore) Insert(ctx context.Context, c clientRow, salt, hash []byte) (bool, error) {
	return affected(s.db.ExecContext(ctx, s.q.insert, c.ID, c.Data, salt, hash, c.Created, c.Updated))
}

func (s *sqlClientStore) Update(ctx context.Context, id, data string, salt, hash []byte, updatedAt int64) (bool, error) {
	return affected(s.db.ExecContext(ctx, s.q.update, data, salt, hash, updatedAt, id))
}

func (s *sqlClientStore) UpdateKeepSecret(ctx context.Context, id, data string, updatedAt int64) (bool, error) {
	return affected(s.db.ExecContext(ctx, s.q.updateKeep, data, updatedAt, id))
}

func (s *sqlClientStore) Delete(ctx context.Context, id string) (bool, error) {
	return affected(s.db.ExecContext(ctx, s.q.delete, id))
}

func (s *sqlClientStore) Secret(ctx context.Context, id string) (salt, hash []byte, err error) {
	err = s.db.QueryRowContext(ctx, s.q.secret, id).Scan(&salt, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNoRow
	}
	return salt, hash, err
}

func (s *sqlClientStore) DefineLaunch(ctx context.Context, id string, defHash []byte, data string, salt, hash []byte, updatedAtMilli, expiresAt int64) error {
	_, err := s.db.ExecContext(ctx, s.q.define, id, defHash, data, salt, hash, updatedAtMilli, expiresAt)
	return err
}

func (s *sqlClientStore) ExtendLaunch(ctx context.Context, id string, until, now int64) error {
	_, err := s.db.ExecContext(ctx, s.q.extend, until, id, until, now)
	return err
}

func (s *sqlClientStore) LaunchDefs(ctx context.Context, id string, now int64) ([]launchRow, error) {
	rows, err := s.db.QueryContext(ctx, s.q.launchDefs, id, now)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []launchRow
	for rows.Next() {
		var l launchRow
		if err := rows.Scan(&l.Data, &l.Salt, &l.Hash, &l.ExpiresAt); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

func (s *sqlClientStore) PruneLaunch(ctx context.Context, now int64) error {
	_, err := s.db.ExecContext(ctx, s.q.pruneLaunch, now)
	return err
}

func (s *sqlClientStore) UseJTI(ctx context.Context, iss, jti string, keepUntil, now int64) (bool, error) {
	res, err := s.db.ExecContext(ctx, s.q.useJTI, iss, jti, keepUntil, now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (s *sqlClientStore) PruneJTIs(ctx context.Context, now int64) error {
	_, err := s.db.ExecContext(ctx, s.q.pruneJTIs, now)
	return err
}
