package datadir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMake(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "node")
	if made, err := Make(dir); err != nil || !made {
		t.Fatalf("a missing last directory: made %v, %v", made, err)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("made %v, %v; want 0700", fi.Mode(), err)
	}
	if made, err := Make(dir); err != nil || made {
		t.Fatalf("an existing directory: made %v, %v", made, err)
	}
	deep := filepath.Join(root, "typo", "node")
	if _, err := Make(deep); err == nil || !strings.Contains(err.Error(), filepath.Join(root, "typo")+" does not exist") {
		t.Fatalf("a missing parent: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "typo")); !os.IsNotExist(err) {
		t.Fatal("a missing parent was made")
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o600)
	if _, err := Make(file); err == nil {
		t.Fatal("a file taken for a directory")
	}
}
