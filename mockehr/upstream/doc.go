// Package upstream is ehrsim's "bring your own FHIR server" mode
// (--fhir-upstream): the launcher, the authorization server and the FHIR
// API's scope enforcement stay ehrsim's, while the data comes from another
// FHIR R4 server, such as a HAPI instance an app developer already has.
//
// Proxy is two things over one upstream:
//
//   - a fhir.Upstream. mockehr/fhir keeps routing, the token check, the
//     simulated request errors and content negotiation, and hands the
//     authorised request to Serve together with its fhir.Access, which
//     answers the scope questions with the very decisions the built-in
//     store applies (fhir.Policy: allowed or not, the patient compartment,
//     the granular filters, the fhirUser exception). Nothing here decides
//     what a scope means.
//   - a smart.Directory for the launcher, the pickers, the login page and
//     the simulated EHR's banner: bounded searches (_count) and reads,
//     cached for a few seconds, with a deadline of their own so a page
//     shows "upstream FHIR server: …" instead of hanging.
//
// Design choices:
//
//   - Refuse before forwarding. A request the token's scopes do not allow
//     is answered 403 (or 404, for another patient's Patient) without
//     reaching the upstream. Search parameters go through the store's own
//     parser (fhirstore.ParseQuery) before they are forwarded: a chain,
//     _has, an unknown parameter or an _include target ehrsim cannot judge
//     is a 400 naming it, because the proxy could not confine its answer.
//
//   - Confine, then check. Under patient/ scopes a search carries the
//     compartment as a parameter (_id on Patient, patient= on the other
//     compartment types, both in FHIR R4's Patient CompartmentDefinition),
//     and a single granular scope's parameters are added too, so the
//     upstream pages over the right set. Whatever comes back is judged
//     anyway, resource by resource, with fhir.Policy.Check on a resource
//     parsed and indexed by the store's own code: read results (another
//     patient's resource reads as 404, as in the store), every Bundle entry
//     of searches, _include/_revinclude, history and Patient/$everything.
//     An entry ehrsim cannot judge (an unknown type, a body it cannot
//     parse) is dropped; when a match is dropped the Bundle's total is
//     removed rather than left wrong.
//
//   - Writes are checked on both sides: the resource sent and, for update,
//     patch and delete, the upstream's current version. A PATCH from a
//     token no compartment or granular scope restricts is forwarded; any
//     other is applied here (the store's JSON Patch code, through Access),
//     its result judged like an update, and written with PUT and If-Match
//     on the version it patched.
//
//   - URLs: the upstream's base, in Bundle fullUrl and link, absolute
//     references, Location and Content-Location, is rewritten to the FHIR
//     base the app was given (/fhir or /sim/{scenario}/fhir). metadata is
//     the upstream's CapabilityStatement with ehrsim's security element;
//     .well-known/smart-configuration stays ehrsim's (mockehr/authz).
//
//   - Streaming: a search answer that needs no filtering (no compartment,
//     no granular filter, no includes) is streamed through a rewriter that
//     holds back only the bytes that may start a URL split across reads.
//     Everything else is read whole, within the size limit.
//
//   - Limits keep ehrsim healthy: each exchange has a deadline (504
//     OperationOutcome), answers a size limit (502), a refused connection
//     or an upstream 5xx is a 502, and the upstream refusing ehrsim's own
//     credential is a 502 that says so (never the app's 401). A streamed
//     answer that outgrows the limit is aborted, since its status is sent.
//
//   - The upstream credential (Options.Header, or user info in the URL,
//     turned into Basic auth and removed from the URL) is sent on every
//     upstream request and nowhere else: errors are worded without the
//     upstream's own error text, diagnostics relayed from the upstream are
//     scrubbed of it, nothing is logged with it, and redirects are not
//     followed (they could carry it to another host).
//
//   - Paging: links of a search on its type are rewritten like any URL and
//     come back as searches. A link on the upstream's bare base (HAPI's
//     {base}?_getpages=…, whose search the upstream keeps behind an opaque
//     id) becomes {base}/{type}?_getpages=…; ehrsim forwards only the paging
//     parameters and judges that page like the first one.
//
// Only resource types ehrsim knows (fhirstore.Types) are offered, since
// only their compartment and search parameters can be judged. $everything's
// paging links come back to $everything the same way; history's are
// rewritten but not re-routed.
package upstream
