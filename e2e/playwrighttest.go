package e2e

import (
	"fmt"
	"os"
	"path/filepath"
)

// PlaywrightTestVersion is the @playwright/test release that runs the
// Playwright fixture's spec (e2e/playwright): the same release as the
// playwright-core driver of the Go suite.
const PlaywrightTestVersion = PlaywrightCoreVersion

// EnsurePlaywrightTest returns a node_modules directory holding
// @playwright/test (with playwright and playwright-core), installing the
// pinned release with `npm install --prefix` into the cache when missing.
// No browser is downloaded: the spec runs Debian's Chromium.
func EnsurePlaywrightTest() (string, error) {
	base, err := cacheBase()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(base, "playwright-test-"+PlaywrightTestVersion)
	modules := filepath.Join(dir, "node_modules")
	installMu.Lock()
	defer installMu.Unlock()
	if _, err := os.Stat(filepath.Join(modules, ".bin", "playwright")); err == nil {
		return modules, nil
	}
	os.Setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
	err = installInto(dir, func(tmp string) error {
		_, err := npm(tmp, "install", "--prefix", tmp, "--no-audit", "--no-fund", "--no-package-lock", "--silent", "@playwright/test@"+PlaywrightTestVersion)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("e2e: install @playwright/test@%s: %w", PlaywrightTestVersion, err)
	}
	return modules, nil
}
