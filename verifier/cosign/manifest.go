package cosign

import (
	"encoding/json"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Limits on what a registry controls, checked before anything is read.
const (
	// MaxSignatures bounds the signatures (layers) of one artifact; cosign
	// appends one layer per signing to the same sha256-<hex>.sig manifest.
	MaxSignatures = 100
	// maxManifestSize bounds a signature manifest (the OCI image-spec's
	// recommended manifest limit).
	maxManifestSize = 4 << 20
	// maxPayloadSize bounds a simple signing payload; cosign's are a few
	// hundred bytes plus the annotations given with -a.
	maxPayloadSize = 1 << 20
	// maxBundleSize bounds a Sigstore bundle layer.
	maxBundleSize = 8 << 20
)

// mediaTypeDockerManifest is the Docker image manifest v2 schema 2, in
// which cosign stores signatures on registries that predate OCI
// manifests.
const mediaTypeDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"

// signatureLayers reads a signature manifest and returns its layers, one
// signature each. A non-empty problem says why raw is not a signature
// manifest.
func signatureLayers(raw []byte) ([]ocispec.Descriptor, string) {
	var m struct {
		MediaType string               `json:"mediaType"`
		Layers    []ocispec.Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Sprintf("manifest does not parse: %v", err)
	}
	switch m.MediaType {
	case ocispec.MediaTypeImageManifest, mediaTypeDockerManifest, "":
	default:
		return nil, fmt.Sprintf("manifest media type %q is not an OCI or Docker image manifest", m.MediaType)
	}
	if len(m.Layers) == 0 {
		return nil, "manifest has no layers, so no signature"
	}
	return m.Layers, ""
}

// layerProblem checks a signature layer's descriptor before its blob is
// fetched: a known media type, a valid digest, a size within bounds.
func layerProblem(layer ocispec.Descriptor) string {
	limit := int64(maxPayloadSize)
	switch {
	case layer.MediaType == MediaTypeSimpleSigning:
	case isBundleType(layer.MediaType):
		limit = maxBundleSize
	default:
		return fmt.Sprintf("layer media type %q is neither a cosign simple signing payload (%s) nor a Sigstore bundle",
			layer.MediaType, MediaTypeSimpleSigning)
	}
	switch {
	case layer.Digest.Validate() != nil:
		return fmt.Sprintf("layer digest %q is not valid", layer.Digest)
	case layer.Size <= 0 || layer.Size > limit:
		return fmt.Sprintf("layer size %d is not between 1 and %d bytes", layer.Size, limit)
	}
	return ""
}

// isBundleType reports whether mt is a Sigstore bundle media type that
// sigstore-go reads (bundle v0.1 to v0.3).
func isBundleType(mt string) bool {
	switch mt {
	case ArtifactTypeBundle, ArtifactTypeBundleV02, ArtifactTypeBundleV01:
		return true
	}
	return false
}
