package cosign

import (
	"context"
	"fmt"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// Verify verifies the cosign signatures of the signature manifest or
// bundle manifest artifact, attached to subject (ratify.Verifier), under
// the trust policy whose scope holds the subject's registry/repository.
// Each signature blob is fetched once and checked against every key of the
// policy, or against its keyless identity; the subject passes when at
// least one signature verifies.
//
// A signature that does not verify is a Report with IsSuccess false and a
// nil error. An error means no verdict: the manifest or a signature blob
// could not be read through content, the artifact has more than
// MaxSignatures signatures (errdef.ErrSizeExceedsLimit), a key management
// provider could not serve its keys or the policy's Sigstore trusted root
// could not be fetched through TUF, with no root fetched before to stand
// in (errdef.ErrTrustMaterialUnavailable), or ctx ended.
func (v *Verifier) Verify(ctx context.Context, subject ratify.Subject, artifact ocispec.Descriptor, content ratify.Fetcher) (ratify.Report, error) {
	repo := subject.Reference.Registry + "/" + subject.Reference.Repository
	p := v.policyFor(repo)
	if p == nil {
		return failure(fmt.Sprintf("no trust policy applies to %s", repo), "",
			"add a cosign trust policy whose scopes include the repository, or \"*\"", nil), nil
	}
	if artifact.Size > maxManifestSize {
		return ratify.Report{}, fmt.Errorf("signature manifest %s is %d bytes, more than %d: %w",
			artifact.Digest, artifact.Size, maxManifestSize, errdef.ErrSizeExceedsLimit)
	}
	raw, err := content.Fetch(ctx, artifact)
	if err != nil {
		return ratify.Report{}, fmt.Errorf("fetch signature manifest %s: %w", artifact.Digest, err)
	}
	layers, problem := signatureLayers(raw)
	if problem != "" {
		return failure("the artifact is not a cosign signature manifest", problem,
			"sign the image with cosign", &Extensions{TrustPolicy: p.name}), nil
	}
	if len(layers) > MaxSignatures {
		return ratify.Report{}, fmt.Errorf("signature manifest %s has %d signatures, more than %d: %w",
			artifact.Digest, len(layers), MaxSignatures, errdef.ErrSizeExceedsLimit)
	}
	var t trust
	if p.keyed() {
		if t.keys, err = p.keys(ctx); err != nil {
			return ratify.Report{}, err
		}
	}
	if t.root, err = p.root(ctx); err != nil {
		return ratify.Report{}, err
	}
	ext := &Extensions{TrustPolicy: p.name}
	blobs := &blobCache{content: content, blobs: map[digest.Digest][]byte{}}
	for _, layer := range layers {
		if err := ctx.Err(); err != nil {
			return ratify.Report{}, fmt.Errorf("verify signature manifest %s: %w", artifact.Digest, err)
		}
		sig, err := readSignature(ctx, layer, blobs, subject)
		if err != nil {
			return ratify.Report{}, err
		}
		ext.Signatures = append(ext.Signatures, p.check(sig, t, subject, v.now()))
	}
	return report(p, ext), nil
}

// maxCachedBlobs bounds the blobs kept during one verification, so that
// the signatures of one artifact that share a payload (cosign appends a
// layer with the same payload at every signing) fetch it once.
const maxCachedBlobs = 8 << 20

// blobCache fetches blobs through content, keeping those already fetched
// within maxCachedBlobs bytes.
type blobCache struct {
	content ratify.Fetcher
	blobs   map[digest.Digest][]byte
	size    int
}

func (c *blobCache) Fetch(ctx context.Context, desc ocispec.Descriptor) ([]byte, error) {
	if b, ok := c.blobs[desc.Digest]; ok {
		return b, nil
	}
	b, err := c.content.Fetch(ctx, desc)
	if err == nil && c.size+len(b) <= maxCachedBlobs {
		c.blobs[desc.Digest] = b
		c.size += len(b)
	}
	return b, err
}

// readSignature fetches and parses one signature layer. Only a failure to
// fetch is an error; a layer that is not a valid signature of the subject
// is a signature with a problem.
func readSignature(ctx context.Context, layer ocispec.Descriptor, content ratify.Fetcher, subject ratify.Subject) (sigLayer, error) {
	if problem := layerProblem(layer); problem != "" {
		return sigLayer{digest: layer.Digest, b64: layer.Annotations[AnnotationSignature], problem: problem}, nil
	}
	blob, err := content.Fetch(ctx, layer)
	if err != nil {
		return sigLayer{}, fmt.Errorf("fetch signature %s: %w", layer.Digest, err)
	}
	if int64(len(blob)) != layer.Size {
		return sigLayer{digest: layer.Digest, problem: fmt.Sprintf("blob is %d bytes, not the %d its descriptor says", len(blob), layer.Size)}, nil
	}
	if layer.MediaType == MediaTypeSimpleSigning {
		return parseLegacy(layer, blob, subject.Descriptor.Digest), nil
	}
	return parseBundle(layer, blob, subject.Descriptor.Digest), nil
}
