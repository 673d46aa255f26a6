// Package scopes is the SMART on FHIR scope engine: it parses scope strings
// (SMART App Launch 2.2.0 §scopes-and-launch-context, v1 and v2 syntax),
// decides which requested scopes a client may be granted, and answers the
// FHIR server's per-request question "may this token do interaction X on
// resource type T, and under which restrictions?".
//
// It owns the scope grammar and the decision rules only. It must not touch
// HTTP, storage, tokens or any other ehrsim package; the authorization
// server (grant and consent) and the FHIR server (enforcement) import it.
//
// Key design choices:
//   - One parsed value, Scope, for every kind of scope. Raw keeps the exact
//     requested string so v1 scopes are granted back unchanged (SCP-02),
//     while Perms holds the v2 letters the v1 form maps onto (RS-10).
//   - Parsing is strict (AZ-12 lets a server reject): out-of-order or
//     repeated letters, unknown words and lowercase resource types are
//     errors with a readable reason, never read loosely (SCP-03).
//   - Covers is the single "is this allowed" rule; Grant only applies it.
//     A restriction can narrow but never widen: granular allowed scopes only
//     cover requests carrying at least their parameters (SCP-06).
//   - Set precomputes one Decision per (resource type, interaction) when it
//     is built, so Decide is a map lookup with no allocation (it runs on
//     every FHIR request, the hot path of docs/architecture.md's
//     performance targets).
package scopes
