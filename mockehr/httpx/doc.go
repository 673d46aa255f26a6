// Package httpx holds HTTP behaviour the mock EHR's servers must share so
// that it is decided once: today the CORS policy (SMART App Launch 2.2
// §CORS), which the authorization server (discovery, token, revocation,
// introspection, zitadel's routes) and the FHIR server (every answer under
// a FHIR base, the SMART style document) both apply.
//
// The policy: any origin, echoed in Access-Control-Allow-Origin with Vary:
// Origin, never credentials (tokens, not cookies, carry authority, so
// answering any origin is safe); a preflight (OPTIONS with
// Access-Control-Request-Method) is answered 204 with the route's methods,
// the request headers SMART and FHIR clients send plus any others the
// preflight asks for, in any order or case, and Access-Control-Max-Age 600;
// every other answer to a request with an Origin exposes Location, ETag,
// Content-Location, Last-Modified, WWW-Authenticate and Retry-After.
//
// It is written here rather than configured in github.com/rs/cors (in the
// module graph through zitadel): rs/cors v1.11.1 refuses a preflight whose
// Access-Control-Request-Headers is not sorted and lower-case unless every
// header is allowed, answers a preflight with only the method and headers
// it asked for, and adds no CORS headers to answers to methods outside its
// list (the FHIR server answers any method with an OperationOutcome).
package httpx
