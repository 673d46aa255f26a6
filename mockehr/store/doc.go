// Package store opens ehrsim's one embedded database: SQLite (modernc.org/sqlite,
// pure Go) in WAL mode, in the data directory. Everything that must survive a
// restart lives there: signing and sealing keys, session keys, registered
// clients, refresh tokens, used jtis and FHIR writes.
//
// The package owns the connection, schema migrations and the secrets table.
// It does not own any other table: each package that persists state declares
// its own tables with Migrate under its own name and keeps its own storage
// interface (with a contract test) on top of *DB. That keeps a later
// PostgreSQL implementation a per-package matter.
package store
