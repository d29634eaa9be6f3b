package admission

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// notationSign signs the image ref (host/repo@sha256:...) with signer
// through the notation CLI (internal/testratify), as a user signs on a
// registry with the referrers API: `notation sign --insecure-registry
// --force-referrers-tag=false --key admission REF`. The CLI runs with a
// HOME and $XDG_CONFIG_HOME of its own, whose notation/signingkeys.json
// names signer's private key (PKCS #8) and its chain, leaf first and root
// last (PEM), as `notation key add` records them. It fails t unless the
// CLI reports the signature.
func notationSign(t *testing.T, ref string, signer *testpki.Certificate) {
	t.Helper()
	n := testratify.NewNotation(t, notationBin)
	n.AddKey("admission", signer)
	stdout := n.Sign("admission", ref, "--force-referrers-tag=false")
	if !strings.Contains(stdout, "Successfully signed "+ref) {
		t.Fatalf("notation sign %s: stdout does not report the signature:\n%s", ref, stdout)
	}
	t.Logf("notation sign %s:\n%s", ref, stdout)
}

// notationReferrers returns the Notary Project signatures the registry's
// referrers API lists for the image of repo with digest dgst.
func notationReferrers(t *testing.T, reg *testregistry.Registry, repo, dgst string) []ocispec.Descriptor {
	t.Helper()
	url := "http://" + reg.Host() + "/v2/" + repo + "/referrers/" + dgst
	req := must(http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil))(t)
	resp := must(reg.Client().Do(req))(t)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	var index ocispec.Index
	if err := json.NewDecoder(resp.Body).Decode(&index); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	var sigs []ocispec.Descriptor
	for _, d := range index.Manifests {
		if d.ArtifactType == testpki.ArtifactTypeNotation {
			sigs = append(sigs, d)
		}
	}
	return sigs
}
