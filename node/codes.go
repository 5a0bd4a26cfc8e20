package node

import (
	"crypto/rand"
	"strings"
)

// receiptAlphabet has 32 symbols without the look-alikes 0/O and 1/I, so a
// code read aloud or copied from paper survives. Each symbol carries 5 bits.
const receiptAlphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"

// ReceiptLen is the length of a receipt code: 8 symbols, 40 bits of
// randomness, unguessable for anyone trying codes at the rate limit.
const ReceiptLen = 8

// NewCode returns n random symbols of the receipt alphabet from crypto/rand.
func NewCode(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("node: crypto/rand failed: " + err.Error()) // never on Linux ≥ 3.17
	}
	for i := range b {
		b[i] = receiptAlphabet[b[i]&31] // 256 is a multiple of 32: no bias
	}
	return string(b)
}

// NewID returns a random identifier for an entity: 16 symbols, 80 bits,
// lower case so it reads as an id rather than a code.
func NewID() string { return strings.ToLower(NewCode(16)) }

// NormalizeCode turns what a person typed into a canonical code: upper case,
// spaces and dashes removed. The look-alikes 0, O, 1 and I are not in the
// alphabet, so a code never needs them.
func NormalizeCode(s string) string {
	s = strings.ToUpper(strings.TrimSpace(s))
	return strings.NewReplacer(" ", "", "-", "").Replace(s)
}

// ValidCode reports whether s consists of n receipt symbols.
func ValidCode(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(receiptAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}
