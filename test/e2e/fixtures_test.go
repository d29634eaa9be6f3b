package e2e

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
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

// trustConfig describes the config.json a test verifies with.
type trustConfig struct {
	// CA are the certificates of the trust policy's "ca" trust store.
	CA []*x509.Certificate
	// TSA, when set, is the root of a "tsa" trust store, and the trust
	// policy verifies timestamps always.
	TSA *x509.Certificate
	// Rule is configPolicy's rule for Notary Project signatures, "any"
	// (when empty) or "all".
	Rule string
	// Scopes are the trust policy's registryScopes; nil means "*".
	Scopes []string
}

// writeConfig writes a config.json for c, and its certificates, into a new
// temporary directory and returns the file's path. The paths in the file
// are relative to it.
func writeConfig(t *testing.T, c trustConfig) string {
	t.Helper()
	dir := t.TempDir()
	certDir, stores := writeTrustStores(t, dir, c)
	verification := map[string]string{"level": "strict"}
	if c.TSA != nil {
		verification["verifyTimestamp"] = "always"
	}
	rule, scopes := c.Rule, c.Scopes
	if rule == "" {
		rule = "any"
	}
	if scopes == nil {
		scopes = []string{"*"}
	}
	cfg := map[string]any{
		"store": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{"name": "oras", "useHttp": true}}},
		"policy": map[string]any{"version": "1.0.0", "plugin": map[string]any{
			"name":                         "configPolicy",
			"artifactVerificationPolicies": map[string]string{notationType: rule},
		}},
		"verifier": map[string]any{"version": "1.0.0", "plugins": []any{map[string]any{
			"name":              "notation",
			"artifactTypes":     notationType,
			"verificationCerts": []string{certDir},
			"trustPolicyDoc": map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
				"name":                  "e2e",
				"registryScopes":        scopes,
				"signatureVerification": verification,
				"trustStores":           stores,
				"trustedIdentities":     []string{"*"},
			}}},
		}}},
		"crl": map[string]any{"cache": map[string]bool{"enabled": false}},
	}
	data := must(json.MarshalIndent(cfg, "", "  "))(t)
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeTrustStores writes c's certificates under dir and returns the
// directory to name in verificationCerts and the trust stores of the trust
// policy. Without a TSA the certificates are a flat directory ("certs",
// serving the trust store "ca:certs"); with one, a Notation trust store
// layout ("truststore/ca/trusted" and "truststore/tsa/tsa").
func writeTrustStores(t *testing.T, dir string, c trustConfig) (string, []string) {
	t.Helper()
	certDir, stores := "certs", []string{"ca:certs"}
	caDir := filepath.Join(dir, certDir)
	if c.TSA != nil {
		certDir, stores = "truststore", []string{"ca:trusted", "tsa:tsa"}
		caDir = filepath.Join(dir, certDir, "ca", "trusted")
		if err := testpki.WritePEM(filepath.Join(dir, certDir, "tsa", "tsa", "root.pem"), c.TSA); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(caDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, cert := range c.CA {
		if err := testpki.WritePEM(filepath.Join(caDir, fmt.Sprintf("ca-%d.pem", i)), cert); err != nil {
			t.Fatal(err)
		}
	}
	return certDir, stores
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
