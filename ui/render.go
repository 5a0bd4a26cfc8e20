package ui

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/safepoint-se/safepoint/node"
)

var funcs = template.FuncMap{
	// clock shows an HLC's wall time in Swedish time, HH:MM.
	"clock": func(h node.HLC) string {
		if h == 0 || h.Time().Before(node.EarliestPlausible) {
			return "–"
		}
		return h.Time().In(stockholm).Format("15:04")
	},
	// minutes shows a runtime as "5 h 20 min" or "40 min".
	"minutes": func(m *float64) string {
		if m == nil {
			return ""
		}
		d := time.Duration(*m * float64(time.Minute)).Round(time.Minute)
		if d >= time.Hour {
			return fmt.Sprintf("%d h %d min", int(d.Hours()), int(d.Minutes())%60)
		}
		return fmt.Sprintf("%d min", int(d.Minutes()))
	},
	"timeptr": func(t time.Time) *time.Time { return &t },
	// lastN is the last n journal entries.
	"lastN": func(j []node.Journal, n int) []node.Journal {
		if len(j) > n {
			return j[len(j)-n:]
		}
		return j
	},
	"datetime": func(t *time.Time) string {
		if t == nil {
			return ""
		}
		return t.In(stockholm).Format("2006-01-02 15:04")
	},
}

// render executes a page template into a buffer first, so that a failing
// template answers 500 instead of half a page.
func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	var buf bytes.Buffer
	if err := s.pages.ExecuteTemplate(&buf, name, data); err != nil {
		s.logger.Error("Rendering failed", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	buf.WriteTo(w)
}
