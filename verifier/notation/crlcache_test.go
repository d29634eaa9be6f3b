package notation

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestPruneCRLCache checks that the CRL cache is cut down to its bounds,
// oldest files first, and left alone within them.
func TestPruneCRLCache(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 10 {
		p := filepath.Join(dir, fmt.Sprintf("crl-%d", i))
		if err := os.WriteFile(p, make([]byte, 100), 0o600); err != nil {
			t.Fatal(err)
		}
		at := base.Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(p, at, at); err != nil {
			t.Fatal(err)
		}
	}
	left := func() []string {
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		return names
	}
	pruneCRLCache(dir, 10, 1000)
	if got := left(); len(got) != 10 {
		t.Fatalf("within bounds: %v left, want all 10", got)
	}
	pruneCRLCache(dir, 4, 1000)
	if got := left(); fmt.Sprint(got) != "[crl-6 crl-7 crl-8 crl-9]" {
		t.Fatalf("4 files at most: %v left, want the 4 newest", got)
	}
	pruneCRLCache(dir, 4, 250)
	if got := left(); fmt.Sprint(got) != "[crl-8 crl-9]" {
		t.Fatalf("250 bytes at most: %v left, want the 2 newest", got)
	}
	pruneCRLCache(filepath.Join(dir, "missing"), 1, 1) // no directory: nothing to do, no panic
}
