// Package loadgen drives full SMART EHR launches against a running ehrsim
// over plain HTTP, using only the public launch API contract
// (docs/architecture.md): mint a launch (POST /api/launches with skip_login
// and skip_consent), authorize with PKCE S256, exchange the code, and make
// the first FHIR read with the token. It backs the `ehrsim load` command and
// the full-launch benchmark (docs/architecture.md, performance targets).
//
// Every step's answer is checked (status, code in the redirect, patient in
// the token response), so a fast but broken server does not score.
package loadgen
