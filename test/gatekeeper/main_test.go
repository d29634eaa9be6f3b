// Package gatekeeper tests ratify as OPA Gatekeeper uses it: Gatekeeper's
// own policy engine and external data client
// (github.com/open-policy-agent/frameworks/constraint: the constraint
// client, the Rego driver with the external_data builtin, the provider cache
// and client-certificate authentication) run in this process, load the
// ConstraintTemplates, the constraint and the Providers from ../../library
// exactly as users apply them, and review Pods as Gatekeeper's validating
// webhook does (target admission.k8s.gatekeeper.sh). The external data
// provider is the real `ratify serve`, built from ./cmd/ratify, over mutual
// TLS 1.3, verifying Notary Project signatures (made with internal/testpki)
// on images in internal/testregistry registries.
//
// Gatekeeper's own target handler (github.com/open-policy-agent/gatekeeper/v3
// pkg/target) is not linked: requiring Gatekeeper v3.23.1 would raise
// oras-go for the whole module. target_test.go is a minimal handler for the
// same target name and review shape (see there).
//
// Run it with `go test ./test/gatekeeper/`. TestMain builds ratify once.
package gatekeeper

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The ratify binary under test and the module's root directory. TestMain
// sets them once, before any test runs; tests only read them.
var (
	ratifyBin  string
	moduleRoot string
)

func TestMain(m *testing.M) {
	code, err := setup(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gatekeeper: %v\n", err)
		os.Exit(1)
	}
	os.Exit(code)
}

// setup builds ratify, runs the tests and removes the build directory. An
// error means ratify could not be built.
func setup(m *testing.M) (int, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return 0, fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return 0, errors.New("not inside the ratify module (go env GOMOD is empty)")
	}
	moduleRoot = filepath.Dir(gomod)

	dir, err := os.MkdirTemp("", "ratify-gatekeeper-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	ratifyBin = filepath.Join(dir, "ratify")
	build := exec.Command("go", "build", "-o", ratifyBin, "./cmd/ratify")
	build.Dir = moduleRoot
	if output, err := build.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("go build ./cmd/ratify: %w\n%s", err, output)
	}
	return m.Run(), nil
}

// libraryFile returns the path of a file under library/, by its path there.
func libraryFile(path string) string {
	return filepath.Join(moduleRoot, "library", filepath.FromSlash(path))
}

// must(f())(t) returns the value of f, failing t now if f returned an
// error.
func must[T any](v T, err error) func(t testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
