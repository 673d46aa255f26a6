package inspect

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// SQLiteStore keeps events in the instance's SQLite database (table
// inspect_events, migration owner "inspect"): shared by recorders of one
// data directory, not by instances on PostgreSQL (PostgresStore).
type SQLiteStore struct{ db *store.DB }

var _ Store = (*SQLiteStore)(nil)

var migrations = []string{
	`CREATE TABLE IF NOT EXISTS inspect_events (
		launch_id TEXT NOT NULL,
		client_id TEXT NOT NULL DEFAULT '',
		at INTEGER NOT NULL,
		data TEXT NOT NULL
	)`,
	`CREATE INDEX IF NOT EXISTS inspect_events_launch ON inspect_events (launch_id, at)`,
	`CREATE INDEX IF NOT EXISTS inspect_events_client ON inspect_events (client_id, at)`,
}

// NewSQLiteStore migrates the table (NewStore picks SQLite or PostgreSQL).
func NewSQLiteStore(ctx context.Context, db *store.DB) (*SQLiteStore, error) {
	if err := db.Migrate(ctx, "inspect", migrations); err != nil {
		return nil, err
	}
	return &SQLiteStore{db: db}, nil
}

// Append saves events in one transaction.
func (s *SQLiteStore) Append(ctx context.Context, events []Event) error {
	tx, err := s.db.SQL.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `INSERT INTO inspect_events (launch_id, client_id, at, data) VALUES (?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for _, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return err
		}
		if _, err := stmt.ExecContext(ctx, e.LaunchID, e.ClientID, e.At.UnixNano(), data); err != nil {
			return fmt.Errorf("inspect: save event: %w", err)
		}
	}
	return tx.Commit()
}

// Events returns a launch's events, oldest first.
func (s *SQLiteStore) Events(ctx context.Context, launchID string) ([]Event, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT data FROM inspect_events WHERE launch_id = ? ORDER BY at, rowid`, launchID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var data []byte
		var e Event
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(data, &e); err != nil {
			return nil, fmt.Errorf("inspect: decode event: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ClientLaunches returns the ids of the client's most recent launches (by
// their latest event), newest first.
func (s *SQLiteStore) ClientLaunches(ctx context.Context, clientID string, limit int) ([]string, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT launch_id FROM inspect_events WHERE client_id = ?
		GROUP BY launch_id ORDER BY max(at) DESC LIMIT ?`, clientID, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// Recent lists the most recent launches (by their first event), newest
// first.
func (s *SQLiteStore) Recent(ctx context.Context, limit int) ([]LaunchSummary, error) {
	rows, err := s.db.SQL.QueryContext(ctx, `SELECT launch_id, max(client_id), min(at) FROM inspect_events
		GROUP BY launch_id ORDER BY min(at) DESC LIMIT ?`, limit)
	if err != nil {
		return nil, err
	}
	var out []LaunchSummary
	for rows.Next() {
		var l LaunchSummary
		var at int64
		if err := rows.Scan(&l.LaunchID, &l.ClientID, &at); err != nil {
			rows.Close()
			return nil, err
		}
		l.Started = time.Unix(0, at).UTC()
		out = append(out, l)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		evs, err := s.Events(ctx, out[i].LaunchID)
		if err != nil {
			return nil, err
		}
		out[i].Events = len(evs)
		out[i].Errors, out[i].Warnings = Count(evs)
	}
	return out, nil
}

// Prune keeps the events of the newest keep launches (by their latest
// event).
func (s *SQLiteStore) Prune(ctx context.Context, keep int) error {
	_, err := s.db.SQL.ExecContext(ctx, `DELETE FROM inspect_events WHERE launch_id NOT IN (
		SELECT launch_id FROM inspect_events GROUP BY launch_id ORDER BY max(at) DESC LIMIT ?)`, keep)
	return err
}
