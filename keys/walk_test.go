package keys

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestWalkFilesReadsAMountOnce lays out a directory the way Kubernetes
// mounts a Secret (files as links into a hidden ..data directory) and
// checks that each file is visited once, through its visible name.
func TestWalkFilesReadsAMountOnce(t *testing.T) {
	root := t.TempDir()
	data := filepath.Join(root, "..2026_11_28")
	if err := os.MkdirAll(filepath.Join(data, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "sub/inner.pem"} {
		if err := os.WriteFile(filepath.Join(data, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, link := range [][2]string{{"..2026_11_28", "..data"}, {"..data/ca.pem", "ca.pem"}, {"..data/sub", "sub"}} {
		if err := os.Symlink(link[0], filepath.Join(root, link[1])); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, ".hidden"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []string
	if err := WalkFiles(root, func(p string) error { got = append(got, filepath.Base(p)); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []string{"ca.pem"}) {
		t.Errorf("visited %v, want only ca.pem (hidden entries and links to directories skipped)", got)
	}
	if err := WalkFiles(filepath.Join(root, "missing"), func(string) error { return nil }); !os.IsNotExist(err) {
		t.Errorf("missing root: %v, want a not-exist error", err)
	}
}
