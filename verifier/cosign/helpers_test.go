package cosign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// imageManifest stands for the manifest of the image every test signs;
// image is its descriptor.
var imageManifest = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`)

var image = ocispec.Descriptor{
	MediaType: ocispec.MediaTypeImageManifest,
	Digest:    digest.FromBytes(imageManifest),
	Size:      int64(len(imageManifest)),
}

// otherImage is an image the tests' signatures must not pass for.
var otherImage = digest.FromString("another image")

// subjectIn returns the image as a subject in repository repo of the test
// registry 127.0.0.1:5000.
func subjectIn(repo string) ratify.Subject {
	return ratify.Subject{
		Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: repo, Reference: image.Digest.String()},
		Descriptor: image,
	}
}

// memFetcher serves content by digest, as a store would after checking
// it, and counts the fetches of each digest.
type memFetcher struct {
	mu      sync.Mutex
	content map[digest.Digest][]byte
	fetched map[digest.Digest]int
	// fail, when set, is returned for every blob (not manifest) fetch.
	fail error
}

func newFetcher() *memFetcher {
	return &memFetcher{content: map[digest.Digest][]byte{}, fetched: map[digest.Digest]int{}}
}

func (m *memFetcher) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.fetched[desc.Digest]++
	if m.fail != nil && desc.MediaType != ocispec.MediaTypeImageManifest {
		return nil, m.fail
	}
	b, ok := m.content[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return b, nil
}

// sigManifest builds a signature manifest: layers with their blobs.
type sigManifest struct {
	artifactType string
	layers       []ocispec.Descriptor
	blobs        [][]byte
}

// add appends a layer.
func (s *sigManifest) add(mediaType string, blob []byte, annotations map[string]string) {
	s.layers = append(s.layers, ocispec.Descriptor{
		MediaType:   mediaType,
		Digest:      digest.FromBytes(blob),
		Size:        int64(len(blob)),
		Annotations: annotations,
	})
	s.blobs = append(s.blobs, blob)
}

// build stores the manifest and its blobs in a fetcher and returns the
// manifest's descriptor, as the store hands it to the verifier.
func (s *sigManifest) build(t testing.TB) (ocispec.Descriptor, *memFetcher) {
	t.Helper()
	f := newFetcher()
	config := []byte("{}")
	m := ocispec.Manifest{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: s.artifactType,
		Config:       ocispec.Descriptor{MediaType: "application/vnd.oci.image.config.v1+json", Digest: digest.FromBytes(config), Size: 2},
		Layers:       s.layers,
	}
	m.SchemaVersion = 2
	if s.artifactType != ArtifactTypeSignature {
		m.Subject = &image
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range s.blobs {
		f.content[s.layers[i].Digest] = b
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw)), ArtifactType: s.artifactType}
	f.content[desc.Digest] = raw
	return desc, f
}

// testKey is a key pair made for a test, with its public key in a PEM
// file as cosign generate-key-pair writes it.
type testKey struct {
	signer signature.Signer
	pub    crypto.PublicKey
	file   string
}

// newKey makes a key pair of kind: ecdsa-p256, ecdsa-p384, ecdsa-p224,
// rsa-1024, rsa-3072 or ed25519.
func newKey(t testing.TB, kind string) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "ecdsa-p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ecdsa-p224":
		priv, err = ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	case "rsa-1024":
		priv, err = rsa.GenerateKey(rand.Reader, 1024)
	case "rsa-3072":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	k := testKey{pub: priv.Public()}
	if kind != "ecdsa-p224" && kind != "rsa-1024" {
		if k.signer, err = signature.LoadSigner(priv, crypto.SHA256); err != nil {
			t.Fatal(err)
		}
	}
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	if err != nil {
		t.Fatal(err)
	}
	k.file = filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(k.file, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// sign signs message as cosign does, returning the base64 signature.
func (k testKey) sign(t testing.TB, message []byte) string {
	t.Helper()
	sig, err := k.signer.SignMessage(bytes.NewReader(message))
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// simpleSigningPayload is cosign's payload for the image with digest d in
// 127.0.0.1:5000/demo.
func simpleSigningPayload(t testing.TB, d digest.Digest) []byte {
	t.Helper()
	ref, err := name.NewDigest("127.0.0.1:5000/demo@" + d.String())
	if err != nil {
		t.Fatal(err)
	}
	p, err := payload.Cosign{Image: ref}.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// keySigned returns a signature manifest with one key-signed layer per
// key, each over the image's payload.
func keySigned(t testing.TB, ks ...testKey) *sigManifest {
	t.Helper()
	m := &sigManifest{artifactType: ArtifactTypeSignature}
	p := simpleSigningPayload(t, image.Digest)
	for _, k := range ks {
		m.add(MediaTypeSimpleSigning, p, map[string]string{AnnotationSignature: k.sign(t, p)})
	}
	return m
}

// keyPolicy is a trust policy for 127.0.0.1:5000/demo trusting key files,
// without the transparency log (the test signatures have no log entry).
func keyPolicy(files ...string) TrustPolicy {
	p := TrustPolicy{Name: "demo", Scopes: []string{"127.0.0.1:5000/demo"}, TLogVerify: ptr(false)}
	for _, f := range files {
		p.Keys = append(p.Keys, KeyRef{File: f})
	}
	return p
}

func newVerifier(t testing.TB, opts Options, policies ...TrustPolicy) *Verifier {
	t.Helper()
	v, err := New(Config{Name: "cosign-verifier", Settings: Settings{TrustPolicies: policies}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustVerify verifies the artifact and fails the test on an error.
func mustVerify(t testing.TB, v *Verifier, repo string, desc ocispec.Descriptor, f ratify.Fetcher) ratify.Report {
	t.Helper()
	r, err := v.Verify(context.Background(), subjectIn(repo), desc, f)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

// signatures returns the signature results of a report.
func signatures(t testing.TB, r ratify.Report) []SignatureResult {
	t.Helper()
	s, ok := r.Extensions["signatures"].([]SignatureResult)
	if !ok {
		t.Fatalf("extensions have no signatures: %#v", r.Extensions)
	}
	return s
}

func ptr[T any](v T) *T { return &v }
