package ui

import (
	"os"
	"testing"
)

// needPeer skips a test whose real peer (a program from a Debian package) is
// missing, loudly, or fails it when REQUIRE_PEERS=1, as CI sets.
func needPeer(t testing.TB, name, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		return
	}
	if os.Getenv("REQUIRE_PEERS") == "1" {
		t.Fatalf("SKIP: %s not installed (%s), and REQUIRE_PEERS=1", name, path)
	}
	t.Skipf("SKIP: %s not installed (%s)", name, path)
}
