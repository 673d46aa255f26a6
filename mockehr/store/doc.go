// Package store opens ehrsim's databases: the embedded one, SQLite
// (modernc.org/sqlite, pure Go) in WAL mode in the data directory, always;
// and, with --database-url, a shared PostgreSQL database that several
// ehrsim instances use at once (OpenPostgres).
//
// The package owns the connections, the migrations of every owner and the
// secrets table. It does not own any other table: each package that
// persists state declares its tables under its own owner name and keeps its
// own storage interface, with a SQLite and a PostgreSQL implementation and
// one contract test run against both, on top of *DB.
//
// # Migrations
//
// Migrate applies an owner's SQLite steps; the PostgreSQL steps of the same
// owner are registered once with RegisterPostgres (from a package-level
// var) and Migrate applies them too when PostgreSQL is configured. Steps are
// versioned by their position, recorded per owner in a migrations table in
// each database, and append-only. On PostgreSQL an owner's pending steps run
// in one transaction under an advisory lock, so instances starting at the
// same moment apply each step once and never see half a schema.
//
// # Which state lives where with PostgreSQL
//
// A domain whose owner registered PostgreSQL steps keeps its state in DB.PG
// and reads DB.Postgres() to choose its implementation; the others stay in
// the local SQLite file until they get one (see docs/deploying.md for the
// list). Secrets (the launch sealing key, the session cookie keys) follow
// the same rule through SecretStore.
//
// # Driver
//
// PostgreSQL is reached through github.com/jackc/pgx/v5's database/sql
// adapter (stdlib) rather than pgxpool: the storage code of both
// implementations is then plain database/sql (same Scan, same
// transactions, same pooling knobs), which keeps each PostgreSQL
// implementation a matter of its SQL text, and pgx's extended protocol
// still caches prepared statements per connection. The pool is bounded
// (32 connections per instance).
package store
