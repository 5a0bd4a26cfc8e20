package accounts

import (
	"regexp"
	"strings"
	"testing"
)

// TestValidAccountNameAsTheRegexp: the hand-written check says what the
// regular expression it replaced said, on names in several scripts, at and
// past the length limit, and on bytes that are not UTF-8.
func TestValidAccountNameAsTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[\p{L}\p{N}._-]{1,64}$`)
	for _, name := range []string{
		"", "a", "adam", "Åsa_Öberg-2", "greta.l", "ΔΣ", "عائشة", "李四", "١٢٣", "Ⅻ", "a b", "a\n", "\na", "a/b",
		"a$", "a@b", "🙂", "a\u200b", "e\u0301", strings.Repeat("å", 64), strings.Repeat("å", 65), strings.Repeat("x", 64) + "\n",
		"\xff", "a\xffb", "\xc3",
	} {
		if got, want := ValidAccountName(name), re.MatchString(name); got != want {
			t.Errorf("ValidAccountName(%q) = %v, the regexp says %v", name, got, want)
		}
	}
}
