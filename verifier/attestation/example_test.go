package attestation_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	sigdsse "github.com/sigstore/sigstore/pkg/signature/dsse"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/verifier/attestation"
)

// contents serves content by digest, standing in for a registry store.
type contents map[digest.Digest][]byte

func (c contents) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := c[desc.Digest]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s: not found", desc.Digest)
}

// Verify the SLSA provenance of an image: an in-toto statement signed
// with a key in a DSSE envelope, attached as a referrer, checked for the
// builder and the source repository it names.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "attestation")
	defer os.RemoveAll(dir)

	// The builder's key pair; the verifier gets the public key as a PEM file.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	_ = os.WriteFile(filepath.Join(dir, "builder.pub"), pub, 0o600)

	var cfg attestation.Config
	_ = json.Unmarshal([]byte(`{
		"name": "provenance",
		"artifactTypes": "application/vnd.in-toto+json",
		"keys": [{"file": "builder.pub"}],
		"predicates": [{"predicateType": "https://slsa.dev/provenance/v1",
			"slsa": {"builderID": "https://github.com/actions/runner/github-hosted", "sourceRepository": "github.com/example/app"}}]
	}`), &cfg)
	v, err := attestation.New(cfg, attestation.Options{BaseDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The image, and its provenance signed by the builder.
	image := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image manifest"), Size: 14}
	statement, _ := json.Marshal(map[string]any{
		"_type":         "https://in-toto.io/Statement/v1",
		"subject":       []any{map[string]any{"name": "127.0.0.1:5000/demo", "digest": map[string]string{"sha256": image.Digest.Encoded()}}},
		"predicateType": "https://slsa.dev/provenance/v1",
		"predicate": map[string]any{
			"buildDefinition": map[string]any{"externalParameters": map[string]any{
				"workflow": map[string]any{"repository": "https://github.com/example/app", "ref": "refs/heads/main"}}},
			"runDetails": map[string]any{"builder": map[string]any{"id": "https://github.com/actions/runner/github-hosted"}},
		},
	})
	signer, _ := signature.LoadECDSASignerVerifier(priv, crypto.SHA256)
	envelope, _ := sigdsse.WrapSigner(signer, "application/vnd.in-toto+json").SignMessage(bytes.NewReader(statement))

	layer := ocispec.Descriptor{MediaType: attestation.MediaTypeDSSE, Digest: digest.FromBytes(envelope), Size: int64(len(envelope))}
	manifest, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: attestation.ArtifactTypeInToto,
		Config: ocispec.DescriptorEmptyJSON, Layers: []ocispec.Descriptor{layer}, Subject: &image})
	artifact := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromBytes(manifest), Size: int64(len(manifest)),
		ArtifactType: attestation.ArtifactTypeInToto}
	store := contents{artifact.Digest: manifest, layer.Digest: envelope}

	subject := ratify.Subject{Reference: registry.Reference{Registry: "127.0.0.1:5000", Repository: "demo"}, Descriptor: image}
	r, err := v.Verify(ctx, subject, artifact, store)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.IsSuccess, r.Extensions["matchedPredicates"])
	for _, c := range r.Extensions["statements"].([]attestation.StatementResult)[0].Checks {
		fmt.Println(c)
	}
	// Output:
	// true [https://slsa.dev/provenance/v1]
	// builderID is https://github.com/actions/runner/github-hosted
	// sourceRepository is https://github.com/example/app (externalParameters.workflow)
}
