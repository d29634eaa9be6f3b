package cosign_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/payload"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/verifier/cosign"
)

// contents serves content by digest, standing in for a registry store.
type contents map[digest.Digest][]byte

func (c contents) Fetch(_ context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := c[desc.Digest]; ok {
		return b, nil
	}
	return nil, fmt.Errorf("%s: not found", desc.Digest)
}

// Verify a cosign signature, made with a key pair as `cosign sign --key`
// makes it, on an image in 127.0.0.1:5000/demo, under a trust policy that
// trusts the public key file.
func ExampleVerifier_Verify() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "cosign")
	defer os.RemoveAll(dir)

	// The signer's key pair; the verifier gets the public key as a PEM file.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, _ := cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	_ = os.WriteFile(filepath.Join(dir, "cosign.pub"), pub, 0o600)

	noTLog := false
	v, err := cosign.New(cosign.Config{
		Name: "cosign-verifier",
		Settings: cosign.Settings{TrustPolicies: []cosign.TrustPolicy{{
			Name:   "demo",
			Scopes: []string{"127.0.0.1:5000/demo"},
			Keys:   []cosign.KeyRef{{File: "cosign.pub"}},
			// Signed with `cosign sign --tlog-upload=false`: no log entry.
			TLogVerify: &noTLog,
		}}},
	}, cosign.Options{BaseDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}

	// The signature: a simple signing payload naming the image digest,
	// signed, in a layer of the signature manifest under sha256-<hex>.sig.
	image := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("image"), Size: 5}
	ref, _ := name.NewDigest("127.0.0.1:5000/demo@" + image.Digest.String())
	p, _ := payload.Cosign{Image: ref}.MarshalJSON()
	signer, _ := signature.LoadSigner(priv, crypto.SHA256)
	sig, _ := signer.SignMessage(bytes.NewReader(p))
	layer := ocispec.Descriptor{
		MediaType:   cosign.MediaTypeSimpleSigning,
		Digest:      digest.FromBytes(p),
		Size:        int64(len(p)),
		Annotations: map[string]string{cosign.AnnotationSignature: base64.StdEncoding.EncodeToString(sig)},
	}
	manifest, _ := json.Marshal(ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Layers: []ocispec.Descriptor{layer}})
	sigManifest := ocispec.Descriptor{
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: cosign.ArtifactTypeSignature,
		Digest:       digest.FromBytes(manifest),
		Size:         int64(len(manifest)),
	}
	store := contents{sigManifest.Digest: manifest, layer.Digest: p}

	subject := ratify.Subject{
		Reference:  registry.Reference{Registry: "127.0.0.1:5000", Repository: "demo", Reference: image.Digest.String()},
		Descriptor: image,
	}
	report, err := v.Verify(ctx, subject, sigManifest, store)
	if err != nil {
		fmt.Println("could not verify:", err)
		return
	}
	fmt.Println(report.IsSuccess, report.Message)
	fmt.Println(report.Extensions["trustPolicy"])
	// Output:
	// true cosign verification success: 1 of 1 signatures verified under trust policy "demo"
	// demo
}
