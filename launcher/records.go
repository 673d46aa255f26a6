package launcher

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// migrations are the launcher's SQLite tables (owner "launcher"), and
// postgresMigrations their PostgreSQL counterpart. Append only.
//
//   - launcher_launches: every minted launch by id, holding only the sealed
//     string (never the plaintext: a client secret stays sealed at rest), so
//     GET /api/launches/{id} can answer for a short id.
//   - launcher_consumed: ids of launch_once launches already used. This is the
//     one piece of launch state that cannot live in the sealed value.
//
// Both are pruned once their launch has expired.
var migrations = []string{
	`CREATE TABLE IF NOT EXISTS launcher_launches (
		id TEXT PRIMARY KEY,
		purpose TEXT NOT NULL,
		sealed TEXT NOT NULL,
		expires_at INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS launcher_launches_expiry ON launcher_launches (expires_at)`,
	`CREATE TABLE IF NOT EXISTS launcher_consumed (
		id TEXT PRIMARY KEY,
		expires_at INTEGER NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS launcher_consumed_expiry ON launcher_consumed (expires_at)`,
}

var postgresMigrations = []string{
	`CREATE TABLE IF NOT EXISTS launcher_launches (
		id TEXT PRIMARY KEY,
		purpose TEXT NOT NULL,
		sealed TEXT NOT NULL,
		expires_at BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS launcher_launches_expiry ON launcher_launches (expires_at)`,
	`CREATE TABLE IF NOT EXISTS launcher_consumed (
		id TEXT PRIMARY KEY,
		expires_at BIGINT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS launcher_consumed_expiry ON launcher_consumed (expires_at)`,
}

var _ = store.RegisterPostgres("launcher", postgresMigrations)

// errNoRecord is a RecordStore's answer for an id it does not hold.
var errNoRecord = errors.New("launcher: no such launch record")

// RecordStore keeps the launcher's state: minted launches by id (sealed) and
// the ids of consumed launch_once launches. Its SQLite and PostgreSQL
// implementations pass one contract test (records_contract_test.go).
type RecordStore interface {
	// Put records a minted launch.
	Put(ctx context.Context, id, purpose, sealed string, expires time.Time) error
	// Get returns a launch recorded by Put, or errNoRecord.
	Get(ctx context.Context, id string) (purpose, sealed string, err error)
	// Consume marks id used in one statement and reports whether this call
	// was the first, on every instance sharing the database.
	Consume(ctx context.Context, id string, expires time.Time) (first bool, err error)
	// Consumed reports whether id was consumed.
	Consumed(ctx context.Context, id string) (bool, error)
	// Prune deletes the rows whose launch expired at or before now.
	Prune(ctx context.Context, now time.Time) error
}

// records is the Service's RecordStore: PostgreSQL's when the database has
// one, else SQLite's. Both are one pointer wide, so choosing costs no
// allocation.
func (s *Service) records() RecordStore {
	if s.db.PG != nil {
		return postgresRecords{s.db.PG}
	}
	return sqliteRecords{s.db.SQL}
}

// pruneEvery spaces out the deletion of expired rows.
const pruneEvery = time.Minute

func (s *Service) record(ctx context.Context, l *Launch, sealed string) error {
	purpose := purposeScenario
	if l.Type.IsEHR() {
		purpose = purposeLaunch
	}
	if err := s.records().Put(ctx, l.ID, purpose, sealed, l.ExpiresAt); err != nil {
		return err
	}
	s.maybePrune(ctx)
	return nil
}

// Lookup returns a launch by the id Mint returned. As a convenience (and so
// any instance sharing the key can answer), a launch code or a scenario id is
// accepted too. Errors: ErrUnknownLaunch, ErrExpiredLaunch (with the launch).
func (s *Service) Lookup(ctx context.Context, id string) (*Launch, error) {
	purpose, sealed, err := s.records().Get(ctx, id)
	switch {
	case err == nil:
		return s.open(sealed, purpose)
	case !errors.Is(err, errNoRecord):
		return nil, err
	}
	if l, err := s.open(id, purposeLaunch); !errors.Is(err, ErrUnknownLaunch) {
		return l, err
	}
	return s.open(id, purposeScenario)
}

// Consume marks a launch_once launch used: the first call wins, every later
// call (on any instance sharing the database) gets ErrLaunchUsed. It is a
// no-op for reusable launches. The authorization server calls it when it
// accepts an authorize request carrying the launch.
func (s *Service) Consume(ctx context.Context, l *Launch) error {
	if !l.LaunchOnce {
		return nil
	}
	if l.Expired(s.now()) {
		return ErrExpiredLaunch
	}
	first, err := s.records().Consume(ctx, l.ID, l.ExpiresAt)
	if err != nil {
		return err
	}
	s.maybePrune(ctx)
	if !first {
		return ErrLaunchUsed
	}
	return nil
}

// Used reports whether a launch_once launch has been consumed.
func (s *Service) Used(ctx context.Context, l *Launch) (bool, error) {
	if !l.LaunchOnce {
		return false, nil
	}
	return s.records().Consumed(ctx, l.ID)
}

// maybePrune deletes rows of expired launches, at most once per pruneEvery.
// A consumed id may go once its launch has expired: Open refuses the launch
// itself from then on. Failures are ignored: pruning retries later.
func (s *Service) maybePrune(ctx context.Context) {
	now := s.now()
	s.pruneMu.Lock()
	if now.Sub(s.lastPrune) < pruneEvery {
		s.pruneMu.Unlock()
		return
	}
	s.lastPrune = now
	s.pruneMu.Unlock()
	s.records().Prune(ctx, now)
}

// sqliteRecords is the SQLite RecordStore.
type sqliteRecords struct{ db *sql.DB }

func (r sqliteRecords) Put(ctx context.Context, id, purpose, sealed string, expires time.Time) error {
	_, err := r.db.ExecContext(ctx, `INSERT INTO launcher_launches (id, purpose, sealed, expires_at) VALUES (?, ?, ?, ?)`,
		id, purpose, sealed, expires.Unix())
	return err
}

func (r sqliteRecords) Get(ctx context.Context, id string) (purpose, sealed string, err error) {
	err = r.db.QueryRowContext(ctx, `SELECT purpose, sealed FROM launcher_launches WHERE id = ?`, id).Scan(&purpose, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNoRecord
	}
	return
}

func (r sqliteRecords) Consume(ctx context.Context, id string, expires time.Time) (bool, error) {
	res, err := r.db.ExecContext(ctx, `INSERT INTO launcher_consumed (id, expires_at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING`,
		id, expires.Unix())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (r sqliteRecords) Consumed(ctx context.Context, id string) (bool, error) {
	var n int
	err := r.db.QueryRowContext(ctx, `SELECT count(*) FROM launcher_consumed WHERE id = ?`, id).Scan(&n)
	return n > 0, err
}

func (r sqliteRecords) Prune(ctx context.Context, now time.Time) error {
	_, err1 := r.db.ExecContext(ctx, `DELETE FROM launcher_consumed WHERE expires_at <= ?`, now.Unix())
	_, err2 := r.db.ExecContext(ctx, `DELETE FROM launcher_launches WHERE expires_at <= ?`, now.Unix())
	return errors.Join(err1, err2)
}

// postgresRecords is the PostgreSQL RecordStore.
type postgresRecords struct{ db *sql.DB }

func (r postgresRecords) Put(ctx context.Context, id, purpose, sealed string, expires time.Time) error {
	_, err := r.db.ExecContext(ctx, `INSERT INTO launcher_launches (id, purpose, sealed, expires_at) VALUES ($1, $2, $3, $4)`,
		id, purpose, sealed, expires.Unix())
	return err
}

func (r postgresRecords) Get(ctx context.Context, id string) (purpose, sealed string, err error) {
	err = r.db.QueryRowContext(ctx, `SELECT purpose, sealed FROM launcher_launches WHERE id = $1`, id).Scan(&purpose, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		err = errNoRecord
	}
	return
}

func (r postgresRecords) Consume(ctx context.Context, id string, expires time.Time) (bool, error) {
	res, err := r.db.ExecContext(ctx, `INSERT INTO launcher_consumed (id, expires_at) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`,
		id, expires.Unix())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (r postgresRecords) Consumed(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := r.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM launcher_consumed WHERE id = $1)`, id).Scan(&ok)
	return ok, err
}

func (r postgresRecords) Prune(ctx context.Context, now time.Time) error {
	_, err1 := r.db.ExecContext(ctx, `DELETE FROM launcher_consumed WHERE expires_at <= $1`, now.Unix())
	_, err2 := r.db.ExecContext(ctx, `DELETE FROM launcher_launches WHERE expires_at <= $1`, now.Unix())
	return errors.Join(err1, err2)
}
