// Package app is the ehrsim binary's body: configuration, wiring of the
// packages onto one http.ServeMux, start-up and graceful shutdown, and the
// sub-commands. cmd/ehrsim's main only calls Run; tests (and the e2e suite,
// and users' test kits) call Start to get a whole ehrsim in-process on
// 127.0.0.1:0.
//
// It owns no behaviour of its own beyond ops endpoints (/healthz, /readyz),
// request logging, and the site-wide 404.
package app
