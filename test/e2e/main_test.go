// Package e2e tests ratify end to end, as a user drives it: the ratify
// binary built from ./cmd/ratify, signatures made by the real notation CLI
// (v1.3.2, pinned in tools/go.mod), in-process OCI registries with and
// without the OCI distribution-spec v1.1 referrers API (internal/testregistry)
// and certificates, OCSP and RFC 3161 timestamping servers from
// internal/testpki.
//
// Run it with `go test ./test/e2e/` (or `make test`). TestMain builds ratify
// once; the notation CLI comes from $RATIFY_TEST_NOTATION (the Makefile
// sets and builds it) or is built into .cache/bin/notation
// (internal/testratify).
package e2e

import (
	"testing"

	"github.com/openratify/ratify/internal/testratify"
)

// The binaries under test. TestMain sets them once, before any test runs;
// tests only read them.
var (
	ratifyBin   string
	notationBin string
	cosignBin   string
	orasBin     string
)

// TestMain builds ratify and finds (or builds) the notation CLI
// (internal/testratify), then runs the tests.
func TestMain(m *testing.M) { testratify.Main(m, "e2e", setup) }

// setup sets ratifyBin, notationBin and cosignBin.
func setup() (err error) {
	if ratifyBin, err = testratify.Build(); err != nil {
		return err
	}
	if notationBin, err = testratify.NotationCLI(); err != nil {
		return err
	}
	if orasBin, err = testratify.OrasCLI(); err != nil {
		return err
	}
	cosignBin, err = testratify.CosignCLI()
	return err
}
