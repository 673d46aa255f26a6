package authz

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ehrsim/ehrsim/mockehr/store"
)

// tokenRows persists token families, tokens (by the SHA-256 of their
// handle, never the handle), redeemed codes (kind "code", codeHash) and
// revocations. tokenStore keeps its in-memory index on top of it. Its
// SQLite and PostgreSQL implementations are one type over two dialects
// (the statements differ only in placeholders and a few functions) and
// pass one contract test (tokens_contract_test.go).
//
// Every change is one transaction or one statement, so instances sharing
// a PostgreSQL database agree: a rotated refresh token is retired once
// (save's check-and-set), a revocation is seen by every later read.
type tokenRows interface {
	// save writes op in one transaction. With op.rotated set it first
	// retires that refresh token (a conditional UPDATE) and answers
	// errRefreshUsed, writing nothing, when another save retired it.
	save(ctx context.Context, op saveOp) error
	// load reads a live token (not a code's row; neither it nor its
	// family revoked) with its family's JSON; sql.ErrNoRows when none.
	load(ctx context.Context, hash []byte) (tokenRow, []byte, error)
	// live reports whether the token and its family are unrevoked.
	live(ctx context.Context, hash []byte) (bool, error)
	// codeFamily reads the family a redeemed code's hash was saved with.
	codeFamily(ctx context.Context, hash []byte) (famID string, data []byte, err error)
	revokeFamily(ctx context.Context, id string) error
	revokeToken(ctx context.Context, hash []byte) error
	// revokeSession revokes the unrevoked online_access families of a
	// login session.
	revokeSession(ctx context.Context, sessionID string) error
	// grants lists the unrevoked families of user (a relative FHIR
	// reference) unexpired at now, latest expiry first.
	grants(ctx context.Context, user string, now time.Time) ([]famRow, error)
	// sweep deletes what expired at or before now.
	sweep(ctx context.Context, now time.Time) error
}

// saveOp is one save: a new family (with the hash of the code it was
// issued for), a rotation, new tokens.
type saveOp struct {
	family   *famRow // new family, or nil
	codeHash []byte  // with family: the redeemed code's hash, or nil
	codeAt   int64   // unix ms
	famID    string  // the family the tokens belong to
	rotated  []byte  // hash of the refresh token being rotated, or nil
	extendTo int64   // with rotated: the family's new expiry (unix s) unless later already
	tokens   []tokenRow
}

type famRow struct {
	id        string
	data      []byte
	expiresAt int64 // unix seconds
}

type tokenRow struct {
	hash      []byte
	famID     string
	kind      string
	id        string
	scope     []byte // JSON array
	issuedAt  int64  // unix ms
	expiresAt int64  // unix ms
}

// tokenRowsFor chooses the implementation: PostgreSQL's when the database
// has one (tokens are then shared by every instance), else SQLite's.
func tokenRowsFor(db *store.DB) tokenRows {
	if db.Postgres() {
		return &pgTokenRows{sqlTokenRows{db: db.PG, q: pgTokenSQL}}
	}
	return &sqlTokenRows{db: db.SQL, q: sqliteTokenSQL}
}

// tokenSQL are one dialect's statements, written with ? placeholders
// (postgres renumbers them).
type tokenSQL struct {
	insertFamily, insertToken, rotate, extend string
	load, live, codeFamily                    string
	revokeFamily, revokeToken, revokeSession  string
	grants, sweepTokens, sweepFamilies        string
}

var sqliteTokenSQL = tokenSQL{
	insertFamily: `INSERT INTO authz_families (id, data, expires_at) VALUES (?, ?, ?)`,
	insertToken:  `INSERT INTO authz_tokens (hash, family, kind, token_id, scope, issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
	rotate:       `UPDATE authz_tokens SET revoked = 1 WHERE hash = ? AND revoked = 0`,
	extend:       `UPDATE authz_families SET expires_at = max(expires_at, ?) WHERE id = ?`,
	load: `SELECT t.kind, t.token_id, t.scope, t.issued_at, t.expires_at, f.id, f.data
		FROM authz_tokens t JOIN authz_families f ON f.id = t.family
		WHERE t.hash = ? AND t.kind != 'code' AND t.revoked = 0 AND f.revoked = 0`,
	live: `SELECT count(*) FROM authz_tokens t JOIN authz_families f ON f.id = t.family
		WHERE t.hash = ? AND t.revoked = 0 AND f.revoked = 0`,
	codeFamily: `SELECT f.id, f.data FROM authz_tokens t JOIN authz_families f ON f.id = t.family
		WHERE t.hash = ? AND t.kind = 'code'`,
	revokeFamily: `UPDATE authz_families SET revoked = 1 WHERE id = ?`,
	revokeToken:  `UPDATE authz_tokens SET revoked = 1 WHERE hash = ?`,
	revokeSession: `UPDATE authz_families SET revoked = 1
		WHERE revoked = 0 AND json_extract(CAST(data AS TEXT), '$.session_id') = ? AND json_extract(CAST(data AS TEXT), '$.online') = 1`,
	grants: `SELECT id, data, expires_at FROM authz_families
		WHERE revoked = 0 AND expires_at > ? AND json_extract(CAST(data AS TEXT), '$.fhir_user') = ?
		ORDER BY expires_at DESC`,
	sweepTokens:   `DELETE FROM authz_tokens WHERE expires_at <= ?`,
	sweepFamilies: `DELETE FROM authz_families WHERE expires_at <= ?`,
}

// pgTokenSQL: data is BYTEA holding JSON (the same bytes as SQLite's
// BLOB); the session and user filters read it as jsonb.
var pgTokenSQL = tokenSQL{
	insertFamily: sqliteTokenSQL.insertFamily,
	insertToken:  sqliteTokenSQL.insertToken,
	rotate:       `UPDATE authz_tokens SET revoked = true WHERE hash = ? AND NOT revoked`,
	extend:       `UPDATE authz_families SET expires_at = greatest(expires_at, ?) WHERE id = ?`,
	load: `SELECT t.kind, t.token_id, t.scope, t.issued_at, t.expires_at, f.id, f.data
		FROM authz_tokens t JOIN authz_families f ON f.id = t.family
		WHERE t.hash = ? AND t.kind != 'code' AND NOT t.revoked AND NOT f.revoked`,
	live: `SELECT count(*) FROM authz_tokens t JOIN authz_families f ON f.id = t.family
		WHERE t.hash = ? AND NOT t.revoked AND NOT f.revoked`,
	codeFamily:   sqliteTokenSQL.codeFamily,
	revokeFamily: `UPDATE authz_families SET revoked = true WHERE id = ?`,
	revokeToken:  `UPDATE authz_tokens SET revoked = true WHERE hash = ?`,
	revokeSession: `UPDATE authz_families SET revoked = true
		WHERE NOT revoked AND convert_from(data, 'UTF8')::jsonb ->> 'session_id' = ? AND (convert_from(data, 'UTF8')::jsonb -> 'online') = 'true'::jsonb`,
	grants: `SELECT id, data, expires_at FROM authz_families
		WHERE NOT revoked AND expires_at > ? AND convert_from(data, 'UTF8')::jsonb ->> 'fhir_user' = ?
		ORDER BY expires_at DESC`,
	sweepTokens:   sqliteTokenSQL.sweepTokens,
	sweepFamilies: sqliteTokenSQL.sweepFamilies,
}

func init() {
	for _, p := range []*string{&pgTokenSQL.insertFamily, &pgTokenSQL.insertToken, &pgTokenSQL.rotate, &pgTokenSQL.extend,
		&pgTokenSQL.load, &pgTokenSQL.live, &pgTokenSQL.codeFamily, &pgTokenSQL.revokeFamily, &pgTokenSQL.revokeToken,
		&pgTokenSQL.revokeSession, &pgTokenSQL.grants, &pgTokenSQL.sweepTokens, &pgTokenSQL.sweepFamilies} {
		*p = dollarPlaceholders(*p)
	}
}

// dollarPlaceholders rewrites ? placeholders as PostgreSQL's $1, $2, ….
// The statements it is used on have no ? inside literals.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

type sqlTokenRows struct {
	db *sql.DB
	q  tokenSQL
}

func (s *sqlTokenRows) save(ctx context.Context, op saveOp) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if op.rotated != nil {
		// First, so a lost race writes nothing (REF-06).
		res, err := tx.ExecContext(ctx, s.q.rotate, op.rotated)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n != 1 {
			return errRefreshUsed
		}
		if _, err := tx.ExecContext(ctx, s.q.extend, op.extendTo, op.famID); err != nil {
			return err
		}
	}
	if f := op.family; f != nil {
		if _, err := tx.ExecContext(ctx, s.q.insertFamily, f.id, f.data, f.expiresAt); err != nil {
			return fmt.Errorf("authz: save family: %w", err)
		}
		if op.codeHash != nil {
			if _, err := tx.ExecContext(ctx, s.q.insertToken, op.codeHash, f.id, kindCode, "", []byte("[]"), op.codeAt, f.expiresAt*1000); err != nil {
				return fmt.Errorf("authz: save the code's family: %w", err)
			}
		}
	}
	for _, t := range op.tokens {
		if _, err := tx.ExecContext(ctx, s.q.insertToken, t.hash, op.famID, t.kind, t.id, t.scope, t.issuedAt, t.expiresAt); err != nil {
			return fmt.Errorf("authz: save token: %w", err)
		}
	}
	return tx.Commit()
}

func (s *sqlTokenRows) load(ctx context.Context, hash []byte) (tokenRow, []byte, error) {
	t := tokenRow{hash: hash}
	var data []byte
	err := s.db.QueryRowContext(ctx, s.q.load, hash).Scan(&t.kind, &t.id, &t.scope, &t.issuedAt, &t.expiresAt, &t.famID, &data)
	return t, data, err
}

func (s *sqlTokenRows) live(ctx context.Context, hash []byte) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, s.q.live, hash).Scan(&n)
	return n > 0, err
}

func (s *sqlTokenRows) codeFamily(ctx context.Context, hash []byte) (string, []byte, error) {
	var id string
	var data []byte
	err := s.db.QueryRowContext(ctx, s.q.codeFamily, hash).Scan(&id, &data)
	return id, data, err
}

func (s *sqlTokenRows) revokeFamily(ctx context.Context, id string) error {
	_, err := s.db.ExecContext(ctx, s.q.revokeFamily, id)
	return err
}

func (s *sqlTokenRows) revokeToken(ctx context.Context, hash []byte) error {
	_, err := s.db.ExecContext(ctx, s.q.revokeToken, hash)
	return err
}

func (s *sqlTokenRows) revokeSession(ctx context.Context, sessionID string) error {
	_, err := s.db.ExecContext(ctx, s.q.revokeSession, sessionID)
	return err
}

func (s *sqlTokenRows) grants(ctx context.Context, user string, now time.Time) ([]famRow, error) {
	rows, err := s.db.QueryContext(ctx, s.q.grants, now.Unix(), user)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []famRow
	for rows.Next() {
		var f famRow
		if err := rows.Scan(&f.id, &f.data, &f.expiresAt); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

func (s *sqlTokenRows) sweep(ctx context.Context, now time.Time) error {
	_, err1 := s.db.ExecContext(ctx, s.q.sweepTokens, now.UnixMilli())
	_, err2 := s.db.ExecContext(ctx, s.q.sweepFamilies, now.Unix())
	return errors.Join(err1, err2)
}

// pgTokenRows is the PostgreSQL dialect, whose save is one statement: a
// transaction of five statements cost five round trips, the largest part
// of a code exchange on PostgreSQL. Data-modifying WITH clauses run as one
// atomic statement; under a concurrent rotation the UPDATE waits for the
// other's row lock and re-checks NOT revoked, so one rotation wins (REF-06).
type pgTokenRows struct{ sqlTokenRows }

func (s *pgTokenRows) save(ctx context.Context, op saveOp) error {
	if len(op.tokens) == 0 {
		return s.sqlTokenRows.save(ctx, op) // nothing to insert: no VALUES list
	}
	var b strings.Builder
	var args []any
	arg := func(v any, cast string) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args)) + "::" + cast
	}
	b.WriteString("WITH ")
	guard := ""
	if op.rotated != nil {
		fmt.Fprintf(&b, "r AS (UPDATE authz_tokens SET revoked = true WHERE hash = %s AND NOT revoked RETURNING 1), ", arg(op.rotated, "bytea"))
		fmt.Fprintf(&b, "e AS (UPDATE authz_families SET expires_at = greatest(expires_at, %s) WHERE id = %s AND EXISTS (SELECT 1 FROM r)), ",
			arg(op.extendTo, "bigint"), arg(op.famID, "text"))
		guard = " WHERE EXISTS (SELECT 1 FROM r)"
	}
	rows := op.tokens
	if f := op.family; f != nil {
		fmt.Fprintf(&b, "f AS (INSERT INTO authz_families (id, data, expires_at) VALUES (%s, %s, %s)), ",
			arg(f.id, "text"), arg(f.data, "bytea"), arg(f.expiresAt, "bigint"))
		if op.codeHash != nil {
			rows = append([]tokenRow{{hash: op.codeHash, kind: kindCode, scope: []byte("[]"), issuedAt: op.codeAt, expiresAt: f.expiresAt * 1000}}, rows...)
		}
	}
	b.WriteString("v (hash, family, kind, token_id, scope, issued_at, expires_at) AS (VALUES ")
	for i, t := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "(%s, %s, %s, %s, %s, %s, %s)", arg(t.hash, "bytea"), arg(op.famID, "text"), arg(t.kind, "text"),
			arg(t.id, "text"), arg(t.scope, "bytea"), arg(t.issuedAt, "bigint"), arg(t.expiresAt, "bigint"))
	}
	b.WriteString(") INSERT INTO authz_tokens (hash, family, kind, token_id, scope, issued_at, expires_at) SELECT * FROM v" + guard)
	res, err := s.db.ExecContext(ctx, b.String(), args...)
	if err != nil {
		if op.family != nil {
			return fmt.Errorf("authz: save family: %w", err)
		}
		return fmt.Errorf("authz: save token: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if op.rotated != nil && n == 0 {
		return errRefreshUsed
	}
	if int(n) != len(rows) {
		return fmt.Errorf("authz: saved %d of %d tokens", n, len(rows))
	}
	return nil
}
