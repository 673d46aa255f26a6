// Package launcher owns the launch model (model.go), launch validation and
// defaults, sealing and opening launch codes and scenario ids, launch-URL
// building and the JSON launch API (POST /api/launches, GET
// /api/launches/{id}, GET /api/openapi.json). The contract is the "Launch
// API contract" section of docs/architecture.md.
//
// It must not touch: HTTP of the authorization server or FHIR server, the
// client registry (it only asks ClientLookup whether an id is registered),
// other packages' tables. The authorization server calls Open /
// OpenScenario / Consume / FHIRBase; the UI calls Mint and Open.
//
// # Sealing
//
// A launch code (EHR launches: the "launch" parameter) and a scenario id
// (standalone and backend launches: the {scenario} of /sim/{scenario}/fhir)
// are the whole Launch, sealed:
//
//	base64url-nopad( 0x01 || nonce[12] || AES-256-GCM( deflate(json(Launch)), aad ) )
//	aad = 0x01 || "ehrsim:launch"  or  0x01 || "ehrsim:scenario"
//
// The key is derived (HMAC-SHA256) from the store secret "launch-seal-v1",
// so a code stays valid after a restart on the same data dir and on every
// instance sharing the key. GCM makes codes unforgeable and unreadable: a
// client secret inside is never readable from any URL. The AAD binds the
// purpose, so a launch code never opens as a scenario or the reverse. The
// version byte lets a later format coexist. Expiry (ExpiresAt, default 24 h)
// is inside the sealed payload, checked by Open: ErrUnknownLaunch for
// anything that does not open, ErrExpiredLaunch for an authentic but
// expired launch (distinct, so EHR-09 error descriptions can say which).
//
// The nonce is synthetic: HMAC-SHA256(derived key, aad || compressed
// plaintext) truncated to 12 bytes. Sealing is therefore deterministic, and
// FHIRBase(l) re-derives exactly the /sim/{scenario}/fhir base the app was
// given, on any instance, without storage. Each launch has a fresh random
// 128-bit id, so distinct launches never share a nonce.
//
// # State
//
// Two small tables (Migrate owner "launcher"), both pruned after expiry:
// launcher_launches maps each minted id to its sealed string (never the
// plaintext), so GET /api/launches/{id} works with the short id; GET also
// accepts a launch code or scenario id, which any instance can open.
// launcher_consumed holds the ids of used launch_once launches: Consume is
// an INSERT … ON CONFLICT DO NOTHING, so the first caller wins across
// instances sharing the database. Open never consumes.
//
// # Validation and defaults
//
// Mint returns *FieldError for client mistakes; Field is the contract's JSON
// key, dotted for nested keys (client.redirect_uris, fhir_context.role; the
// item index is in the message). The HTTP layer also refuses unknown or
// mis-cased members (with their path), non-JSON content types (415) and
// bodies over 64 KiB (413).
//
//   - launch_type required and known.
//   - patient: ids must exist; patient-portal needs exactly one.
//   - encounter: "" or AUTO → the single patient's most recent in-progress
//     encounter (none is not an error); NONE → none; an id must exist and
//     belong to the single patient.
//   - practitioner: provider launches only; default the Directory's first.
//   - fhir_context: SMART 2.2 objects (checklist TOK-11), references exist.
//   - EHR launches default app_launch_url {base}/sample-app/launch.html,
//     smart_style_url {base}/smart-style/v1.json, need_patient_banner true,
//     client_id "sample-app" (the registered demo client).
//   - client: see the comment on Service.client for registered, ad-hoc and
//     empty client ids. Ad-hoc clients default to public (backend:
//     confidential-asymmetric) with pkce required.
//   - backend-service launches refuse user-facing fields and the simulated
//     errors the catalogue (smart.SimulatedErrors) does not mark Backend:
//     auth_* and token_expired_refresh_token (SimulatedErrorApplies).
//
// # For the authorization server (checklist EHR-09)
//
// Open returns ErrUnknownLaunch (forged, damaged, other key, wrong purpose)
// or ErrExpiredLaunch (authentic; the launch is returned too, for logs).
// Consume returns ErrLaunchUsed for a used launch_once launch. An EHR
// launch always names its client (Client.ClientID, default sample-app): a
// launch presented by another client_id is "minted for another client" and
// must not yield a code carrying its context. A standalone launch with an
// empty client id accepts any client.
//
// # Result URLs
//
// EHR launches: iss = fhir_base_url = {base}/fhir exactly (EHR-02), launch =
// the code, launch_url = app_launch_url with iss and launch appended (other
// query parameters kept as they were; EHR-01), sim_ehr_url =
// {base}/ehr?launch={code}. Standalone and backend launches: launch and
// sim_ehr_url are empty, iss = fhir_base_url = {base}/sim/{scenario}/fhir,
// launch_url = app_launch_url?iss=… when an app_launch_url was given (the
// standalone convention of SMART launchers), else empty.
package launcher
