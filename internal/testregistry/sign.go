package testregistry

import (
	"context"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
)

// Sign signs subject in repo with signer (a JWS Notary Project signature,
// made by notation-go through testpki) and attaches the signature as a
// referrer: its envelope and empty config as blobs, its manifest by digest.
// It returns the signature manifest's descriptor.
func (r *Registry) Sign(t testing.TB, repo string, subject ocispec.Descriptor, signer *testpki.Certificate) ocispec.Descriptor {
	t.Helper()
	envelope, err := signer.Sign(context.Background(), subject, testpki.SignOptions{})
	if err != nil {
		t.Fatalf("testregistry: sign: %v", err)
	}
	sig, err := testpki.NewSignature(subject, testpki.MediaTypeJWS, envelope)
	if err != nil {
		t.Fatalf("testregistry: signature manifest: %v", err)
	}
	for d, c := range sig.Contents() {
		if d != sig.ManifestDescriptor.Digest {
			r.PushBlob(t, repo, "application/octet-stream", c)
		}
	}
	r.PushManifest(t, repo, "", sig.ManifestDescriptor.MediaType, sig.Manifest)
	return sig.ManifestDescriptor
}
