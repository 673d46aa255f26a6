package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed css js img
var assets embed.FS

// fingerprints maps a logical path ("css/app.css") to its served path
// ("/static/css/app.1a2b3c4d5e.css"), and back.
var (
	byName = map[string]string{}
	byURL  = map[string]string{}
)

func init() {
	fs.WalkDir(assets, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, _ := assets.ReadFile(p)
		sum := sha256.Sum256(b)
		ext := path.Ext(p)
		u := "/static/" + strings.TrimSuffix(p, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		byName[p] = u
		byURL[u] = p
		return nil
	})
}

// Path returns the fingerprinted URL path of an embedded asset, e.g.
// Path("css/app.css"). It panics on an unknown name so a typo in a template
// fails every test that renders it, not silently in a browser.
func Path(name string) string {
	u, ok := byName[name]
	if !ok {
		panic("static: unknown asset " + name)
	}
	return u
}

// Handler serves /static/... fingerprinted assets with immutable caching.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, ok := byURL[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		b, _ := assets.ReadFile(name)
		if ct := mime.TypeByExtension(path.Ext(name)); ct != "" {
			w.Header().Set("Content-Type", ct)
		}
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Write(b)
	})
}

// Mount registers the asset routes.
func Mount(mux *http.ServeMux) {
	mux.Handle("GET /static/", Handler())
}
