package cosign

import (
	"context"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// FuzzSignatureParsing feeds arbitrary bytes to every parser of what a
// registry serves: signature manifests, simple signing payloads with
// their annotations (certificate, chain, Rekor bundle, timestamp), and
// Sigstore bundles. None may panic; what a parser accepts must be about
// the subject.
func FuzzSignatureParsing(f *testing.F) {
	s := newSigstore(f)
	payload := simpleSigningPayload(f, image.Digest)
	keyless := s.keylessLayer(f, signerIdentity, signerIssuer, payload, legacyParts{timestamp: true})
	signed := s.attest(f, signerIdentity, image.Digest, sigstoreSignV1Type)
	message, err := s.Sign(signerIdentity, signerIssuer, imageManifest)
	if err != nil {
		f.Fatal(err)
	}
	fetched := func(m *sigManifest) []byte {
		desc, fetcher := m.build(f)
		return fetcher.content[desc.Digest]
	}
	f.Add(fetched(s.keylessSigned(f, signerIdentity, signerIssuer, legacyParts{})), payload, keyless[AnnotationCertificate],
		keyless[AnnotationChain], keyless[AnnotationBundle], keyless[AnnotationRFC3161Timestamp], s.bundleJSON(f, signed, bundleParts{}))
	f.Add([]byte(`{"mediaType":"application/vnd.oci.image.index.v1+json"}`), []byte(`{"critical":{}}`), "", "", "{", "{}",
		s.bundleJSON(f, message, bundleParts{}))
	f.Add([]byte(`{"layers":[{"mediaType":"`+MediaTypeSimpleSigning+`","size":-1}]}`), []byte("null"), "-----BEGIN CERTIFICATE-----\n",
		"x", `{"Payload":{"body":"e30=","logID":"zz"}}`, `{"SignedRFC3161Timestamp":"AAAA"}`, []byte(`{"mediaType":"application/vnd.dev.sigstore.bundle+json;version=0.1"}`))

	v := newVerifier(f, Options{Now: func() time.Time { return time.Now().Add(time.Hour) }}, s.keylessPolicy())
	f.Fuzz(func(t *testing.T, manifest, payload []byte, cert, chain, rekorBundle, timestamp string, bundleJSON []byte) {
		layers, problem := signatureLayers(manifest)
		if problem == "" && len(layers) == 0 {
			t.Fatal("accepted a manifest without layers")
		}
		for _, l := range layers {
			if layerProblem(l) == "" && (l.Size <= 0 || l.Size > maxBundleSize || l.Digest.Validate() != nil) {
				t.Fatalf("accepted layer %+v", l)
			}
		}

		layer := ocispec.Descriptor{MediaType: MediaTypeSimpleSigning, Digest: digest.FromBytes(payload), Size: int64(len(payload)),
			Annotations: map[string]string{
				AnnotationSignature: keyless[AnnotationSignature], AnnotationCertificate: cert, AnnotationChain: chain,
				AnnotationBundle: rekorBundle, AnnotationRFC3161Timestamp: timestamp,
			}}
		legacy := parseLegacy(layer, payload, image.Digest)
		if legacy.problem == "" && legacy.legacy == nil {
			t.Fatal("legacy signature without problem or content")
		}
		bundled := parseBundle(ocispec.Descriptor{MediaType: ArtifactTypeBundle, Digest: digest.FromBytes(bundleJSON)}, bundleJSON, image.Digest)
		if bundled.problem == "" && bundled.bundle == nil {
			t.Fatal("bundle without problem or content")
		}

		// Whatever the bytes, verification answers with a report.
		for _, sig := range []sigLayer{legacy, bundled} {
			r := v.policies[0].check(sig, trust{root: v.policies[0].trusted}, subjectIn("demo"), time.Now())
			if !r.IsSuccess && r.Error == "" {
				t.Fatalf("failed signature without a reason: %+v", r)
			}
		}
		m := &sigManifest{artifactType: ArtifactTypeSignature}
		m.add(MediaTypeSimpleSigning, payload, layer.Annotations)
		desc, fetcher := m.build(t)
		if _, err := v.Verify(context.Background(), subjectIn("demo"), desc, fetcher); err != nil {
			t.Fatalf("Verify: %v", err)
		}
	})
}
