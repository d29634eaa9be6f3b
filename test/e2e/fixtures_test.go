package e2e

import (
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
	"github.com/openratify/ratify/internal/testratify"
	"github.com/openratify/ratify/internal/testregistry"
)

// notationType is the artifact type of Notary Project signatures.
const notationType = testpki.ArtifactTypeNotation

// registryKind is one of the two ways a registry keeps referrers.
type registryKind struct {
	name string
	// referrers: the registry serves the OCI distribution-spec v1.1
	// referrers API; otherwise clients use the referrers tag schema.
	referrers bool
}

// registryKinds are the registries every signature scenario runs against.
var registryKinds = []registryKind{
	{name: "referrers-API", referrers: true},
	{name: "referrers-tag-schema", referrers: false},
}

// forEachRegistry runs f as a subtest against a new registry of each kind.
func forEachRegistry(t *testing.T, f func(t *testing.T, r *testregistry.Registry, k registryKind)) {
	t.Helper()
	for _, k := range registryKinds {
		t.Run(k.name, func(t *testing.T) {
			f(t, testregistry.New(t, testregistry.Options{Referrers: k.referrers}), k)
		})
	}
}

// must(f())(t) returns the value of f, failing t now if f returned an
// error.
func must[T any](v T, err error) func(t *testing.T) T {
	return func(t *testing.T) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// newSigner returns a new root CA and a code-signing certificate it issued.
func newSigner(t *testing.T) (root, signer *testpki.Certificate) {
	t.Helper()
	root = must(testpki.NewRootCA(testpki.CertOptions{}))(t)
	return root, must(root.NewCodeSigning(testpki.CertOptions{}))(t)
}

// pushImage pushes a small image to repo, tagged v1, and returns its
// descriptor and its digest reference (host/repo@sha256:...).
func pushImage(t *testing.T, r *testregistry.Registry, repo string) (ocispec.Descriptor, string) {
	t.Helper()
	desc := r.PushImage(t, repo, "v1")
	return desc, r.Host() + "/" + repo + "@" + desc.Digest.String()
}

// pushSignature pushes envelope, of mediaType, as a Notary Project signature
// of subject (made with testpki, for what the notation CLI refuses to make)
// and returns the signature manifest's descriptor.
func pushSignature(t *testing.T, r *testregistry.Registry, repo string, subject ocispec.Descriptor, mediaType string, envelope []byte) ocispec.Descriptor {
	t.Helper()
	sig := must(testpki.NewSignature(subject, mediaType, envelope))(t)
	r.PushBlob(t, repo, ocispec.MediaTypeEmptyJSON, ocispec.DescriptorEmptyJSON.Data)
	r.PushBlob(t, repo, mediaType, sig.Envelope)
	r.PushManifest(t, repo, "", ocispec.MediaTypeImageManifest, sig.Manifest)
	return sig.ManifestDescriptor
}

// writeConfig writes the config.json a test verifies with, for c and with
// the trust policy named "e2e" (internal/testratify), and returns its path.
func writeConfig(t *testing.T, c testratify.ConfigOptions) string {
	t.Helper()
	c.Name = "e2e"
	return testratify.WriteConfig(t, c)
}

// registryGet fetches path ("/v2/...") from r with an Accept header and
// returns the status and body, as any client would see them.
func registryGet(t *testing.T, r *testregistry.Registry, path, accept string) (int, []byte) {
	t.Helper()
	req := must(http.NewRequest(http.MethodGet, "http://"+r.Host()+path, nil))(t)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp := must(r.Client().Do(req))(t)
	defer resp.Body.Close()
	return resp.StatusCode, must(io.ReadAll(resp.Body))(t)
}

// referrersTag is the referrers tag schema's tag for subject: sha256-<hex>.
func referrersTag(subject digest.Digest) string {
	return strings.Replace(subject.String(), ":", "-", 1)
}

// listReferrers returns what r says is attached to subject in repo: the
// referrers API's listing on a registry that has it, else the image index
// under the referrers tag schema's tag (nil when there is none).
func listReferrers(t *testing.T, r *testregistry.Registry, k registryKind, repo string, subject digest.Digest) []ocispec.Descriptor {
	t.Helper()
	path := "/v2/" + repo + "/referrers/" + subject.String()
	if !k.referrers {
		path = "/v2/" + repo + "/manifests/" + referrersTag(subject)
	}
	status, body := registryGet(t, r, path, ocispec.MediaTypeImageIndex)
	if status == http.StatusNotFound && !k.referrers {
		return nil
	}
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var index ocispec.Index
	if err := json.Unmarshal(body, &index); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return index.Manifests
}

// signatureManifests returns the digests of the Notary Project signatures
// r lists for subject, in the registry's order.
func signatureManifests(t *testing.T, r *testregistry.Registry, k registryKind, repo string, subject digest.Digest) []digest.Digest {
	t.Helper()
	var sigs []digest.Digest
	for _, d := range listReferrers(t, r, k, repo, subject) {
		if d.ArtifactType == notationType {
			sigs = append(sigs, d.Digest)
		}
	}
	return sigs
}

// digestOf returns the digest of a digest reference (host/repo@sha256:...).
func digestOf(ref string) digest.Digest {
	_, d, _ := strings.Cut(ref, "@")
	return digest.Digest(d)
}

// writePEMFile writes certs to a PEM file in a new temporary directory and
// returns its path.
func writePEMFile(t *testing.T, certs ...*x509.Certificate) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "certs.pem")
	if err := testpki.WritePEM(path, certs...); err != nil {
		t.Fatal(err)
	}
	return path
}
