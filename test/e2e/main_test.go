// Package e2e tests ratify end to end, as a user drives it: the ratify
// binary built from ./cmd/ratify, signatures made by the real notation CLI
// (v1.3.2, pinned in tools/go.mod), in-process OCI registries with and
// without the OCI distribution-spec v1.1 referrers API (internal/testregistry)
// and certificates, OCSP and RFC 3161 timestamping servers from
// internal/testpki.
//
// Run it with `go test ./test/e2e/` (or `make test`). TestMain builds ratify
// once; the notation CLI comes from $RATIFY_TEST_NOTATION (the Makefile
// sets and builds it) or is built into .cache/bin/notation.
package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The binaries under test. TestMain sets them once, before any test runs;
// tests only read them.
var (
	ratifyBin   string
	notationBin string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// setup builds the binaries the tests drive, runs the tests and removes the
// build directory. An error means a binary could not be built.
func setup(m *testing.M) (int, error) {
	root, err := moduleRoot()
	if err != nil {
		return 0, err
	}
	dir, err := os.MkdirTemp("", "ratify-e2e-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)

	ratifyBin = filepath.Join(dir, "ratify")
	if err := goBuild(root, ratifyBin, "./cmd/ratify"); err != nil {
		return 0, fmt.Errorf("build ratify: %w", err)
	}
	if notationBin, err = notationCLI(root); err != nil {
		return 0, err
	}
	return m.Run(), nil
}

// notationCLI returns the path of the notation CLI: $RATIFY_TEST_NOTATION
// when set (it must exist), else .cache/bin/notation built from tools/go.mod
// as the Makefile builds it.
func notationCLI(root string) (string, error) {
	if path := os.Getenv("RATIFY_TEST_NOTATION"); path != "" {
		if _, err := os.Stat(path); err != nil {
			return "", fmt.Errorf("RATIFY_TEST_NOTATION=%s: %w (build it with `make tools`, or unset the variable to have the tests build it)", path, err)
		}
		return path, nil
	}
	path := filepath.Join(root, ".cache", "bin", "notation")
	if err := goBuild(filepath.Join(root, "tools"), path, "github.com/notaryproject/notation/cmd/notation"); err != nil {
		return "", fmt.Errorf("build the notation CLI from tools/go.mod: %w", err)
	}
	return path, nil
}

// goBuild runs `go build -o out pkg` in dir.
func goBuild(dir, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = dir
	if output, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s %s (in %s): %w\n%s", out, pkg, dir, err, output)
	}
	return nil
}

// moduleRoot returns the directory of the ratify module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside the ratify module (go env GOMOD is empty)")
	}
	return filepath.Dir(gomod), nil
}
