package e2e

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/launcher"
)

// readyLine is the startup line pattern docs/testing-with-ehrsim.md tells
// other test runners to read (the Playwright fixture uses the same regexp).
var readyLine = regexp.MustCompile(`^ehrsim ready in \S+: launcher (http://\S+?)/\s`)

// The documented recipe for any runner, followed literally: build the
// binary, start it on port 0 with a fresh data dir, read the URL from the
// startup line, POST /api/launches, open launch_url in the browser, stop it
// with SIGTERM.
func TestRecipeBinaryOnPort0(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bin := filepath.Join(dir, "ehrsim")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ehrsim")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"), "--log-level", "warn")
	cmd.Env = cleanEnv()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		exited <- cmd.Wait()
	}()
	var base string
	select {
	case base = <-urls:
	case err := <-exited:
		t.Fatalf("ehrsim exited before its ready line: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no ready line within 30 s")
	}

	app := newSmartApp(t, smartAppConfig{ClientID: "recipe-app", Scope: ehrScope})
	res, _ := mint(t, base, launcher.Request{
		LaunchType: "provider-ehr", Patient: "pat-grace-kim", SkipLogin: true, SkipConsent: true,
		Client: appClient(app), AppLaunchURL: app.LaunchURL,
	})
	page := newPage(t)
	goto_(t, page, res.LaunchURL)
	waitApp(t, page.Locator("body"), "done")
	expect(t, assert.Locator(page.GetByTestId("patient-name")).ToHaveText("Grace Kim"))

	// SIGTERM stops it gracefully (exit status 0).
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("ehrsim after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("ehrsim did not stop within 10 s of SIGTERM")
	}
	exited <- nil // for the cleanup
}

// cleanEnv is the environment without the developer's EHRSIM_* settings.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if len(kv) < 7 || kv[:7] != "EHRSIM_" {
			env = append(env, kv)
		}
	}
	return env
}
