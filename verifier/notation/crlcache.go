package notation

import (
	"cmp"
	"os"
	"path/filepath"
	"slices"
)

// Bounds of the CRL file cache: notation-go's cache writes one file per CRL
// URL and never removes any, so the verifier prunes it when it is built
// (at start-up and at each configuration reload), oldest files first.
const (
	maxCRLCacheFiles = 256
	maxCRLCacheBytes = 64 << 20
)

// pruneCRLCache removes the oldest files of dir until at most maxFiles
// files of at most maxBytes in all remain. It reads only the directory
// listing, which the pruning keeps short; anything it cannot read or
// remove is left as it is (the cache is an optimisation, never a reason to
// fail).
func pruneCRLCache(dir string, maxFiles int, maxBytes int64) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type file struct {
		path string
		size int64
		mod  int64
	}
	var files []file
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		files = append(files, file{filepath.Join(dir, e.Name()), info.Size(), info.ModTime().UnixNano()})
		total += info.Size()
	}
	if len(files) <= maxFiles && total <= maxBytes {
		return
	}
	slices.SortFunc(files, func(a, b file) int { return cmp.Compare(a.mod, b.mod) })
	for _, f := range files {
		if len(files) <= maxFiles && total <= maxBytes {
			return
		}
		if os.Remove(f.path) == nil {
			total -= f.size
		}
		files = files[1:]
	}
}
