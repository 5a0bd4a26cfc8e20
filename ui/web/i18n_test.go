package web

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLanguageFileErrors(t *testing.T) {
	for name, content := range map[string]string{
		"Bad_Name.toml": `name = "x"`,
		"xx.toml":       "name = \"x\"\ndir = \"up\"\n",
		"yy.toml":       "name = \"x\"\ncolour = \"red\"\n",
		"zz.toml":       "name = \"x\"\nfallback = \"nowhere\"\n",
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCatalog(dir); err == nil {
			t.Errorf("%s loaded: %s", name, content)
		}
	}
}
