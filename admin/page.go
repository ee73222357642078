package admin

import (
	"crypto/rand"
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed page.html
var pageHTML string

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// pageData is what the page template is rendered with; the page fetches
// everything else from the snapshot.
type pageData struct {
	Title   string
	Nonce   string
	Refresh int64 // milliseconds
}

// page serves the live page: a shell whose script polls the snapshot and
// draws it. Its script and styles are inline, allowed by a per-response
// nonce, and it loads nothing from elsewhere.
func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	nonce := rand.Text()
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+
		"'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl.Execute(w, pageData{Title: h.opts.Title, Nonce: nonce, Refresh: h.opts.Refresh.Milliseconds()}); err != nil {
		h.opts.Logger.Warn("poolguard admin: rendering the page failed", "error", err)
	}
}
