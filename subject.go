package ratify

import (
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify/errdef"
)

// maxReferenceLength bounds an image reference before it is parsed; the
// distribution spec caps a repository name at 255 characters, and tags and
// digests add fewer than 200 more.
const maxReferenceLength = 1024

// Subject is the artifact being verified: where it lives and, once resolved,
// the descriptor of its manifest.
type Subject struct {
	// Reference is the reference as it was asked for, normalized (a
	// Docker Hub short name gains its registry and "library/").
	Reference registry.Reference
	// Descriptor is the subject's manifest descriptor. Its Digest is always
	// set once the subject is resolved.
	Descriptor ocispec.Descriptor
}

// String returns the subject pinned to its digest: registry/repository@digest.
// This is the form reports carry and trust policies match scopes against.
func (s Subject) String() string {
	return fmt.Sprintf("%s/%s@%s", s.Reference.Registry, s.Reference.Repository, s.Descriptor.Digest)
}

// Repository returns the repository part of the subject's reference.
func (s Subject) Repository() registry.Reference {
	return registry.Reference{Registry: s.Reference.Registry, Repository: s.Reference.Repository}
}

// ParseReference parses an image reference the way container runtimes do:
// "nginx" means docker.io/library/nginx:latest, a tag defaults to "latest",
// and when both a tag and a digest are given the digest wins.
func ParseReference(s string) (registry.Reference, error) {
	if s == "" {
		return registry.Reference{}, fmt.Errorf("empty reference: %w", errdef.ErrInvalidReference)
	}
	if len(s) > maxReferenceLength {
		return registry.Reference{}, fmt.Errorf("reference is %d bytes, more than %d: %w", len(s), maxReferenceLength, errdef.ErrInvalidReference)
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return registry.Reference{}, fmt.Errorf("%q: reference contains white space: %w", s, errdef.ErrInvalidReference)
	}
	ref, err := registry.ParseReference(normalizeDockerHub(s))
	if err != nil {
		return registry.Reference{}, fmt.Errorf("%q: %v: %w", s, trimOrasPrefix(err), errdef.ErrInvalidReference)
	}
	if ref.Reference == "" {
		ref.Reference = "latest"
	}
	if i := strings.Index(ref.Reference, "@"); i >= 0 {
		// oras keeps "tag@digest" whole for form B; the digest decides.
		ref.Reference = ref.Reference[i+1:]
	}
	return ref, nil
}

// normalizeDockerHub adds the implicit Docker Hub registry and "library/"
// namespace to short names such as "nginx:1.27" or "bitnami/redis".
func normalizeDockerHub(s string) string {
	first, rest, found := strings.Cut(s, "/")
	if found && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return s
	}
	if !found {
		return "docker.io/library/" + s
	}
	return "docker.io/" + first + "/" + rest
}

func trimOrasPrefix(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 && strings.Contains(msg, "invalid reference") {
		return msg[i+2:]
	}
	return msg
}
