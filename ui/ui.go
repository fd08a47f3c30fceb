// Package ui is the browser notebook, embedded into the binary. The sources
// are in ui/src and built (npm run build) into ui/dist, which is committed so
// that "go run ./cmd/weir serve" needs no node; CI checks that the committed
// build matches the sources.
package ui

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed dist
var dist embed.FS

// FS returns the built assets (index.html at the root).
func FS() fs.FS {
	sub, err := fs.Sub(dist, "dist")
	if err != nil {
		panic(err) // dist is embedded: cannot happen
	}
	return sub
}

// Handler serves the built assets; unknown paths that are not files get
// index.html, so the notebook's own routes (/notebooks/NAME) load the app.
func Handler() http.Handler {
	files := http.FileServerFS(FS())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f, err := FS().Open(trim(r.URL.Path)); err == nil {
			_ = f.Close()
			files.ServeHTTP(w, r)
			return
		}
		http.ServeFileFS(w, r, FS(), "index.html")
	})
}

func trim(p string) string {
	for len(p) > 0 && p[0] == '/' {
		p = p[1:]
	}
	if p == "" {
		return "index.html"
	}
	return p
}
