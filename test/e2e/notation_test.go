package e2e

import (
	"testing"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// newNotation returns the notation CLI under test with an empty
// configuration of its own (internal/testratify).
func newNotation(t *testing.T) *testratify.Notation {
	t.Helper()
	return testratify.NewNotation(t, notationBin)
}

// storeFlags returns the notation sign flags that store a signature the way
// a user would on a registry of kind k: through the referrers API on a
// registry that has it (--force-referrers-tag=false), and with notation's
// default, the referrers tag schema, on one that does not.
func storeFlags(k registryKind) []string {
	if k.referrers {
		return []string{"--force-referrers-tag=false"}
	}
	return nil
}

// signed pushes an image to repo and signs it with a new certificate of a
// new root CA through the notation CLI, stored as is usual on a registry of
// kind k, with flags added. It returns the image's digest reference, the
// root and the signing certificate.
func signed(t *testing.T, r *testregistry.Registry, k registryKind, repo string, flags ...string) (ref string, root, signer *testpki.Certificate) {
	t.Helper()
	root, signer = newSigner(t)
	n := newNotation(t)
	n.AddKey("e2e", signer)
	_, ref = pushImage(t, r, repo)
	n.Sign("e2e", ref, append(storeFlags(k), flags...)...)
	return ref, root, signer
}
