package limitedfile

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testfiles"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(small, link); err != nil {
		t.Fatal(err)
	}
	big := testfiles.Sized(t, dir, "big", 6)
	fifo := testfiles.Pipe(t, dir, "fifo")
	for _, tc := range []struct {
		name, path string
		want       string
		err        error
	}{
		{"regular", small, "hello", nil},
		{"symbolic link to a regular file", link, "hello", nil},
		{"over the limit", big, "", errdef.ErrSizeExceedsLimit},
		{"a pipe", fifo, "", ErrNotRegular},
		{"a directory", dir, "", ErrNotRegular},
		{"a device", os.DevNull, "", ErrNotRegular},
		{"missing", filepath.Join(dir, "missing"), "", os.ErrNotExist},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Read(tc.path, 5)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("Read: %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("Read = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
