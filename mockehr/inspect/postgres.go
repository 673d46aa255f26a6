package inspect

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// postgresMigrations are the PostgreSQL counterpart of migrations (owner
// "inspect"). Append only.
//
// id orders the events of one instant in the order they were written, as
// rowid does in SQLite. data is TEXT, not JSONB: an event's JSON may hold
// \u0000 (a NUL an app sent in a parameter), which JSONB refuses.
var postgresMigrations = []string{
	`CREATE TABLE IF NOT EXISTS inspect_events (
		id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
		launch_id TEXT NOT NULL,
		client_id TEXT NOT NULL DEFAULT '',
		at BIGINT NOT NULL,
		data TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS inspect_events_launch ON inspect_events (launch_id, at, id)`,
	`CREATE INDEX IF NOT EXISTS inspect_events_client ON inspect_events (client_id, at)`,
}

var _ = store.RegisterPostgres("inspect", postgresMigrations)

// pgText is s as PostgreSQL's TEXT takes it: valid UTF-8 without NUL (a
// client id is what the app sent, and PostgreSQL would refuse the whole
// batch over one such byte). Lookups apply it too, so they match.
func pgText(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// NewStore migrates the inspector's tables and returns the Store events
// live in: PostgreSQL's when db has one (every instance sharing it reads the
// same timelines), else SQLite's.
func NewStore(ctx context.Context, db *store.DB) (Store, error) {
	if db.Postgres() {
		return NewPostgresStore(ctx, db)
	}
	return NewSQLiteStore(ctx, db)
}

// PostgresStore keeps events in the shared PostgreSQL database (table
// inspect_events, migration owner "inspect"), so instances sharing it read
// each other's timelines.
type PostgresStore struct{ db *sql.DB }

var _ Store = (*PostgresStore)(nil)

// NewPostgresStore migrates the tables (SQLite's too, as Migrate does for
// every owner) and returns the PostgreSQL store; db must have PostgreSQL.
func NewPostgresStore(ctx context.Context, db *store.DB) (*PostgresStore, error) {
	if !db.Postgres() {
		return nil, errors.New("inspect: no PostgreSQL database configured")
	}
	if err := db.Migrate(ctx, "inspect", migrations); err != nil {
		return nil, fmt.Errorf("inspect: migrate: %w", err)
	}
	return &PostgresStore{db: db.PG}, nil
}

// Append saves events in one transaction.
func (s *PostgresStore) Append(ctx context.Context, events []Event) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("inspect: save events: %w", err)
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO inspect_events (launch_id, client_id, at, data) VALUES ($1, $2, $3, $4)`)
	if err != nil {
		return fmt.Errorf("inspect: save events: %w", err)
	}
	defer stmt.Close()
	for _, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return fmt.Errorf("inspect: encode event: %w", err)
		}
		if _, err := stmt.ExecContext(ctx, pgText(e.LaunchID), pgText(e.ClientID), e.At.UnixNano(), string(data)); err != nil {
			return fmt.Errorf("inspect: save event: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("inspect: save events: %w", err)
	}
	return nil
}

// Events returns a launch's events, oldest first (events of one instant in
// the order they were written).
func (s *PostgresStore) Events(ctx context.Context, launchID string) ([]Event, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT data FROM inspect_events WHERE launch_id = $1 ORDER BY at, id`, pgText(launchID))
	if err != nil {
		return nil, fmt.Errorf("inspect: read events: %w", err)
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, fmt.Errorf("inspect: read events: %w", err)
		}
		var e Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return nil, fmt.Errorf("inspect: decode event: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inspect: read events: %w", err)
	}
	return out, nil
}

// ClientLaunches returns the ids of the client's most recent launches
// (by their latest event), newest first.
func (s *PostgresStore) ClientLaunches(ctx context.Context, clientID string, limit int) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT launch_id FROM inspect_events WHERE client_id = $1
		GROUP BY launch_id ORDER BY max(at) DESC LIMIT $2`, pgText(clientID), limit)
	if err != nil {
		return nil, fmt.Errorf("inspect: client launches: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("inspect: client launches: %w", err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inspect: client launches: %w", err)
	}
	return out, nil
}

// Recent lists the most recent launches (by their first event), newest
// first, counting their events and diagnostics in one more query.
func (s *PostgresStore) Recent(ctx context.Context, limit int) ([]LaunchSummary, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT launch_id, max(client_id), min(at) FROM inspect_events
		GROUP BY launch_id ORDER BY min(at) DESC LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("inspect: recent launches: %w", err)
	}
	var out []LaunchSummary
	ids := []string{}
	at := map[string]int{} // launch id → index in out
	for rows.Next() {
		var l LaunchSummary
		var started int64
		if err := rows.Scan(&l.LaunchID, &l.ClientID, &started); err != nil {
			rows.Close()
			return nil, fmt.Errorf("inspect: recent launches: %w", err)
		}
		l.Started = time.Unix(0, started).UTC()
		at[l.LaunchID] = len(out)
		ids = append(ids, l.LaunchID)
		out = append(out, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inspect: recent launches: %w", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	rows, err = s.db.QueryContext(ctx, `SELECT launch_id, data FROM inspect_events WHERE launch_id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("inspect: recent launches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, data string
		if err := rows.Scan(&id, &data); err != nil {
			return nil, fmt.Errorf("inspect: recent launches: %w", err)
		}
		var e Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return nil, fmt.Errorf("inspect: decode event: %w", err)
		}
		l := &out[at[id]]
		l.Events++
		errs, warns := Count([]Event{e})
		l.Errors += errs
		l.Warnings += warns
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("inspect: recent launches: %w", err)
	}
	return out, nil
}

// Prune keeps the events of the newest keep launches (by their latest
// event). Events another instance writes meanwhile are not in the
// statement's snapshot, so they are kept.
func (s *PostgresStore) Prune(ctx context.Context, keep int) error {
	_, err := s.db.ExecContext(ctx, `DELETE FROM inspect_events WHERE launch_id NOT IN (
		SELECT launch_id FROM inspect_events GROUP BY launch_id ORDER BY max(at) DESC LIMIT $1)`, keep)
	if err != nil {
		return fmt.Errorf("inspect: prune: %w", err)
	}
	return nil
}
