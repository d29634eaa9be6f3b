package keys

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// WalkFiles calls fn for every regular file under root (root itself when it
// is a file), skipping hidden entries: among them the ..data and
// ..<timestamp> directories of Kubernetes volumes, whose files are also
// reachable through the visible symbolic links, so that a mounted Secret or
// ConfigMap is read once. Symbolic links to directories are not followed.
func WalkFiles(root string, fn func(path string) error) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if info, err := os.Stat(p); err == nil && info.IsDir() {
			return nil // a symbolic link to a directory
		}
		return fn(p)
	})
}
