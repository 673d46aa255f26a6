// Package clients owns ehrsim's OAuth client registry and client
// authentication by assertion:
//
//   - the Client model and its validation (also used for ad-hoc launch clients);
//   - Registry: clients persisted in the shared database (tables clients
//     and client_jtis, migrated under the owner name "clients";
//     launch_clients under "launch_clients"), with the demo clients seeded
//     on start when absent. All of it goes through ClientStore (storage.go),
//     which has a SQLite and a PostgreSQL implementation and one contract
//     test run on both; every change is a single statement (insert-if-absent,
//     conditional update, upsert with a WHERE), so instances sharing a
//     PostgreSQL database agree without locks: a jti used on one is refused
//     on the other, demo clients seeded by two instances starting together
//     are inserted once;
//   - API: the JSON management API /api/clients and RFC 7591 dynamic
//     registration at /auth/register;
//   - AssertionVerifier: private_key_jwt client assertions (RFC 7523, SMART
//     client-confidential-asymmetric and backend services), our own verifier
//     on go-jose v4, with JWKS URL fetching and a jti replay store.
//
// It must not touch tokens, sessions, the zitadel storage or any other
// package's tables. The authorization server (mockehr/authz) calls Get,
// CheckSecret and AssertionVerifier.Verify and maps *AuthError to OAuth JSON.
//
// # HTTP
//
// API.Mount registers GET/POST /api/clients, GET/PUT/DELETE /api/clients/{id}
// and POST /auth/register (RFC 7591). /api/clients errors are apierr's one
// /api/* shape {"error","field","error_description"}: 400 invalid_request
// naming the member by its JSON name, 404 not_found, 409 conflict on a
// taken id, 413 request_too_large, 415 unsupported_media_type. RFC 7591
// errors have the same members with the codes invalid_redirect_uri /
// invalid_client_metadata (§3.2.2), and their error_description starts with
// the field's name, since generic OAuth clients show only that member.
//
// # Why our own assertion verifier
//
// zitadel/oidc's private_key_jwt check cannot serve SMART (see
// docs/zitadel.md, private_key_jwt): it requires aud to contain the issuer
// (SMART sends the token URL), accepts only RS256/ES256/PS256 (SMART needs
// RS384 and ES384), requires iat (SMART does not send it) and never checks
// jti for replay. AssertionVerifier checks exactly the SMART rules
// (checklist BES-06…BES-15, TOK-20): type jwt-bearer, alg RS256/RS384/
// ES256/ES384, iss = sub = client (registered, or the launch's ad-hoc client),
// client_id parameter (if any) = iss, aud ∋ token URL, exp present, not past
// (30 s leeway) and at most 5 minutes ahead, jti fresh, kid present in the
// JWS header (SMART Backend Services requires it; an assertion without one is
// invalid_client), key chosen by that kid with kty/curve matching alg, jku
// equal to the registered JWKS URL. Claims are checked before the signature;
// the jti is recorded only after it, so a forger cannot burn a client's jtis.
// Used jtis live in table client_jtis (pruned) behind an in-memory map, so
// replays are refused after a restart.
//
// # JWKS fetching
//
// JWKS URLs are fetched with GET + Accept: application/json, 5 s timeout,
// 64 KiB limit, cached only as long as Cache-Control max-age allows (at most
// an hour), refetched once when a cached set lacks the kid.
//
// Anyone who can reach the sandbox can register a JWKS URL (/api/clients,
// /auth/register, a launch-defined client), so a fetch is a server-side
// request on their behalf and is fenced (SSRF). AssertionVerifier.JWKSPolicy
// decides: link-local (169.254.0.0/16, fe80::/10), the cloud metadata
// addresses (169.254.169.254, fd00:ec2::254, 100.100.100.200), unspecified,
// multicast and broadcast/reserved addresses are always refused; loopback
// (127.0.0.0/8, ::1) and private ranges (10/8, 172.16/12, 192.168/16,
// 100.64/10 CGNAT, fc00::/7) only when the policy allows them.
// JWKSPolicyForListen allows both exactly when ehrsim itself listens on
// loopback (a developer's machine, where a JWKS on localhost is normal); a
// nil policy allows both too. IPv4-mapped and NAT64 addresses are judged by
// the IPv4 address inside. The check is made on the addresses actually
// dialled: the host is resolved once, every address is checked before any
// connection attempt and the checked addresses themselves are dialled (no
// second resolution, so DNS rebinding cannot slip past), and the dialer's
// Control hook checks each socket's address again before connect. Redirects
// (at most 3, http and https only) go through the same dialer, and no proxy
// is used. A refused fetch is invalid_client naming the rule, e.g. "jwks_url
// https://x/jwks resolves to 169.254.169.254, a link-local/metadata address;
// ehrsim never fetches those".
//
// # Secrets
//
// Client secrets are stored as HMAC-SHA256(per-client random salt, secret)
// and compared in constant time. A slow password KDF (bcrypt, argon2) would
// cost tens of milliseconds per token request and wreck token throughput;
// client secrets are generated high-entropy values (or deliberate demo
// values), not human passwords, so a keyed fast hash is the right tool. No
// API returns a secret except the create response that generated it.
//
// # Base URL templates
//
// A client URL (redirect URI, launch URL, JWKS URL) that starts with the
// server's own BaseURL is stored as "{base}/…" and expanded with the current
// BaseURL on every read. The only apps on ehrsim's own origin are its own
// (the sample app), so this makes them, and the demo clients, work on
// whatever port or --base-url the server runs with, including tests on
// random ports. Other URLs are stored verbatim.
//
// # Demo clients (seeded when absent; a deleted one returns on restart)
//
//	id                 type                      secret / keys                      purpose
//	sample-app         public                    -                                  built-in sample app; redirect {base}/sample-app/index.html,
//	                                                                                launch URL {base}/sample-app/launch.html
//	demo-public        public                    -                                  try a public client (PKCE); redirects {base}/sample-app/index.html
//	                                                                                and http://localhost:9000/callback
//	demo-confidential  confidential-symmetric    secret "demo-secret"               client_secret_basic / _post; same redirects
//	demo-asymmetric    confidential-asymmetric   inline JWKS of the demo keys       private_key_jwt on the code grant; same redirects
//	demo-backend       backend-service           inline JWKS of the demo keys       client_credentials + private_key_jwt (RS384, ES384);
//	                                                                                allowed scope "system/*.rs system/*.read"
//
// The demo keys (demokeys/demo-private-jwks.json, kids ehrsim-demo-rs384 and
// ehrsim-demo-es384) are PUBLIC DEMO KEYS, private parts included, published
// on purpose: never use them for anything real. DemoPrivateJWKS returns them.
package clients
