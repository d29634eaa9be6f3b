package attestation

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

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"google.golang.org/protobuf/encoding/protojson"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// imageManifest stands for the manifest of the image every test attests;
// image is its descriptor.
var imageManifest = []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[]}`)

var image = ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(imageManifest), Size: int64(len(imageManifest))}

// otherImage is an image the tests' attestations must not pass for.
var otherImage = digest.FromString("another image")

var subject = ratify.Subject{
	Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: "demo", Reference: image.Digest.String()},
	Descriptor: image,
}

// GitHub Actions' builder and the repository the tests' provenance names.
const (
	githubBuilder = "https://github.com/actions/runner/github-hosted"
	sourceRepo    = "https://github.com/example/app"
	sourceRef     = "refs/heads/main"
)

// memFetcher serves content by digest, as a store would after checking it.
type memFetcher struct {
	mu      sync.Mutex
	content map[digest.Digest][]byte
}

func (m *memFetcher) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.content[desc.Digest]
	if !ok {
		return nil, fmt.Errorf("%s: %w", desc.Digest, errdef.ErrNotFound)
	}
	return b, nil
}

// layer is one layer of a test artifact.
type layer struct {
	mediaType string
	blob      []byte
}

// referrer stores a manifest of artifact type artifactType with layers,
// and returns its descriptor, as the store hands it to verifiers.
func referrer(t testing.TB, artifactType string, layers ...layer) (ocispec.Descriptor, *memFetcher) {
	t.Helper()
	f := &memFetcher{content: map[digest.Digest][]byte{}}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: artifactType, Config: ocispec.DescriptorEmptyJSON,
		Layers: []ocispec.Descriptor{}, Subject: &image}
	m.SchemaVersion = 2
	for _, l := range layers {
		d := ocispec.Descriptor{MediaType: l.mediaType, Digest: digest.FromBytes(l.blob), Size: int64(len(l.blob))}
		m.Layers = append(m.Layers, d)
		f.content[d.Digest] = l.blob
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(raw), Size: int64(len(raw)), ArtifactType: artifactType}
	f.content[desc.Digest] = raw
	return desc, f
}

// inToto is a referrer of bare DSSE envelopes.
func inToto(t testing.TB, envelopes ...[]byte) (ocispec.Descriptor, *memFetcher) {
	var ls []layer
	for _, e := range envelopes {
		ls = append(ls, layer{MediaTypeDSSE, e})
	}
	return referrer(t, ArtifactTypeInToto, ls...)
}

// bundled is a referrer holding one Sigstore bundle.
func bundled(t testing.TB, bundleJSON []byte) (ocispec.Descriptor, *memFetcher) {
	return referrer(t, ArtifactTypeBundle, layer{ArtifactTypeBundle, bundleJSON})
}

// statement is an in-toto statement v1 about subject.
func statementJSON(t testing.TB, subject digest.Digest, predicateType string, predicate any) []byte {
	t.Helper()
	raw, err := json.Marshal(map[string]any{
		"_type":         StatementV1,
		"subject":       []map[string]any{{"name": "127.0.0.1:5000/demo", "digest": map[string]string{subject.Algorithm().String(): subject.Encoded()}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// githubProvenance is an SLSA provenance v1 predicate as GitHub's
// actions/attest-build-provenance writes it.
func githubProvenance(builder, repo, ref string) map[string]any {
	return map[string]any{
		"buildDefinition": map[string]any{
			"buildType": "https://actions.github.io/buildtypes/workflow/v1",
			"externalParameters": map[string]any{
				"workflow": map[string]any{"ref": ref, "repository": repo, "path": ".github/workflows/release.yml"},
			},
			"internalParameters": map[string]any{"github": map[string]any{"event_name": "push"}},
			"resolvedDependencies": []any{
				map[string]any{"uri": "git+" + repo + "@" + ref, "digest": map[string]string{"gitCommit": "7d2e8fbd0ea1a0e9d4a7f2ab5cf5a7aa7f6b1b1e"}},
			},
		},
		"runDetails": map[string]any{
			"builder":  map[string]any{"id": builder},
			"metadata": map[string]any{"invocationId": repo + "/actions/runs/1/attempts/1"},
		},
	}
}

// testKey is a key pair made for a test, its public key in a PEM file.
type testKey struct {
	signer signature.Signer
	pub    crypto.PublicKey
	file   string
}

// newKey makes a key pair of kind: ecdsa-p256, ecdsa-p384, ed25519,
// rsa-3072 or rsa-1024 (refused, so it gets no signer).
func newKey(t testing.TB, kind string) testKey {
	t.Helper()
	var priv crypto.Signer
	var err error
	switch kind {
	case "ecdsa-p256":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "ecdsa-p384":
		priv, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	case "ed25519":
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case "rsa-3072":
		priv, err = rsa.GenerateKey(rand.Reader, 3072)
	case "rsa-1024":
		priv, err = rsa.GenerateKey(rand.Reader, 1024)
	default:
		t.Fatalf("unknown key kind %q", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	k := testKey{pub: priv.Public()}
	hash := crypto.SHA256
	if kind == "ecdsa-p384" {
		hash = crypto.SHA384
	}
	if kind != "rsa-1024" {
		if k.signer, err = signature.LoadSigner(priv, hash); err != nil {
			t.Fatal(err)
		}
	}
	pemKey, err := cryptoutils.MarshalPublicKeyToPEM(k.pub)
	if err != nil {
		t.Fatal(err)
	}
	k.file = filepath.Join(t.TempDir(), "key.pub")
	if err := os.WriteFile(k.file, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return k
}

// envelope signs payload into a DSSE envelope (JSON) with sigstore's DSSE
// signer.
func (k testKey) envelope(t testing.TB, payload []byte) []byte {
	t.Helper()
	env, err := sigdsse.WrapSigner(k.signer, PayloadTypeInToto).SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// bundle signs payload into a Sigstore bundle v0.3 with a public key
// hint, as `cosign attest --key --new-bundle-format --tlog-upload=false`
// makes it.
func (k testKey) bundle(t testing.TB, payload []byte) []byte {
	t.Helper()
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     string `json:"payload"`
		Signatures  []struct {
			Sig string `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(k.envelope(t, payload), &env); err != nil {
		t.Fatal(err)
	}
	sig, _ := base64.StdEncoding.DecodeString(env.Signatures[0].Sig)
	b := &protobundle.Bundle{
		MediaType: ArtifactTypeBundle,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "test-key"}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{
			Payload: payload, PayloadType: env.PayloadType, Signatures: []*protodsse.Signature{{Sig: sig}}}},
	}
	raw, err := protojson.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// keyConfig trusts key files and accepts predicates.
func keyConfig(files []string, predicates ...Predicate) Config {
	c := Config{Name: "attestation-verifier", Settings: Settings{Predicates: predicates}}
	for _, f := range files {
		c.Keys = append(c.Keys, KeyRef{File: f})
	}
	return c
}

func newVerifier(t testing.TB, cfg Config, opts Options) *Verifier {
	t.Helper()
	v, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// mustVerify verifies the artifact and fails the test on an error.
func mustVerify(t testing.TB, v *Verifier, desc ocispec.Descriptor, f ratify.Fetcher) ratify.Report {
	t.Helper()
	r, err := v.Verify(context.Background(), subject, desc, f)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return r
}

// statements returns the statement results of a report.
func statements(t testing.TB, r ratify.Report) []StatementResult {
	t.Helper()
	s, ok := r.Extensions["statements"].([]StatementResult)
	if !ok {
		t.Fatalf("extensions have no statements: %#v", r.Extensions)
	}
	return s
}

func ptr[T any](v T) *T { return &v }
