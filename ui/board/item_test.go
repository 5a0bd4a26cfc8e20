package board

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidItemAsTheRegexp: the hand-written check says what the regular
// expression it replaced said.
func TestValidItemAsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[\p{L}\p{N}][\p{L}\p{N} ._-]{0,39}$`)
	for _, name := range []string{
		"", "a", "diesel", "vatten 5 l", "9v-batterier", " vatten", ".x", "-x", "_x", "x_", "x.", "x ", "ΔΣ", "李四", "١٢٣",
		"a\tb", "a\n", "a/b", "🙂", "e\u0301", strings.Repeat("å", 40), strings.Repeat("å", 41), "\xff", "a\xffb",
	} {
		if got, want := validItem(name), re.MatchString(name); got != want {
			t.Errorf("validItem(%q) = %v, the regexp says %v", name, got, want)
		}
	}
}
