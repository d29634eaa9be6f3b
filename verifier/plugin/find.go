package plugin

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/openratify/ratify/errdef"
)

// find returns the executable named name in the first of dirs that has
// it, with symbolic links resolved, after checking that it is safe to run.
// Only that exact file name is tried: no PATH, no extension.
func find(name string, dirs []string) (string, error) {
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return "", fmt.Errorf("plugin %q: %v: %w", name, err, errdef.ErrInvalidConfig)
		}
		resolved, err := filepath.EvalSymlinks(p)
		if err != nil {
			return "", fmt.Errorf("plugin %q: %v: %w", name, err, errdef.ErrInvalidConfig)
		}
		if err := checkExecutable(resolved); err != nil {
			return "", err
		}
		return resolved, nil
	}
	return "", fmt.Errorf("plugin %q not found in plugin directories %s: %w", name, strings.Join(dirs, ", "), errdef.ErrInvalidConfig)
}

// checkExecutable refuses to run path unless it is a regular file that
// someone may execute and that only its owner and group can change: the
// file is not world-writable, and neither is its directory (unless the
// directory is sticky, as /tmp is, so that others cannot replace the
// file). Errors wrap errdef.ErrInvalidConfig.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("plugin %s: %v: %w", path, err, errdef.ErrInvalidConfig)
	}
	mode := fi.Mode()
	switch {
	case !mode.IsRegular():
		return fmt.Errorf("plugin %s is not a regular file (%s): %w", path, mode.Type(), errdef.ErrInvalidConfig)
	case mode.Perm()&0o002 != 0:
		return fmt.Errorf("plugin %s is world-writable (mode %s): anyone could change what ratify runs; "+
			"refusing to run it (chmod o-w): %w", path, mode.Perm(), errdef.ErrInvalidConfig)
	case mode.Perm()&0o111 == 0:
		return fmt.Errorf("plugin %s is not executable (mode %s): %w", path, mode.Perm(), errdef.ErrInvalidConfig)
	}
	dir := filepath.Dir(path)
	di, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("plugin directory %s: %v: %w", dir, err, errdef.ErrInvalidConfig)
	}
	if di.Mode().Perm()&0o002 != 0 && di.Mode()&fs.ModeSticky == 0 {
		return fmt.Errorf("plugin %s is in world-writable directory %s (mode %s): anyone could replace it; refusing to run it: %w",
			path, dir, di.Mode().Perm(), errdef.ErrInvalidConfig)
	}
	return nil
}
