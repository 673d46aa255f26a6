package app

import (
	"context"
	"errors"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// openDB opens the configured database: SQLite in the data directory, and
// PostgreSQL too with --database-url. A database URL that is wrong or a
// server that cannot be reached is a configuration error (exit 2).
func openDB(ctx context.Context, cfg Config) (*store.DB, error) {
	db, err := store.OpenPostgres(ctx, cfg.DataDir, cfg.DatabaseURL)
	if errors.Is(err, store.ErrDatabaseURL) || errors.Is(err, store.ErrUnreachable) {
		return nil, &ConfigError{Problems: []string{"--database-url: " + err.Error()}}
	}
	return db, err
}
