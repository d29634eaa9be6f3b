package notation

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/notaryproject/notation-core-go/signature/cose"
	"github.com/notaryproject/notation-core-go/signature/jws"
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
)

// maxEnvelopeSize bounds a signature envelope, as notation-go bounds
// signature blobs it reads from a registry.
const maxEnvelopeSize = 32 << 20

// mediaTypeArtifactManifest is the retired OCI artifact manifest, in which
// early Notation versions stored signatures (under "blobs").
const mediaTypeArtifactManifest = "application/vnd.oci.artifact.manifest.v1+json"

// Verify verifies the Notary Project signature whose manifest is artifact,
// attached to subject (ratify.Verifier). It reads the manifest and its one
// envelope layer, JWS or COSE, as the Notary Project signature
// specification ("Storage") lays them out, and runs the "Signature
// Verification" steps of the trust store and trust policy specification
// under the trust policy whose registryScopes name the subject's
// registry/repository.
//
// A signature that does not verify is a Report with IsSuccess false and a
// nil error. An error means no verdict: the signature could not be read
// through content, the revocation status of a certificate could not be
// determined, or ctx ended.
func (v *Verifier) Verify(ctx context.Context, subject ratify.Subject, artifact ocispec.Descriptor, content ratify.Fetcher) (ratify.Report, error) {
	ref := subject.String()
	policy, err := v.policy.GetApplicableTrustPolicy(ref)
	if err != nil {
		repo := subject.Repository()
		return failure(fmt.Sprintf("no trust policy applies to %s/%s", repo.Registry, repo.Repository), err.Error(),
			"add a trust policy whose registryScopes include the repository, or \"*\""), nil
	}
	if policy.SignatureVerification.VerificationLevel == trustpolicy.LevelSkip.Name {
		return ratify.Report{
			IsSuccess: true,
			Message:   fmt.Sprintf("signature verification skipped: trust policy %q has verification level skip", policy.Name),
		}, nil
	}

	raw, err := content.Fetch(ctx, artifact)
	if err != nil {
		return ratify.Report{}, fmt.Errorf("fetch signature manifest %s: %w", artifact.Digest, err)
	}
	layer, problem := envelopeDescriptor(raw)
	if problem != "" {
		return failure("the signature manifest is not a Notary Project signature manifest", problem,
			"re-sign the artifact with a Notary Project signer such as notation"), nil
	}
	envelope, err := content.Fetch(ctx, layer)
	if err != nil {
		return ratify.Report{}, fmt.Errorf("fetch signature envelope %s: %w", layer.Digest, err)
	}

	outcome, err := v.notation.Verify(ctx, subject.Descriptor, envelope, notation.VerifierVerifyOptions{
		ArtifactReference:  ref,
		SignatureMediaType: layer.MediaType,
	})
	if err == nil && outcome != nil {
		return success(outcome, policy), nil
	}
	if ctx.Err() != nil {
		return ratify.Report{}, fmt.Errorf("verify signature %s: %w (%v)", artifact.Digest, ctx.Err(), err)
	}
	if outcome == nil {
		return ratify.Report{}, fmt.Errorf("verify signature %s: %w", artifact.Digest, err)
	}
	return failed(subject, policy, outcome, err)
}

// envelopeDescriptor finds the one envelope of a signature manifest; a
// non-empty problem says why raw is not a signature manifest.
func envelopeDescriptor(raw []byte) (ocispec.Descriptor, string) {
	var m struct {
		MediaType string               `json:"mediaType"`
		Layers    []ocispec.Descriptor `json:"layers"`
		Blobs     []ocispec.Descriptor `json:"blobs"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return ocispec.Descriptor{}, fmt.Sprintf("manifest does not parse: %v", err)
	}
	layers := m.Layers
	switch m.MediaType {
	case ocispec.MediaTypeImageManifest, "":
	case mediaTypeArtifactManifest:
		layers = m.Blobs
	default:
		return ocispec.Descriptor{}, fmt.Sprintf("manifest media type %q is not an OCI image manifest", m.MediaType)
	}
	if len(layers) != 1 {
		return ocispec.Descriptor{}, fmt.Sprintf("manifest has %d layers; a signature manifest has exactly one, the envelope", len(layers))
	}
	layer := layers[0]
	switch {
	case layer.MediaType != jws.MediaTypeEnvelope && layer.MediaType != cose.MediaTypeEnvelope:
		return ocispec.Descriptor{}, fmt.Sprintf("envelope media type %q is neither %q nor %q", layer.MediaType, jws.MediaTypeEnvelope, cose.MediaTypeEnvelope)
	case layer.Digest.Validate() != nil:
		return ocispec.Descriptor{}, fmt.Sprintf("envelope digest %q is not valid", layer.Digest)
	case layer.Size <= 0 || layer.Size > maxEnvelopeSize:
		return ocispec.Descriptor{}, fmt.Sprintf("envelope size %d is not between 1 and %d bytes", layer.Size, maxEnvelopeSize)
	}
	return layer, ""
}

// failure is a report on a signature that did not verify.
func failure(reason, detail, remediation string) ratify.Report {
	r := ratify.Report{
		Message:     "signature verification failed: " + reason,
		ErrorReason: reason,
		Remediation: remediation,
	}
	if detail != "" {
		r.ErrorReason += ": " + detail
	}
	return r
}
