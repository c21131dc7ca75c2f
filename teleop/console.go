package teleop

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed console
var consoleFS embed.FS

// consoleHandler serves the web console: / is the page, /console/… its
// assets. Everything is embedded; the console needs no network but the
// robot's.
func consoleHandler() http.Handler {
	sub, _ := fs.Sub(consoleFS, "console")
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Path == "/":
			w.Header().Set("Cache-Control", "no-cache")
			http.ServeFileFS(w, r, sub, "index.html")
		case len(r.URL.Path) > len("/console/") && r.URL.Path[:len("/console/")] == "/console/":
			http.StripPrefix("/console", files).ServeHTTP(w, r)
		default:
			writeError(w, http.StatusNotFound, "no such page: %s", r.URL.Path)
		}
	})
}
