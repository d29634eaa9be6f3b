// Package admission tests the admission flow users run, on a real control
// plane (internal/testcluster: etcd, kube-apiserver and OPA Gatekeeper's
// manager, all on 127.0.0.1): Gatekeeper's validating webhook calls the real
// `ratify serve`, built from ./cmd/ratify, as its external data provider
// over mutual TLS, and `kubectl run` of an image is admitted or refused by
// the ConstraintTemplate and constraint of ../../library, applied with
// kubectl exactly as users apply them. Images live in an in-process registry
// with the OCI distribution-spec v1.1 referrers API (internal/testregistry),
// signed with Notary Project signatures by the real notation CLI (v1.3.2,
// pinned in tools/go.mod) with certificates of internal/testpki.
//
// No kubelet runs: admitted Pods stay Pending.
//
// Run it with `make test`, or `go test ./test/admission/` (which builds the
// control plane's binaries into .cache/k8s-bin first when
// $RATIFY_TEST_K8S_BIN is unset: about ten minutes on a fresh machine, more
// than `go test`'s default timeout, so pass -timeout 30m then). The notation
// CLI comes from $RATIFY_TEST_NOTATION (the Makefile sets and builds it) or
// is built into .cache/bin/notation.
package admission

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/openratify/ratify/internal/testcluster"
	"github.com/openratify/ratify/internal/testratify"
)

// The ratify binary under test, the notation CLI that signs images and the
// module's root directory. TestMain sets them once, before any test runs;
// tests only read them.
var (
	ratifyBin   string
	notationBin string
	moduleRoot  string
)

// TestMain builds ratify (with the k8s build tag, which holds its
// Kubernetes controllers), finds (or builds) the control plane's binaries
// and the notation CLI, then runs the tests. An error means a binary could
// not be built.
func TestMain(m *testing.M) { testratify.Main(m, "admission", setup) }

// setup sets the binaries and the module root (internal/testratify,
// internal/testcluster).
func setup() (err error) {
	if moduleRoot, err = testratify.ModuleRoot(); err != nil {
		return err
	}
	if _, err := testcluster.FindBinaries(); err != nil {
		return err
	}
	if ratifyBin, err = testratify.Build("k8s"); err != nil {
		return err
	}
	notationBin, err = testratify.NotationCLI()
	return err
}

// libraryFile returns the contents of a file under library/, by its path
// there.
func libraryFile(t testing.TB, path string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(moduleRoot, "library", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
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
