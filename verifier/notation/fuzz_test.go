package notation

import (
	"context"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/internal/testpki"
)

// FuzzEnvelopeDescriptor feeds arbitrary signature manifests to the
// manifest parser: it must never panic, and what it accepts is one layer
// of a supported envelope type and bounded size.
func FuzzEnvelopeDescriptor(f *testing.F) {
	f.Add([]byte(`{"mediaType":"application/vnd.oci.image.manifest.v1+json","layers":[{"mediaType":"application/jose+json","digest":"sha256:` +
		digest.FromString("x").Encoded() + `","size":1}]}`))
	f.Add([]byte(`{"mediaType":"application/vnd.oci.artifact.manifest.v1+json","blobs":[]}`))
	f.Add([]byte(`{"layers":null}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		layer, problem := envelopeDescriptor(raw)
		if problem != "" {
			return
		}
		if layer.Size <= 0 || layer.Size > maxEnvelopeSize || layer.Digest.Validate() != nil ||
			(layer.MediaType != testpki.MediaTypeJWS && layer.MediaType != testpki.MediaTypeCOSE) {
			t.Fatalf("accepted layer %+v", layer)
		}
	})
}

// FuzzVerifyEnvelope feeds arbitrary envelope bytes, as JWS and as COSE,
// through the whole verification: the verifier must answer with a report
// (a failed one, unless the bytes are a valid signature), never panic or
// return an error, since the content was read.
func FuzzVerifyEnvelope(f *testing.F) {
	root, err := testpki.NewRootCA(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	leaf, err := root.NewCodeSigning(testpki.CertOptions{})
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	if err := testpki.WritePEM(dir+"/root.pem", root.Cert); err != nil {
		f.Fatal(err)
	}
	v, err := New(Config{VerificationCerts: []string{dir}, TrustPolicyDoc: policy()}, Options{})
	if err != nil {
		f.Fatal(err)
	}
	for _, mt := range []string{testpki.MediaTypeJWS, testpki.MediaTypeCOSE} {
		env, err := leaf.Sign(context.Background(), image, testpki.SignOptions{MediaType: mt})
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env, mt == testpki.MediaTypeCOSE)
	}
	f.Add([]byte("{}"), false)
	f.Add([]byte{0xd2, 0x84}, true)
	f.Fuzz(func(t *testing.T, env []byte, useCOSE bool) {
		if len(env) == 0 {
			return
		}
		mt := testpki.MediaTypeJWS
		if useCOSE {
			mt = testpki.MediaTypeCOSE
		}
		sig, err := testpki.NewSignature(image, mt, env)
		if err != nil {
			t.Fatal(err)
		}
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: sig.ManifestDescriptor.Digest, Size: sig.ManifestDescriptor.Size}
		r, err := v.Verify(context.Background(), subjectIn("demo"), desc, memFetcher(sig.Contents()))
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if !r.IsSuccess && r.ErrorReason == "" {
			t.Fatalf("failed report without a reason: %+v", r)
		}
	})
}
