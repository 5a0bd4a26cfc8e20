package web

import (
	"bytes"
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// templateFS holds the staff pages' layout (head, foot and lab, the words
// of a value) and the login page.
//
//go:embed templates
var templateFS embed.FS

var funcs = template.FuncMap{
	// row pairs the page with one item, for a row template that needs both.
	"row": func(page, item any) Row { return Row{Page: page, It: item} },
}

// Row is what a row template gets: the page, and its item.
type Row struct {
	Page any
	It   any
}

// Pages are a part's staff page templates, parsed once over the base's
// layout.
type Pages struct {
	t      *template.Template
	logger *slog.Logger
}

// ParsePages parses the templates in fsys that match patterns, over the
// base's layout, with the base's template functions and more. Templates
// are embedded: one that does not parse is a broken build, caught by every
// test, so it panics.
func ParsePages(logger *slog.Logger, more template.FuncMap, fsys fs.FS, patterns ...string) *Pages {
	t := template.Must(template.New("").Funcs(funcs).Funcs(more).ParseFS(templateFS, "templates/layout.html"))
	return &Pages{t: template.Must(t.ParseFS(fsys, patterns...)), logger: logger}
}

// Render executes a page template into a buffer first, so that a failing
// template answers 500 instead of half a page. Staff pages are never
// stored: a shared device must not keep them.
func (p *Pages) Render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name, data); err != nil {
		p.logger.Error("Rendering failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	buf.WriteTo(w)
}

// Stockholm is where the points are: the pages show Swedish time, and a
// datetime-local field means Swedish time.
var Stockholm = func() *time.Location {
	loc, err := time.LoadLocation("Europe/Stockholm")
	if err != nil {
		return time.UTC
	}
	return loc
}()

// Excerpt is s cut to n characters, with an ellipsis when cut.
func Excerpt(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return strings.TrimSpace(string(r[:n-1])) + "…"
	}
	return s
}
