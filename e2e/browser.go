package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/playwright-community/playwright-go"
)

// PlaywrightCoreVersion is the npm playwright-core release that matches the
// pinned playwright-go module (v0.5200.1).
const PlaywrightCoreVersion = "1.52.0"

// ChromiumPath is where Debian's chromium package installs the browser.
const ChromiumPath = "/usr/bin/chromium"

// ChromiumArgs are the flags Chromium needs on these machines: as root it
// needs --no-sandbox, and the closed network makes background fetches fail.
var ChromiumArgs = []string{
	"--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
	"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
}

var installMu sync.Mutex

// DriverDir returns the directory holding package/ (playwright-core).
func DriverDir() (string, error) {
	base := os.Getenv("EHRSIM_E2E_CACHE")
	if base == "" {
		c, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("no cache directory: %w (set EHRSIM_E2E_CACHE)", err)
		}
		base = filepath.Join(c, "ehrsim")
	}
	return filepath.Join(base, "playwright-core-"+PlaywrightCoreVersion), nil
}

// EnsureBrowser installs, when missing, the playwright-core driver and
// Debian's Chromium, and returns the run options for playwright.Run.
func EnsureBrowser() (*playwright.RunOptions, error) {
	installMu.Lock()
	defer installMu.Unlock()
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, errors.New("e2e: node is not on PATH; install Node.js (Debian package nodejs)")
	}
	dir, err := DriverDir()
	if err != nil {
		return nil, err
	}
	if err := ensureDriver(dir); err != nil {
		return nil, err
	}
	if err := ensureChromium(); err != nil {
		return nil, err
	}
	os.Setenv("PLAYWRIGHT_NODEJS_PATH", node)
	return &playwright.RunOptions{
		DriverDirectory:     dir,
		SkipInstallBrowsers: true,
		Verbose:             false,
		Stdout:              os.Stderr,
	}, nil
}

// LaunchOptions are the options to launch Debian's Chromium headless.
func LaunchOptions() playwright.BrowserTypeLaunchOptions {
	return playwright.BrowserTypeLaunchOptions{
		ExecutablePath: playwright.String(ChromiumPath),
		Headless:       playwright.Bool(true),
		Args:           ChromiumArgs,
	}
}

func ensureDriver(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, "package", "cli.js")); err == nil {
		return nil
	}
	if err := installInto(dir, func(tmp string) error { return packInto(tmp, "playwright-core", PlaywrightCoreVersion) }); err != nil {
		return fmt.Errorf("e2e: install playwright-core@%s: %w", PlaywrightCoreVersion, err)
	}
	return nil
}

func ensureChromium() error {
	if _, err := os.Stat(ChromiumPath); err == nil {
		return nil
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("e2e: %s is missing; install Debian's chromium package (sudo apt-get install -y chromium)", ChromiumPath)
	}
	fmt.Fprintln(os.Stderr, "e2e: installing Debian's chromium with apt-get")
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	for _, args := range [][]string{{"update"}, {"install", "-y", "--no-install-recommends", "chromium"}} {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = env
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("e2e: apt-get %s: %v\n%s", strings.Join(args, " "), err, tail(b, 2000))
		}
	}
	if _, err := os.Stat(ChromiumPath); err != nil {
		return fmt.Errorf("e2e: apt-get installed chromium but %s is missing", ChromiumPath)
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
