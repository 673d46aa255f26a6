package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/ehrsim/ehrsim/e2e/ehrsimtest"
	"github.com/ehrsim/ehrsim/internal/pgtest"
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
	return pgtest.Run(m) // a PostgreSQL for the tests of several instances
}

// server is one isolated ehrsim for one test (the user test kit's server,
// so the suite starts ehrsim exactly as users' tests do).
type server struct {
	*ehrsimtest.Server
	URL string // the base URL
}

// startServer starts an ehrsim in-process on 127.0.0.1:0 with a fresh data
// directory; extra args are appended to the command line. It stops when the
// test ends, printing its log if the test failed.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	k := ehrsimtest.Start(t, ehrsimtest.WithArgs(args...))
	return &server{Server: k, URL: k.Base}
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
