package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ehrsim/ehrsim/cmd/ehrsim/app"
	"github.com/playwright-community/playwright-go"
)

// browser is the one Chromium shared by every test in this binary.
var browser playwright.Browser

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	opts, err := EnsureBrowser()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pw, err := playwright.Run(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start playwright:", err)
		return 1
	}
	defer pw.Stop()
	browser, err = pw.Chromium.Launch(LaunchOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: launch chromium:", err)
		return 1
	}
	defer browser.Close()
	return m.Run()
}

// server is one isolated ehrsim for one test.
type server struct {
	*app.Server
	log *syncBuffer
}

// startServer starts an ehrsim in-process on 127.0.0.1:0 with a fresh data
// directory; extra args are appended to the command line. It stops when the
// test ends.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	log := &syncBuffer{}
	argv := append([]string{"--listen", "127.0.0.1:0", "--data-dir", t.TempDir(), "--log-level", "warn"}, args...)
	// The environment is isolated: no EHRSIM_* variable of the developer's leaks in.
	getenv := func(k string) string {
		if strings.HasPrefix(k, "EHRSIM_") {
			return ""
		}
		return os.Getenv(k)
	}
	s, err := app.Start(context.Background(), argv, getenv, log)
	if err != nil {
		t.Fatalf("start ehrsim: %v\n%s", err, log.String())
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if t.Failed() {
			t.Logf("ehrsim log:\n%s", log.String())
		}
	})
	return &server{Server: s, log: log}
}

// newPage opens a page in a fresh browser context (own cookies and storage),
// traced; on failure it saves a screenshot, the HTML and the trace.
func newPage(t *testing.T) playwright.Page {
	t.Helper()
	bctx, err := browser.NewContext(playwright.BrowserNewContextOptions{
		Viewport: &playwright.Size{Width: 1280, Height: 900},
	})
	if err != nil {
		t.Fatalf("new browser context: %v", err)
	}
	bctx.SetDefaultTimeout(15000)
	tracing := bctx.Tracing().Start(playwright.TracingStartOptions{Screenshots: playwright.Bool(true), Snapshots: playwright.Bool(true)}) == nil
	page, err := bctx.NewPage()
	if err != nil {
		t.Fatalf("new page: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			dir := artifactDir(t)
			for i, p := range bctx.Pages() {
				p.Screenshot(playwright.PageScreenshotOptions{Path: playwright.String(filepath.Join(dir, fmt.Sprintf("page-%d.png", i))), FullPage: playwright.Bool(true)})
				if html, err := p.Content(); err == nil {
					os.WriteFile(filepath.Join(dir, fmt.Sprintf("page-%d.html", i)), []byte(html), 0o644)
				}
			}
			if tracing {
				bctx.Tracing().Stop(filepath.Join(dir, "trace.zip"))
			}
			t.Logf("e2e artifacts (screenshot, HTML, trace): %s", dir)
		} else if tracing {
			bctx.Tracing().Stop()
		}
		bctx.Close()
	})
	return page
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func artifactDir(t *testing.T) string {
	dir, _ := filepath.Abs(filepath.Join("artifacts", unsafeName.ReplaceAllString(t.Name(), "_")))
	os.MkdirAll(dir, 0o755)
	return dir
}

// goto_ navigates and fails the test on a navigation error.
func goto_(t *testing.T, page playwright.Page, url string) playwright.Response {
	t.Helper()
	resp, err := page.Goto(url)
	if err != nil {
		t.Fatalf("goto %s: %v", url, err)
	}
	return resp
}

// expect wraps playwright's web-first assertions with t.Fatal.
func expect(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var assert = playwright.NewPlaywrightAssertions(10000)

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)
