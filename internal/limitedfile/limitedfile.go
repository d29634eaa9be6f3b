// Package limitedfile reads configuration files of bounded size. Paths in
// configuration may come from a namespace's tenant (Kubernetes resources),
// so a file is read only if it is a regular file (not a FIFO, a device or
// a directory) and only up to a limit: a path naming /dev/zero or a pipe
// that never ends costs an error, not the process's memory.
package limitedfile

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/openratify/ratify/errdef"
)

// ErrNotRegular is the error for a path that names anything but a regular
// file.
var ErrNotRegular = errors.New("not a regular file")

// Read returns the content of the regular file at path. A file larger than
// limit bytes is an error wrapping errdef.ErrSizeExceedsLimit; anything but
// a regular file (after following symbolic links, as Kubernetes mounts
// Secrets) is an error wrapping ErrNotRegular. Callers say which
// configuration named the file.
func Read(path string, limit int64) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, fi.Mode().Type())
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, over the limit of %d: %w", path, fi.Size(), limit, errdef.ErrSizeExceedsLimit)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have grown (or been swapped) since Stat.
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is over the limit of %d bytes: %w", path, limit, errdef.ErrSizeExceedsLimit)
	}
	return data, nil
}
