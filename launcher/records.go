package launcher

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// migrations are the launcher's tables (owner "launcher"). Append only.
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

// pruneEvery spaces out the deletion of expired rows.
const pruneEvery = time.Minute

func (s *Service) record(ctx context.Context, l *Launch, sealed string) error {
	purpose := purposeScenario
	if l.Type.IsEHR() {
		purpose = purposeLaunch
	}
	if _, err := s.db.SQL.ExecContext(ctx,
		`INSERT INTO launcher_launches (id, purpose, sealed, expires_at) VALUES (?, ?, ?, ?)`,
		l.ID, purpose, sealed, l.ExpiresAt.Unix()); err != nil {
		return err
	}
	s.maybePrune(ctx)
	return nil
}

// Lookup returns a launch by the id Mint returned. As a convenience (and so
// any instance sharing the key can answer), a launch code or a scenario id is
// accepted too. Errors: ErrUnknownLaunch, ErrExpiredLaunch (with the launch).
func (s *Service) Lookup(ctx context.Context, id string) (*Launch, error) {
	var purpose, sealed string
	err := s.db.SQL.QueryRowContext(ctx, `SELECT purpose, sealed FROM launcher_launches WHERE id = ?`, id).Scan(&purpose, &sealed)
	switch {
	case err == nil:
		return s.open(sealed, purpose)
	case !errors.Is(err, sql.ErrNoRows):
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
	res, err := s.db.SQL.ExecContext(ctx,
		`INSERT INTO launcher_consumed (id, expires_at) VALUES (?, ?) ON CONFLICT(id) DO NOTHING`,
		l.ID, l.ExpiresAt.Unix())
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	s.maybePrune(ctx)
	if n == 0 {
		return ErrLaunchUsed
	}
	return nil
}

// Used reports whether a launch_once launch has been consumed.
func (s *Service) Used(ctx context.Context, l *Launch) (bool, error) {
	if !l.LaunchOnce {
		return false, nil
	}
	var n int
	err := s.db.SQL.QueryRowContext(ctx, `SELECT count(*) FROM launcher_consumed WHERE id = ?`, l.ID).Scan(&n)
	return n > 0, err
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
	cut := now.Unix()
	s.db.SQL.ExecContext(ctx, `DELETE FROM launcher_consumed WHERE expires_at <= ?`, cut)
	s.db.SQL.ExecContext(ctx, `DELETE FROM launcher_launches WHERE expires_at <= ?`, cut)
}
