package sbom

import (
	"encoding/json"
	"fmt"
	"mime"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// maxManifestSize bounds the artifact's manifest (the OCI image-spec's
// recommended manifest limit).
const maxManifestSize = 4 << 20

// mediaTypeArtifactManifest is the retired OCI artifact manifest, which
// early oras versions pushed (its files under "blobs").
const mediaTypeArtifactManifest = "application/vnd.oci.artifact.manifest.v1+json"

// genericLayerTypes are the media types under which tools store a document
// as it is, without saying what it is: oras's default for a file given
// without a media type (the file's bytes, despite the tar in the name),
// and the generic binary and JSON types.
var genericLayerTypes = []string{ocispec.MediaTypeImageLayer, "application/octet-stream", "application/json"}

// artifact is what the verifier reads of an artifact's manifest.
type artifact struct {
	// artifactType is the manifest's artifactType or, for manifests
	// pushed before image-spec v1.1, its config's media type.
	artifactType string
	layers       []ocispec.Descriptor
}

// readManifest parses an artifact manifest: an OCI image manifest, or the
// retired OCI artifact manifest. A non-empty problem says why raw is not
// one.
func readManifest(raw []byte) (artifact, string) {
	var m struct {
		MediaType    string               `json:"mediaType"`
		ArtifactType string               `json:"artifactType"`
		Config       *ocispec.Descriptor  `json:"config"`
		Layers       []ocispec.Descriptor `json:"layers"`
		Blobs        []ocispec.Descriptor `json:"blobs"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return artifact{}, fmt.Sprintf("manifest does not parse: %v", err)
	}
	a := artifact{artifactType: m.ArtifactType, layers: m.Layers}
	switch m.MediaType {
	case ocispec.MediaTypeImageManifest, "":
		if a.artifactType == "" && m.Config != nil && m.Config.MediaType != ocispec.MediaTypeEmptyJSON &&
			m.Config.MediaType != ocispec.MediaTypeImageConfig {
			a.artifactType = m.Config.MediaType
		}
	case mediaTypeArtifactManifest:
		a.layers = m.Blobs
	default:
		return artifact{}, fmt.Sprintf("manifest media type %q is not an OCI image manifest", m.MediaType)
	}
	return a, ""
}

// documentLayer finds the one layer of a that holds a document of
// mediaType: a layer of that media type (parameters aside) or of a
// generic one. A non-empty problem says why there is not exactly one, or
// why its descriptor cannot be right.
func documentLayer(a artifact, mediaType string) (ocispec.Descriptor, string) {
	var found []ocispec.Descriptor
	var types []string
	for _, l := range a.layers {
		base, _, _ := mime.ParseMediaType(l.MediaType)
		if base == mediaType || slices.Contains(genericLayerTypes, base) {
			found = append(found, l)
		}
		types = append(types, fmt.Sprintf("%q", l.MediaType))
	}
	switch {
	case len(found) == 0 && len(a.layers) == 0:
		return ocispec.Descriptor{}, "the manifest has no layer, so no document"
	case len(found) == 0:
		return ocispec.Descriptor{}, fmt.Sprintf("no layer is a %s document: layer media types %s", mediaType, strings.Join(types, ", "))
	case len(found) > 1:
		return ocispec.Descriptor{}, fmt.Sprintf("%d layers could each be the %s document; attach one document per artifact", len(found), mediaType)
	}
	l := found[0]
	switch {
	case l.Digest.Validate() != nil:
		return ocispec.Descriptor{}, fmt.Sprintf("layer digest %q is not valid", l.Digest)
	case l.Size <= 0:
		return ocispec.Descriptor{}, fmt.Sprintf("layer size %d is not positive", l.Size)
	}
	return l, ""
}
