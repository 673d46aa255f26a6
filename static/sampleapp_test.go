package static

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestSampleAppServedWithoutRedirectOrFingerprint(t *testing.T) {
	mux := http.NewServeMux()
	MountSampleApp(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	cases := []struct {
		path, status, ctype, contains string
	}{
		{"/sample-app/index.html", "200", "text/html; charset=utf-8", `data-testid="patient-name"`},
		{"/sample-app/launch.html", "200", "text/html; charset=utf-8", `data-page="launch"`},
		{"/sample-app/app.js", "200", "text/javascript; charset=utf-8", "code_challenge_method"},
		{"/sample-app/app.css", "200", "text/css; charset=utf-8", ".patient-name"},
		{"/sample-app/nope.js", "404", "", ""},
		{"/sample-app/sub/app.js", "404", "", ""},
	}
	for _, c := range cases {
		res, err := noFollow.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if got := res.Status[:3]; got != c.status {
			t.Errorf("%s: status %s, want %s", c.path, got, c.status)
			continue
		}
		if c.status != "200" {
			continue
		}
		if got := res.Header.Get("Content-Type"); got != c.ctype {
			t.Errorf("%s: Content-Type %q, want %q", c.path, got, c.ctype)
		}
		if got := res.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("%s: Cache-Control %q", c.path, got)
		}
		if got := res.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", c.path, got)
		}
		if !strings.Contains(string(b), c.contains) {
			t.Errorf("%s: body lacks %q", c.path, c.contains)
		}
	}

	res, err := noFollow.Get(srv.URL + "/sample-app/")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/sample-app/launch.html" {
		t.Fatalf("/sample-app/: %d Location %q", res.StatusCode, res.Header.Get("Location"))
	}
}
