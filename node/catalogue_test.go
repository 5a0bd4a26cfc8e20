package node

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// TestCatalogueComplete: every event type constant declared in the
// package is in the catalogue, and nothing else is: a type added without
// its catalogue line (and so without a fold rule) fails here.
func TestCatalogueComplete(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var declared []string
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range af.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				v := s.(*ast.ValueSpec)
				for i, n := range v.Names {
					if !strings.HasPrefix(n.Name, "Type") || i >= len(v.Values) {
						continue
					}
					lit, ok := v.Values[i].(*ast.BasicLit)
					if !ok {
						continue
					}
					s, _ := strconv.Unquote(lit.Value)
					declared = append(declared, s)
				}
			}
		}
	}
	slices.Sort(declared)
	if got := Types(); !slices.Equal(got, declared) {
		t.Fatalf("catalogue %v\ndeclared  %v", got, declared)
	}
}

// TestCatalogueRules: each type's payload is a JSON object type, and a
// type with a fold rule refuses a payload that does not parse.
func TestCatalogueRules(t *testing.T) {
	for _, typ := range Types() {
		k := catalogue[typ]
		if reflect.TypeOf(k.payload).Kind() != reflect.Struct {
			t.Errorf("%s: payload %T is not a struct", typ, k.payload)
		}
		b, err := json.Marshal(k.payload)
		if err != nil || b[0] != '{' {
			t.Errorf("%s: payload marshals to %s, %v", typ, b, err)
		}
		if k.fold == nil {
			if NewState().Apply(Event{Origin: "n", Seq: 1, HLC: 1, Type: typ, Payload: b}) {
				t.Errorf("%s: folded though it has no rule", typ)
			}
			continue
		}
		if NewState().Apply(Event{Origin: "n", Seq: 1, HLC: 1, Type: typ, Payload: []byte(`[1,2]`)}) {
			t.Errorf("%s: garbage payload folded", typ)
		}
	}
	want := []string{TypeAnnouncementPublished, TypeAnnouncementWithdrawn, TypePointActivation, TypeContactsChanged,
		TypeReportCommented, TypeReportStatusChanged}
	if !slices.Equal(DownlinkTypes, want) {
		t.Errorf("downlink types %v, want %v", DownlinkTypes, want)
	}
}

// TestAnnouncementViewKeepsPayloadOnlyFields: who published an
// announcement and which directive carried it are in the payload, never
// in what the pages show.
func TestAnnouncementViewKeepsPayloadOnlyFields(t *testing.T) {
	s := NewState()
	p := Announcement{ID: "a1", Title: map[string]string{"sv": "Kokt vatten"}, Severity: "warning", Source: "kommunen",
		By: "eva", Directive: "d1"}
	s.Apply(ev("central", 1, 1_796_000_000_000, TypeAnnouncementPublished, p))
	got, ok := s.Announcement("a1")
	if !ok || got.By != "" || got.Directive != "" || got.Published == 0 {
		t.Fatalf("view %+v", got)
	}
	b, _ := json.Marshal(p)
	if strings.Contains(string(b), "published") || strings.Contains(string(b), "withdrawn") {
		t.Fatalf("payload carries the fold's fields: %s", b)
	}
}
