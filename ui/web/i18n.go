package web

import (
	"cmp"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

//go:embed i18n/*.toml
var i18nFS embed.FS

// DefaultLang is the language of the pages unless a resident picks another,
// and the last fallback of every other language.
const DefaultLang = "sv"

// Lang is one language's texts, read from one TOML file named after its
// code: i18n/sv.toml, i18n/en.toml, i18n/sv-lattlast.toml. A municipality
// adds a language by dropping such a file in --lang-dir; no code changes.
type Lang struct {
	Code     string            `toml:"-"`
	Name     string            `toml:"name"`      // in the language itself, for the switch
	Dir      string            `toml:"dir"`       // "ltr" or "rtl"
	HTMLLang string            `toml:"html_lang"` // for <html lang>; the code when empty
	Fallback string            `toml:"fallback"`  // where missing texts come from; sv when empty
	Messages map[string]string `toml:"messages"`
	Guide    []Guide           `toml:"guide"`
}

// Guide is one piece of advice: what to do in a power cut, a storm, …
type Guide struct {
	ID    string   `toml:"id"`
	Title string   `toml:"title"`
	Steps []string `toml:"steps"`
}

// Catalog holds every language, in the order the language switch shows them.
type Catalog struct {
	langs map[string]*Lang
	order []string
}

var langFile = regexp.MustCompile(`^[a-z]{2,3}(-[a-z0-9]{2,12})?$`)

// LoadCatalog reads the built-in languages and, when dir is not empty, the
// *.toml files in dir, which may add languages or replace built-in ones.
func LoadCatalog(dir string) (*Catalog, error) {
	c := &Catalog{langs: map[string]*Lang{}}
	if err := c.load(i18nFS, "i18n"); err != nil {
		return nil, err
	}
	if dir != "" {
		if err := c.load(os.DirFS(dir), "."); err != nil {
			return nil, err
		}
	}
	if err := c.check(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Catalog) load(fsys fs.FS, root string) error {
	names, err := fs.Glob(fsys, path.Join(root, "*.toml"))
	if err != nil {
		return err
	}
	for _, name := range names {
		code := strings.TrimSuffix(path.Base(name), ".toml")
		if !langFile.MatchString(code) {
			return fmt.Errorf("language file %s: name it after a language code, like sv.toml or se-north.toml", name)
		}
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return err
		}
		l := &Lang{Code: code}
		md, err := toml.Decode(string(raw), l)
		if err != nil {
			return fmt.Errorf("language file %s: %w", filepath.Base(name), err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return fmt.Errorf("language file %s: unknown key %s", filepath.Base(name), und[0])
		}
		if l.Dir == "" {
			l.Dir = "ltr"
		}
		if l.Dir != "ltr" && l.Dir != "rtl" {
			return fmt.Errorf("language file %s: dir must be ltr or rtl", filepath.Base(name))
		}
		if l.HTMLLang == "" {
			l.HTMLLang = code
		}
		if l.Name == "" {
			l.Name = code
		}
		if _, ok := c.langs[code]; !ok {
			c.order = append(c.order, code)
		}
		c.langs[code] = l
	}
	return nil
}

// check makes sure Swedish is complete enough to be everyone's fallback and
// that every fallback chain ends there.
func (c *Catalog) check() error {
	sv, ok := c.langs[DefaultLang]
	if !ok {
		return errors.New("i18n: no sv.toml")
	}
	if len(sv.Guide) == 0 || len(sv.Messages) == 0 {
		return errors.New("i18n: sv.toml has no messages or no guide")
	}
	for code, l := range c.langs {
		seen := map[string]bool{}
		for cur := l; cur.Code != DefaultLang; {
			if seen[cur.Code] {
				return fmt.Errorf("i18n: %s: fallback loop", code)
			}
			seen[cur.Code] = true
			next, ok := c.langs[cur.FallbackCode()]
			if !ok {
				return fmt.Errorf("i18n: %s: fallback %q has no file", code, cur.FallbackCode())
			}
			cur = next
		}
	}
	// The switch shows Swedish, English and lättläst first, then the rest
	// by code.
	first := []string{"sv", "en", "sv-lattlast"}
	sort.SliceStable(c.order, func(i, j int) bool {
		ri, rj := slices.Index(first, c.order[i]), slices.Index(first, c.order[j])
		if ri < 0 {
			ri = len(first)
		}
		if rj < 0 {
			rj = len(first)
		}
		if ri != rj {
			return ri < rj
		}
		return c.order[i] < c.order[j]
	})
	return nil
}

// FallbackCode is the language its missing texts come from.
func (l *Lang) FallbackCode() string {
	if l.Fallback == "" {
		return DefaultLang
	}
	return l.Fallback
}

// Langs lists the languages in switch order.
func (c *Catalog) Langs() []*Lang {
	out := make([]*Lang, len(c.order))
	for i, code := range c.order {
		out[i] = c.langs[code]
	}
	return out
}

// Has reports whether a language exists.
func (c *Catalog) Has(code string) bool { _, ok := c.langs[code]; return ok }

// Lang returns a language, or Swedish.
func (c *Catalog) Lang(code string) *Lang {
	if l, ok := c.langs[code]; ok {
		return l
	}
	return c.langs[DefaultLang]
}

// T returns the text for key in lang, walking the fallback chain; the key
// itself when no language has it, so a missing text shows rather than
// vanishes. args are name, value pairs for {name} placeholders.
func (c *Catalog) T(lang, key string, args ...any) string {
	l := c.Lang(lang)
	for {
		if s, ok := l.Messages[key]; ok {
			return fill(s, args)
		}
		if l.Code == DefaultLang {
			return key
		}
		l = c.langs[l.FallbackCode()]
	}
}

// Guide returns the advice in lang, or in its fallback when it has none.
func (c *Catalog) Guide(lang string) []Guide {
	l := c.Lang(lang)
	for len(l.Guide) == 0 && l.Code != DefaultLang {
		l = c.langs[l.FallbackCode()]
	}
	return l.Guide
}

func fill(s string, args []any) string {
	for i := 0; i+1 < len(args); i += 2 {
		var v string
		switch x := args[i+1].(type) {
		case string:
			v = x
		case int:
			v = strconv.Itoa(x)
		default:
			v = fmt.Sprint(x)
		}
		s = strings.ReplaceAll(s, "{"+fmt.Sprint(args[i])+"}", v)
	}
	return s
}

// Negotiate picks the language for a request: an explicit choice (query or
// cookie) when it exists, else the best Accept-Language match, else Swedish.
func (c *Catalog) Negotiate(explicit []string, acceptLanguage string) string {
	for _, e := range explicit {
		if c.Has(e) {
			return e
		}
	}
	type pref struct {
		tag string
		q   float64
	}
	var room [8]pref // a phone sends a few: no allocation on every page
	prefs := room[:0]
	for part := range strings.SplitSeq(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			if f, err := strconv.ParseFloat(v, 64); err == nil {
				q = f
			}
		}
		if tag = strings.ToLower(tag); tag != "" && q > 0 {
			prefs = append(prefs, pref{tag, q})
		}
	}
	slices.SortStableFunc(prefs, func(a, b pref) int { return cmp.Compare(b.q, a.q) })
	for _, p := range prefs {
		if c.Has(p.tag) {
			return p.tag
		}
		base, _, _ := strings.Cut(p.tag, "-")
		if c.Has(base) {
			return base
		}
	}
	return DefaultLang
}
