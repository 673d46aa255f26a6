// Package inspect is ehrsim's launch inspector: it records every protocol
// step of a launch as an Event, judges each step against the rules a strict
// EHR applies (Diagnostic, with a rule id, severity, message and the spec
// section it cites), and rolls a client's recent launches up into a
// conformance report (JSON or JUnit XML).
//
// It owns the event and rule model (events.go, rules.go), the Recorder
// (recorder.go) and the report (report.go). It must not touch HTTP of the
// authorization or FHIR servers: those call Recorder.Record with what they
// saw and decided; the pages (ui) and the JSON API (api.go) read it.
//
// # Attribution
//
// Every event carries the launch id and client id it belongs to when they
// are known: the launch API knows the launch it mints; the authorization
// server knows the launch of an authorize request (its launch parameter or
// the /sim scenario in aud) and keeps the launch id with the code and the
// token family, so token, refresh, introspection and revocation events are
// attributed; the FHIR server gets the launch id with the token's grant. A
// discovery request made before any token exists (smart-configuration,
// openid-configuration, metadata and JWKS on the plain /fhir base) names no
// launch: it is kept unattributed for a minute and claimed by the next
// authorize request from the same remote address and Origin, so it shows in
// that launch's timeline (discovery on a /sim base names its launch).
//
// # Storage and bounds
//
// Events are written behind to the Store (table inspect_events) by one
// background writer in batches, so recording costs the request path no
// database round trip and a restarted server reads the same timelines;
// timelines, the recent list and reports are read from there, after the
// reader's own pending events are written. NewStore picks the Store: with
// --database-url, PostgreSQL (postgres.go), shared by every instance on
// that database, so an inspector page served by one instance shows the
// events another recorded for the same launch once that instance's writer
// has saved them (within about 20 ms); else SQLite in the data directory
// (sqlite.go). One contract test runs against both
// (store_contract_test.go). Every instance prunes the shared table to its
// MaxLaunches newest launches, whoever recorded them.
//
// Memory keeps, for the last MaxLaunches launches (default 1,000; older
// launches are dropped whole), only what the request path consults: a
// launch's start, its event count and its authorize events (without a
// Store, memory keeps every event). A launch records its first 200 routine
// events (successful FHIR requests and introspections) and then a marker;
// later routine ones are skipped before they are built (SkipRoutine), while
// errors are always recorded; one launch records at most 2,000 events.
// Subscribers (server-sent events on the timeline page and the JSON API)
// get each new event of their launch as it is recorded.
//
// All of that memory is per instance, with PostgreSQL too: the caps and
// counts apply to what one instance records (a timeline read back is
// numbered afresh), SeenAuthorize and RecentLaunchOf see this instance's
// launches, unattributed discovery events are claimed only by an authorize
// request on the instance that saw them, and a live subscription delivers
// only the events recorded by the instance serving it: a reload (or the
// JSON API without text/event-stream) shows every instance's.
package inspect
