package testpki

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	"github.com/notaryproject/notation-core-go/signature"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// ArtifactTypeNotation is the artifact type of a Notary Project signature
// manifest (Notary Project signature specification, "Storage").
const ArtifactTypeNotation = "application/vnd.cncf.notary.signature"

// AnnotationThumbprints is the signature manifest annotation listing the
// SHA-256 thumbprints of the signing certificate chain, as notation sets it.
const AnnotationThumbprints = "io.cncf.notary.x509chain.thumbprint#S256"

// Signature is a signature envelope and the OCI image manifest that
// attaches it to its subject, ready to be served by a registry or an
// in-memory fetcher.
type Signature struct {
	Envelope []byte
	// EnvelopeDescriptor describes the envelope blob (the manifest's layer).
	EnvelopeDescriptor ocispec.Descriptor
	Manifest           []byte
	// ManifestDescriptor describes the manifest as the referrers API lists
	// it: media type, digest, size and artifact type.
	ManifestDescriptor ocispec.Descriptor
}

// NewSignature builds the signature manifest of the Notary Project
// signature specification ("Storage", OCI image manifest form): artifactType
// application/vnd.cncf.notary.signature, the empty config
// application/vnd.oci.empty.v1+json, one layer holding the envelope of
// mediaType, and subject set to the signed descriptor. When the envelope
// can be parsed, the manifest carries the certificate thumbprints and
// signing time annotations notation adds; an unparsable envelope (for
// tamper tests) gets a manifest without them.
func NewSignature(subject ocispec.Descriptor, mediaType string, envelope []byte) (*Signature, error) {
	layer := ocispec.Descriptor{
		MediaType: mediaType,
		Digest:    digest.FromBytes(envelope),
		Size:      int64(len(envelope)),
	}
	config := ocispec.DescriptorEmptyJSON
	config.Data = nil
	subj := ocispec.Descriptor{MediaType: subject.MediaType, Digest: subject.Digest, Size: subject.Size}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactTypeNotation,
		Config:       config,
		Layers:       []ocispec.Descriptor{layer},
		Subject:      &subj,
		Annotations:  envelopeAnnotations(mediaType, envelope),
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	return &Signature{
		Envelope:           envelope,
		EnvelopeDescriptor: layer,
		Manifest:           raw,
		ManifestDescriptor: ocispec.Descriptor{
			MediaType:    ocispec.MediaTypeImageManifest,
			ArtifactType: ArtifactTypeNotation,
			Digest:       digest.FromBytes(raw),
			Size:         int64(len(raw)),
		},
	}, nil
}

// envelopeAnnotations returns the thumbprint and creation-time annotations
// for a parsable envelope, nil otherwise.
func envelopeAnnotations(mediaType string, envelope []byte) map[string]string {
	env, err := signature.ParseEnvelope(mediaType, envelope)
	if err != nil {
		return nil
	}
	content, err := env.Content()
	if err != nil {
		return nil
	}
	thumbprints := make([]string, 0, len(content.SignerInfo.CertificateChain))
	for _, c := range content.SignerInfo.CertificateChain {
		sum := sha256.Sum256(c.Raw)
		thumbprints = append(thumbprints, hex.EncodeToString(sum[:]))
	}
	list, err := json.Marshal(thumbprints)
	if err != nil {
		return nil
	}
	return map[string]string{
		AnnotationThumbprints:     string(list),
		ocispec.AnnotationCreated: content.SignerInfo.SignedAttributes.SigningTime.UTC().Format(time.RFC3339),
	}
}

// Contents returns every piece of content the signature needs, by digest:
// the manifest, the envelope and the empty config.
func (s *Signature) Contents() map[digest.Digest][]byte {
	return map[digest.Digest][]byte{
		s.ManifestDescriptor.Digest:        s.Manifest,
		s.EnvelopeDescriptor.Digest:        s.Envelope,
		ocispec.DescriptorEmptyJSON.Digest: ocispec.DescriptorEmptyJSON.Data,
	}
}
