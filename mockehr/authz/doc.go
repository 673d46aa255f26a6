// Package authz is ehrsim's SMART App Launch 2.2 authorization server (also
// SMART 1.0 scope syntax), built on github.com/zitadel/oidc/v3 pkg/op.
//
// It owns: the OpenID Provider under BaseURL+"/auth" (authorize, token,
// introspection, revocation, userinfo, end_session, JWKS, OIDC discovery),
// the SMART discovery documents under every FHIR base of the server
// (/fhir and /sim/{scenario}/fhir), authorization requests and every
// decision of the login, picker and consent flow (the pages themselves are
// ui/authui, which calls PendingPage / AnswerPage / Manage*; the contract
// types are in mockehr/smart), the browser sessions and CSRF tokens, the
// RS256 signing keys, and the access and refresh tokens. It implements
// smart.GrantResolver for the FHIR server. It must not touch the FHIR data
// (it reads people and encounters through smart.Directory), client records
// (mockehr/clients) or launches (launcher): it consumes them through the
// small interfaces in deps.go. It never imports ui.
//
// Key design choices (docs/zitadel.md says why each zitadel default is
// replaced):
//
//   - zitadel is used through the op.Server interface: smartServer embeds
//     *op.LegacyServer and overrides Authorize, VerifyAuthRequest, UserInfo
//     and Discovery. zitadel still does authorize request decoding,
//     redirect_uri checks, error redirects, the authorize callback and
//     id_token signing (op.CreateIDToken).
//   - The token and revocation endpoints are ours (tokenendpoint.go): every
//     grant needs SMART rules zitadel lacks, and owning the HTTP layer gives
//     one OAuth error value (oautherr.go) written in one place
//     (writeOAuthError). A request's client is authenticated against the
//     rules of the grant it presents (a code's or refresh token's client, a
//     scenario's backend client), else against the client its id names.
//   - Clients (clientresolve.go, docs/launch-defined-clients.md): registered
//     (a launch may narrow them), launch-defined (a launch's client section
//     names an unregistered id; clients.Registry keeps every live definition
//     from mint until the launch and the tokens issued to it expire), or, in
//     sandbox mode, any other id as a public client, which is recorded as
//     launch-defined once it completes an authorization. So a launch-defined
//     client is known at every endpoint and survives a restart. Strict mode
//     (--strict-clients) keeps only registered clients.
//   - Client and redirect_uri problems are found before zitadel sees the
//     request (authorize.go), so they render a readable HTML page and never
//     redirect to an unvalidated URI (RFC 6749 §4.1.2.1); so does a launch
//     problem when no registration or launch vouches for the redirect_uri
//     (RFC 9700 §4.11).
//   - Authorization requests live in a requestStore (requests.go): memory,
//     bounded, by default; PostgreSQL with --database-url, so every page and
//     the code exchange of one flow may land on a different instance. Every
//     change to one is a check-and-set (pages work on snapshots and commit
//     them on the version they read; a code is taken by one conditional
//     UPDATE), so one request yields at most one code and a code is
//     redeemed once across instances.
//   - Access and refresh tokens are opaque 256-bit random handles
//     (base64url, 43 chars), not JWTs. The in-memory index is a sharded map
//     keyed by SHA-256 of the handle, so the FHIR hot path (ResolveGrant) is
//     one hash and one map lookup. Rows in the database (tokenrows.go:
//     authz_families, authz_tokens; hashes only, never the handle; SQLite,
//     or PostgreSQL shared by several instances) make tokens survive a
//     restart and be known to every instance: a token not in memory is read once by its hash on first use
//     (start-up does not grow with tokens issued), and revocations of
//     families not loaded yet are written to disk. The index is a bounded
//     cache (8,192 tokens; families held weakly), so memory does not grow
//     with tokens issued; revocation writes the database first and then
//     marks what memory holds, and a load that raced a revocation checks
//     again (tokens.go), so eviction never revives a revoked token. With a
//     shared database a cached token is confirmed again on use when its
//     last check is older than half a second, so a revocation on one
//     instance holds on all within a second.
//     Rotating a refresh token is one conditional UPDATE: of concurrent
//     refreshes with one token, one wins.
//   - Authorization codes are 256-bit random handles too, single use; a
//     replayed code revokes everything issued from it (RFC 6749 §4.1.2).
//     The code's hash is saved with the family it produced (a row of kind
//     "code" in authz_tokens), so a replay is recognised for the family's
//     lifetime, after a restart and on another instance sharing the
//     database; memory only holds a code until its family is saved.
//   - Every token family (one authorization) carries its launch context and
//     its client rules, so token, refresh and introspection responses repeat
//     the same context and refreshes are checked against the rules the
//     tokens were issued under.
//   - CORS is ours on every route (cors in httpx.go): the one policy of
//     mockehr/httpx, which the FHIR server applies too.
//   - Backend services: a scenario's discovery advertises its own token
//     endpoint (/sim/{scenario}/auth/token), so a standard client that only
//     knows its FHIR base gets a token for its launch; client_credentials may
//     also name a /sim/{scenario}/fhir base in "resource" (RFC 8707) or
//     "aud". The scenario supplies the client rules, simulated error and
//     the token's audience.
//   - PKCE is S256-only, required at authorize unless the client or launch
//     says optional, and any challenge sent is always verified at token.
package authz
