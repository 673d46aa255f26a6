// Package e2e holds ehrsim's browser tests (playwright-go driving Debian's
// Chromium) and the bootstrap that makes them run on a fresh machine.
//
// Bootstrap (EnsureBrowser): playwright-go cannot download its driver or
// browsers here, so the tests install what they need, only when missing:
//
//   - the playwright-core npm package at the exact version matching the
//     pinned playwright-go (v0.5200.1 ↔ 1.52.0), unpacked with `npm pack`
//     into <cache>/ehrsim/playwright-core-1.52.0/package, which is the
//     DriverDirectory layout playwright-go expects; node runs it
//     (PLAYWRIGHT_NODEJS_PATH);
//
//   - Debian's chromium with apt-get when running as root (otherwise the
//     error names the package to install).
//
//   - the real SMART client libraries the suite runs, pinned (npm.go):
//     fhirclient (SMART's client-js) for browser launches and openid-client
//     for backend services, the same way.
//
//   - @playwright/test at the same release (playwrighttest.go), installed
//     with `npm install --prefix` into <cache>/playwright-test-1.52.0, for
//     e2e/playwright: the Playwright fixture users copy (ehrsim.ts) run
//     through its own spec against a freshly built binary (EHRSIM_BIN).
//
// <cache> is $EHRSIM_E2E_CACHE, else the user cache dir.
//
// Harness (harness_test.go): one browser per test binary (TestMain); each
// test calls startServer(t) for an isolated ehrsim started in-process on
// 127.0.0.1:0 with its own data directory (through the users' test kit,
// e2e/ehrsimtest, so the suite starts ehrsim exactly as users' tests do),
// and newPage(t) for a fresh browser context.
//
// Suites: site_test.go (pages), ui_*_test.go (launcher, simulated EHR,
// sample app, every simulated error), fhirclient*_test.go (unmodified
// fhirclient through every launch flow, cross-origin), robustness_test.go
// (back button, double submit, lost session, two tabs), ui_inspect_test.go
// (the launch inspector: a clean sample-app launch, a deliberately sloppy
// cross-origin app's diagnostics everywhere they show, the live timeline), backend_clients_test.go
// (go-jose and openid-client backend services), recipe_test.go (the
// docs/testing-with-ehrsim.md recipe). The load generator behind
// `ehrsim load` is cmd/ehrsim/app/loadgen. On failure a test saves a screenshot, the page
// HTML and a Playwright trace under e2e/artifacts/<test>/ (git-ignored) and
// prints the path. Tests locate elements by role, label or data-testid and
// wait on conditions, never sleep.
package e2e
