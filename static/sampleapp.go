package static

import (
	"embed"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed sample-app
var sampleApp embed.FS

// SampleAppPrefix is where the built-in sample app is served. Its launch
// URL is {base}/sample-app/launch.html, its redirect URI
// {base}/sample-app/index.html (the registered demo client "sample-app").
const SampleAppPrefix = "/sample-app/"

// SampleAppHandler serves the sample app's files as-is: no fingerprints
// (SMART apps are registered by fixed URLs) and no-cache, so an upgraded
// binary is picked up at once. /sample-app/ redirects to launch.html.
//
// It deliberately does not use http.FileServer, which redirects
// ".../index.html" to "./" and would break the exact redirect_uri match
// (RFC 6749 §3.1.2.3).
func SampleAppHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, SampleAppPrefix)
		if name == "" {
			http.Redirect(w, r, SampleAppPrefix+"launch.html", http.StatusFound)
			return
		}
		if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
			http.NotFound(w, r)
			return
		}
		b, err := sampleApp.ReadFile("sample-app/" + name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		// The authorization code arrives in index.html's query string; never
		// leak it to another origin in a Referer header.
		w.Header().Set("Referrer-Policy", "no-referrer")
		if r.Method == http.MethodHead {
			return
		}
		w.Write(b)
	})
}

// MountSampleApp registers GET /sample-app/.
func MountSampleApp(mux *http.ServeMux) {
	mux.Handle("GET "+SampleAppPrefix, SampleAppHandler())
}
