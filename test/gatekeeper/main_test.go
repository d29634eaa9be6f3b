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
	"path/filepath"
	"testing"

	"github.com/openratify/ratify/internal/testratify"
)

// ratifyBin is the ratify binary under test. TestMain sets it once, before
// any test runs; tests only read it.
var ratifyBin string

// TestMain builds ratify (internal/testratify), then runs the tests.
func TestMain(m *testing.M) {
	testratify.Main(m, "gatekeeper", func() (err error) {
		ratifyBin, err = testratify.Build()
		return err
	})
}

// libraryFile returns the path of a file under library/, by its path there.
// Building ratify found the module root, so it is known here.
func libraryFile(path string) string {
	root, _ := testratify.ModuleRoot()
	return filepath.Join(root, "library", filepath.FromSlash(path))
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
