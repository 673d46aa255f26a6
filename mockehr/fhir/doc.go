// Package fhir is the mock EHR's FHIR R4 REST server: read, vread,
// history, search (GET and POST _search), create, update, patch, delete,
// Patient/$everything and the CapabilityStatement, on the plain base
// /fhir and on every scenario base /sim/{scenario}/fhir. Every request but
// metadata and the SMART style JSON is authorised from the bearer token's
// smart.Grant with the mockehr/scopes decision engine (SMART App Launch
// 2.2 scopes; checklist §14b RS-01…RS-17).
//
// It owns HTTP, OperationOutcome errors, CORS (the shared policy of
// mockehr/httpx, put in front of every route by Mount), paging links and
// scope enforcement. It does not own data (mockehr/fhirstore), tokens
// (mockehr/authz resolves them through smart.GrantResolver) or the
// .well-known/smart-configuration document, which authz serves on the same
// bases: every route here is registered with an explicit method so that a
// method-qualified /fhir/.well-known/… pattern is more specific and wins.
// Method-less base and base/ patterns catch everything else under a base,
// so every answer there is an OperationOutcome: 404 for unknown paths and
// types, 405 with Allow for a known path's other methods, 501 for
// batch/transaction, whole-system search and conditional
// update/patch/delete; none of these needs a token.
//
// Design choices:
//   - Reads serve the stored JSON bytes as they are (no re-marshalling) and
//     precomputed ETag/Last-Modified; scope Sets are cached per scope
//     list, so a read costs a map lookup, a grant lookup and a write.
//   - Access rules are applied as query restrictions (compartment, granular
//     filters) by the same matcher that runs searches, so reads, searches,
//     _include/_revinclude, history and $everything cannot disagree.
//   - A resource outside the patient compartment is reported as 404, never
//     403, so its existence does not leak (RS-04).
//   - PATCH is RFC 6902 JSON Patch applied by
//     github.com/evanphx/json-patch/v5 on the stored JSON text, so members
//     a patch does not touch keep their exact bytes; the "test" operation
//     and the checks that keep RFC 6901/6902's statuses are ours
//     (jsonpatch.go).
package fhir
