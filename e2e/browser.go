package e2e

import (
	"bytes"
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
	cli := filepath.Join(dir, "package", "cli.js")
	if _, err := os.Stat(cli); err == nil {
		return nil
	}
	if _, err := exec.LookPath("npm"); err != nil {
		return errors.New("e2e: npm is not on PATH; install Node.js and npm")
	}
	// Unpack into a temporary sibling, then rename: a crash mid-way never
	// leaves a half-installed driver that looks complete.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".playwright-core-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	fmt.Fprintf(os.Stderr, "e2e: installing playwright-core@%s into %s\n", PlaywrightCoreVersion, dir)
	pack := exec.Command("npm", "pack", "--silent", "playwright-core@"+PlaywrightCoreVersion, "--pack-destination", tmp)
	var out bytes.Buffer
	pack.Stdout, pack.Stderr = &out, &out
	if err := pack.Run(); err != nil {
		return fmt.Errorf("e2e: npm pack playwright-core@%s: %v\n%s", PlaywrightCoreVersion, err, out.String())
	}
	tgz := filepath.Join(tmp, strings.TrimSpace(lastLine(out.String())))
	if _, err := os.Stat(tgz); err != nil {
		matches, _ := filepath.Glob(filepath.Join(tmp, "playwright-core-*.tgz"))
		if len(matches) != 1 {
			return fmt.Errorf("e2e: npm pack left no tarball in %s (output: %s)", tmp, out.String())
		}
		tgz = matches[0]
	}
	untar := exec.Command("tar", "-xzf", tgz, "-C", tmp)
	if b, err := untar.CombinedOutput(); err != nil {
		return fmt.Errorf("e2e: unpack %s: %v\n%s", tgz, err, b)
	}
	os.RemoveAll(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Rename(filepath.Join(tmp, "package"), filepath.Join(dir, "package")); err != nil {
		return fmt.Errorf("e2e: install driver: %w", err)
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

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
