// Package playwright_test runs the Playwright fixture users copy
// (ehrsim.ts) through its own spec (ehrsim.spec.ts) with @playwright/test
// and Debian's Chromium, against a freshly built ehrsim binary, so the
// fixture in docs/testing-with-ehrsim.md cannot rot.
package playwright_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/e2e"
)

func TestPlaywrightFixtureSpec(t *testing.T) {
	if _, err := e2e.EnsureBrowser(); err != nil { // Debian's Chromium (and node)
		t.Fatal(err)
	}
	modules, err := e2e.EnsurePlaywrightTest()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The documented way to get the binary: go build, never go run.
	bin := filepath.Join(dir, "bin", "ehrsim")
	build := exec.Command("go", "build", "-C", "../..", "-o", bin, "./cmd/ehrsim")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	// A project of its own, as a user's: the repository's files, and
	// node_modules with @playwright/test.
	project := filepath.Join(dir, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ehrsim.ts", "ehrsim.spec.ts", "playwright.config.ts"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(project, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(modules, filepath.Join(project, "node_modules")); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(project, "node_modules", ".bin", "playwright"), "test", "--workers=1")
	cmd.Dir = project
	tmp := filepath.Join(dir, "tmp") // the fixture's os.tmpdir(), to see what it leaves
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "EHRSIM_BIN="+bin, "CHROMIUM_PATH="+e2e.ChromiumPath, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1", "CI=1")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	if err != nil {
		t.Fatalf("npx playwright test: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "4 passed") {
		t.Fatalf("expected 4 passed specs:\n%s", out.String())
	}
	t.Logf("%s", out.String())
	// Every worker's data directory is gone: the fixture waited for ehrsim
	// to exit, then deleted it.
	if left, _ := filepath.Glob(filepath.Join(tmp, "ehrsim-*")); len(left) > 0 {
		t.Errorf("data directories left behind: %v", left)
	}
}
