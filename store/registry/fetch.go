package registry

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify/errdef"
)

// Manifest media types fetched from the manifest endpoint; anything else is
// a blob.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaTypeArtifactManifest   = "application/vnd.oci.artifact.manifest.v1+json"
)

var manifestMediaTypes = []string{
	ocispec.MediaTypeImageManifest,
	ocispec.MediaTypeImageIndex,
	mediaTypeDockerManifest,
	mediaTypeDockerManifestList,
	mediaTypeArtifactManifest,
}

// fetch does what Fetch says, for one caller.
func (s *Store) fetch(ctx context.Context, ref registry.Reference, desc ocispec.Descriptor) ([]byte, error) {
	repo, err := s.repository(ref)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("%s/%s@%s", ref.Registry, ref.Repository, desc.Digest)
	if err := desc.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("fetch %s: %v: %w", where, err, errdef.ErrInvalidContent)
	}
	isManifest := slices.Contains(manifestMediaTypes, desc.MediaType)
	limit, kind := s.opts.MaxBlobBytes, "blob"
	if isManifest {
		limit, kind = s.opts.MaxManifestBytes, "manifest"
	}
	if desc.Size < 0 || desc.Size > limit {
		return nil, fmt.Errorf("fetch %s: %s of %d bytes, over the limit of %d bytes: %w", where, kind, desc.Size, limit, errdef.ErrSizeExceedsLimit)
	}

	var rc io.ReadCloser
	if isManifest {
		rc, err = repo.Manifests().Fetch(ctx, desc)
	} else {
		rc, err = repo.Blobs().Fetch(ctx, desc)
	}
	if err != nil {
		return nil, classify("fetch "+where, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, desc.Size+1))
	if err != nil {
		return nil, classify("fetch "+where, err)
	}
	if int64(len(data)) != desc.Size {
		return nil, fmt.Errorf("fetch %s: registry sent %s bytes, the descriptor says %d: %w", where, sizeString(len(data), desc.Size), desc.Size, errdef.ErrInvalidContent)
	}
	if got := desc.Digest.Algorithm().FromBytes(data); got != desc.Digest {
		return nil, fmt.Errorf("fetch %s: content has digest %s: %w", where, got, errdef.ErrInvalidContent)
	}
	return data, nil
}

func sizeString(n int, size int64) string {
	if int64(n) > size {
		return fmt.Sprintf("more than %d", size)
	}
	return fmt.Sprint(n)
}

// ResolveBlob returns the descriptor of the blob dgst in ref's repository (a
// HEAD of the blob, OCI distribution-spec v1.1 "Checking if content exists
// in the registry"), for callers that know a blob only by its digest.
func (s *Store) ResolveBlob(ctx context.Context, ref registry.Reference, dgst digest.Digest) (ocispec.Descriptor, error) {
	repo, err := s.repository(ref)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	where := fmt.Sprintf("%s/%s@%s", ref.Registry, ref.Repository, dgst)
	if err := dgst.Validate(); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("resolve blob %s: %v: %w", where, err, errdef.ErrInvalidReference)
	}
	desc, err := repo.Blobs().Resolve(ctx, dgst.String())
	if err != nil {
		return ocispec.Descriptor{}, classify("resolve blob "+where, err)
	}
	return desc, nil
}
