package ui

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/ehrsim/ehrsim/launcher"
)

// TestHTMLPagesRefuseCrossOriginFraming: every HTML page the ui package
// serves (pages, form re-renders, fragments, error pages, the site-wide
// 404) sends frame-ancestors 'self' and X-Frame-Options: SAMEORIGIN, like
// the authorization pages, so another origin cannot frame the launcher,
// the simulated EHR or the clients page (clickjacking) while the EHR's own
// same-origin frames keep working.
func TestHTMLPagesRefuseCrossOriginFraming(t *testing.T) {
	tu := newTestUI(t)
	no := false
	res, _ := tu.mint(t, launcher.Request{LaunchType: "provider-ehr", Patient: "p1", NeedPatientBanner: &no})
	bare := httptest.NewServer(func() http.Handler { // no dependencies wired: the 503 page
		mux := http.NewServeMux()
		(&Handler{BaseURL: "http://ehrsim.example"}).Mount(mux)
		return mux
	}())
	t.Cleanup(bare.Close)

	cases := []struct {
		name, method, path string
		form               url.Values
		status             int
	}{
		{"launcher", "GET", "/", nil, 200},
		{"launcher with state", "GET", "/?launch_type=provider-ehr&patient=p1", nil, 200},
		{"launcher bad input", "POST", "/", url.Values{"launch_type": {"provider-ehr"}, "patient": {"nobody"}}, 400},
		{"encounter options fragment", "GET", "/launcher/encounters?patient=p1", nil, 200},
		{"EHR home", "GET", "/ehr", nil, 200},
		{"EHR screen", "GET", "/ehr?launch=" + url.QueryEscape(res.Launch), nil, 200},
		{"EHR unknown launch", "GET", "/ehr?launch=not-a-real-code", nil, 404},
		{"EHR bad input", "POST", "/ehr", url.Values{"patient": {"nobody"}, "app": {"sample-app"}}, 400},
		{"clients", "GET", "/clients", nil, 200},
		{"client edit", "GET", "/clients/sample-app", nil, 200},
		{"client unknown", "GET", "/clients/no-such-client", nil, 404},
		{"clients bad input", "POST", "/clients", url.Values{"client_id": {"x y"}, "client_type": {"public"}}, 400},
		{"docs", "GET", "/docs", nil, 200},
		{"site-wide 404", "GET", "/no/such/page", nil, 404},
		{"dependency missing", "GET", bare.URL + "/clients", nil, 503},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.path
			if strings.HasPrefix(u, "/") {
				u = tu.base + u
			}
			var r *http.Response
			var err error
			if c.method == "POST" {
				r, err = tu.client.PostForm(u, c.form)
			} else {
				r, err = tu.client.Get(u)
			}
			if err != nil {
				t.Fatal(err)
			}
			status, hdr, body := read(t, r)
			if status != c.status || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
				t.Fatalf("%s %s: %d %q, want %d text/html\n%s", c.method, c.path, status, hdr.Get("Content-Type"), c.status, body)
			}
			if got := hdr.Get("Content-Security-Policy"); got != "frame-ancestors 'self'" {
				t.Errorf("Content-Security-Policy %q, want frame-ancestors 'self'", got)
			}
			if got := hdr.Get("X-Frame-Options"); got != "SAMEORIGIN" {
				t.Errorf("X-Frame-Options %q, want SAMEORIGIN", got)
			}
		})
	}
}
