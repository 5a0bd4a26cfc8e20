package api

import (
	"strings"
	"testing"
)

// TestTextInvisibles: the characters that reorder text around them are
// refused; the direction marks and joiners real scripts and emoji need are
// kept; text that is not UTF-8 is refused.
func TestTextInvisibles(t *testing.T) {
	for _, c := range []struct {
		text string
		ok   bool
	}{
		{"Träd över vägen", true},
		{"الطريق مغلق\u200F", true},            // Arabic with a right-to-left mark
		{"می\u200Cخواهم", true},                // Persian with a zero-width non-joiner
		{"👨\u200D👩\u200D👧 tre personer", true}, // an emoji family (joiners)
		{"ok \u202Eevil\u202C", false},
		{"\u2066isolate\u2069", false},
		{"\u202Aembedding\u202C", false},
		{"\xff\xfe", false},
	} {
		var v Validator
		got := v.Text("text", c.text, true, 200)
		if (v.Err == nil) != c.ok || c.ok && got != strings.TrimSpace(c.text) {
			t.Errorf("%q: kept %q, err %v; want ok %v", c.text, got, v.Err, c.ok)
		}
	}
}
