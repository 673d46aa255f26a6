// Package e2e holds ehrsim's browser tests (playwright-go driving Debian's
// Chromium) and the bootstrap that makes them run on a fresh machine.
//
// Bootstrap (EnsureBrowser): playwright-go cannot download its driver or
// browsers here, so the tests install what they need, only when missing:
//   - the playwright-core npm package at the exact version matching the
//     pinned playwright-go (v0.5200.1 ↔ 1.52.0), unpacked with `npm pack`
//     into <cache>/ehrsim/playwright-core-1.52.0/package, which is the
//     DriverDirectory layout playwright-go expects; node runs it
//     (PLAYWRIGHT_NODEJS_PATH);
//   - Debian's chromium with apt-get when running as root (otherwise the
//     error names the package to install).
//
// <cache> is $EHRSIM_E2E_CACHE, else the user cache dir.
//
// Harness (harness_test.go): one browser per test binary (TestMain); each
// test calls startServer(t) for an isolated ehrsim started in-process via
// app.Start on 127.0.0.1:0 with its own data directory, and newPage(t) for
// a fresh browser context. On failure a test saves a screenshot, the page
// HTML and a Playwright trace under e2e/artifacts/<test>/ (git-ignored) and
// prints the path. Tests locate elements by role, label or data-testid and
// wait on conditions, never sleep.
package e2e
