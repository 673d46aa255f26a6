// Package apierr is the one error shape of ehrsim's JSON API — every path
// under /api/ (the launch API in package launcher, the clients API in
// mockehr/clients, and the JSON 404 for unknown /api/ paths) — and the one
// writer of that API's JSON answers.
//
// An error answer is
//
//	{"error": "invalid_request", "field": "client.redirect_uris", "error_description": "…"}
//
// error is one code per status (InvalidRequest 400, NotFound 404, Conflict
// 409, Expired 410, RequestTooLarge 413, UnsupportedMediaType 415,
// ServerError 500); field, present when one request member is at fault,
// names it by its JSON name, dotted for nested members; error_description is
// the human sentence about that member, without repeating its name. The
// shape is documented in launcher/openapi.json (components.schemas.Error).
//
// FieldError is the validation error behind a 400: the launcher and the
// client registry return it, the pages show its Message next to the field,
// and the API answers it with WriteField.
//
// The package is a leaf (standard library only) so that launcher,
// mockehr/clients and ui can all use it without importing each other. The
// OAuth endpoints under /auth answer their own RFC 6749 and RFC 7591
// errors, which share the error and error_description members.
package apierr
