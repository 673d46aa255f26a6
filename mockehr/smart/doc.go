// Package smart holds the small contracts that the mock EHR's parts meet
// through: the grant a bearer token stands for (authorization server →
// FHIR server), the directory of people and encounters the FHIR data holds
// (FHIR store → launcher and authorization server), the set of public
// endpoint URLs (one source for OIDC discovery, SMART discovery and the
// CapabilityStatement, so the three never disagree), and the catalogue of
// simulated errors (SimulatedErrors: names as typed constants, the phase
// each fires in, where it applies, a label and an explanation; the
// launcher, the ui pages, the handlers and docs/simulated-errors.md all
// read it).
//
// It owns types and interfaces only: no HTTP, no storage, no logic beyond
// tiny helpers that must give one answer everywhere, such as FormatAge, the
// age every page shows for a birth date. Packages that implement or consume these contracts must not
// import each other; cmd/ehrsim wires them together.
package smart
