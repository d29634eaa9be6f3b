// Package testfiles makes the awkward files that tests of bounded file
// readers need: a named pipe, which is not a regular file and never ends
// when read, and a file over a size limit. It imports only the standard
// library, so that any package, internal ones included, can use it in its
// tests.
package testfiles

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Pipe makes a named pipe (FIFO) called name in dir and returns its path: a path that never ends when read, for tests that readers refuse what is not a regular file.
func Pipe(t testing.TB, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Sized makes a file called name in dir of size bytes (sparse: no data written) and returns its path, for tests of size limits.
func Sized(t testing.TB, dir, name string, size int64) string {
	t.Helper()
	path := filepath.Join(dir, name)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	err = f.Truncate(size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	return path
}
