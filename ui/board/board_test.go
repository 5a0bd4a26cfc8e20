package board

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/safepoint-se/safepoint/node"
	"github.com/safepoint-se/safepoint/ui/api"
	"github.com/safepoint-se/safepoint/ui/webtest"
)

func TestBoardEscapes(t *testing.T) {
	e := newEnv(t, Options{}, nil)
	e.AddAccount(t, "anna", node.RoleStaff, "anna-password-1")
	s := webtest.Login(t, e.Srv, "anna", "anna-password-1")
	body, _ := json.Marshal(api.AnnouncementRequest{
		Title:    map[string]string{"sv": "<script>alert(1)</script>", "en": "<b>bold</b>"},
		Body:     map[string]string{"sv": `"><img src=x onerror=alert(2)>`},
		Severity: "warning",
	})
	if r := s.PostJSON(t, "/api/staff/announcements", string(body)); r.Code != http.StatusCreated {
		t.Fatalf("publishing: %s", r)
	}
	r := s.Get(t, "/board")
	page := string(r.Body)
	if r.Code != http.StatusOK {
		t.Fatalf("GET /board: %d", r.Code)
	}
	for _, raw := range []string{"<script>alert(1)", "<img src=x", "onerror=alert(2)>"} {
		if strings.Contains(page, raw) {
			t.Errorf("the board holds %q unescaped", raw)
		}
	}
	for _, escaped := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt;"} {
		if !strings.Contains(page, escaped) {
			t.Errorf("the board lacks %q", escaped)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("Content-Security-Policy %q", csp)
	}
	// The public JSON escapes it too.
	st := webtest.Do(t, webtest.NewClient(t, e.Srv), "GET", e.Srv.URL+"/api/status", "", "")
	if strings.Contains(string(st.Body), "<script>") {
		t.Error("GET /api/status holds <script> unescaped")
	}
}
