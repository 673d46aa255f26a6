// Package app is the ehrsim binary's body: configuration, wiring of the
// packages onto one http.ServeMux, start-up and graceful shutdown, and the
// sub-commands. cmd/ehrsim's main only calls Run; tests (and the e2e suite,
// and users' test kits) call Start to get a whole ehrsim in-process on
// 127.0.0.1:0.
//
// It owns no behaviour of its own beyond ops endpoints (/healthz, /readyz),
// request logging, and the site-wide 404.
//
// Logging: Start builds one *slog.Logger (Server.Logger, --log-level and
// --log-format on the server's output) and injects it into every
// component; no package logs through slog's default. logRequests gives each
// request an id (X-Request-Id) and puts it in the request's context, and the
// logger's handler (requestIDHandler) adds it to every line logged with that
// context, so components log with logger.XxxContext(r.Context(), …) and
// never pass the id themselves. Static assets are logged at debug, every
// other request at info, server errors at error. zitadel/oidc can only log
// through slog's default, so Run (the binary, not tests, which start several
// servers in one process) sets the default to the same handler.
package app
