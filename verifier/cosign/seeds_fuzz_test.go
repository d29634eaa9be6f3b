//go:build fuzzseeds

package cosign

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// TestWriteFuzzSeeds rewrites the seed corpus of FuzzSignatureParsing in
// testdata/fuzz from real signatures of sigstore-go's virtual Sigstore, in
// the three ways cosign stores them: a keyless simple signing layer under
// the sha256-<hex>.sig tag (certificate, chain, Rekor bundle, RFC 3161
// timestamp annotations), a key-signed layer in an OCI 1.1 referrer whose
// Rekor entry is a hashedrekord, and Sigstore bundles v0.1, v0.2 and v0.3
// (DSSE and message signature). The virtual Sigstore is new on each run,
// so the committed signatures are trusted by no root the target builds.
// Run it with `go test -tags fuzzseeds -run TestWriteFuzzSeeds` after changing the parsers.
func TestWriteFuzzSeeds(t *testing.T) {
	s := newSigstore(t)
	fetched := func(m *sigManifest) []byte {
		desc, fetcher := m.build(t)
		return fetcher.content[desc.Digest]
	}
	payload := simpleSigningPayload(t, image.Digest)

	keyless := s.keylessLayer(t, signerIdentity, signerIssuer, payload, legacyParts{timestamp: true})
	legacy := &sigManifest{artifactType: ArtifactTypeSignature}
	legacy.add(MediaTypeSimpleSigning, payload, keyless)
	dsse := s.bundleJSON(t, s.attest(t, signerIdentity, image.Digest, sigstoreSignV1Type), bundleParts{})
	writeSeed(t, "keyless-tag-schema", fetched(legacy), payload, keyless[AnnotationCertificate], keyless[AnnotationChain],
		keyless[AnnotationBundle], keyless[AnnotationRFC3161Timestamp], dsse)

	k := newKey(t, "ecdsa-p256")
	b64sig := k.sign(t, payload)
	// cosign sign --registry-referrers-mode=oci-1-1: the empty config and
	// a subject.
	config := ocispec.DescriptorEmptyJSON
	config.Data = nil
	referrer := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: ArtifactTypeSignature, Config: config,
		Layers: []ocispec.Descriptor{{MediaType: MediaTypeSimpleSigning, Digest: digest.FromBytes(payload), Size: int64(len(payload)),
			Annotations: map[string]string{AnnotationSignature: b64sig}}}, Subject: &image}
	referrer.SchemaVersion = 2
	referrerJSON, err := json.Marshal(referrer)
	if err != nil {
		t.Fatal(err)
	}
	rekord := s.rekorBundleAnnotation(t, s.hashedRekord(t, k, payload, b64sig))
	message, err := s.Sign(signerIdentity, signerIssuer, imageManifest)
	if err != nil {
		t.Fatal(err)
	}
	v3 := s.bundleJSON(t, message, bundleParts{})
	writeSeed(t, "key-signed-referrer", referrerJSON, payload, "", "", rekord, "", v3)

	noChain := s.keylessLayer(t, signerIdentity, signerIssuer, payload, legacyParts{noChain: true, noBundle: true})
	v01 := s.bundleJSON(t, message, bundleParts{mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.1", noProof: true})
	writeSeed(t, "bundle-v0.1", fetched(bundleManifest(v01, "application/vnd.dev.sigstore.bundle+json;version=0.1")), payload,
		noChain[AnnotationCertificate], "", "", "", v01)
	v02 := s.bundleJSON(t, s.attest(t, signerIdentity, image.Digest, sigstoreSignV1Type),
		bundleParts{mediaType: "application/vnd.dev.sigstore.bundle+json;version=0.2"})
	writeSeed(t, "bundle-v0.2", fetched(bundleManifest(v02, "application/vnd.dev.sigstore.bundle+json;version=0.2")), payload,
		"", "", "", "", v02)
	writeSeed(t, "bundle-v0.3-dsse", fetched(bundleManifest(dsse, "")), statement(image.Digest, sigstoreSignV1Type),
		"", "", "", "", dsse)
}

// writeSeed writes one file of FuzzSignatureParsing's seed corpus,
// testdata/fuzz/FuzzSignatureParsing/<name>, in the "go test fuzz v1"
// format: the target's arguments in order.
func writeSeed(t *testing.T, name string, manifest, payload []byte, cert, chain, rekorBundle, timestamp string, bundleJSON []byte) {
	t.Helper()
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range []any{manifest, payload, cert, chain, rekorBundle, timestamp, bundleJSON} {
		switch v := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		}
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzSignatureParsing")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
