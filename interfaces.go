package ratify

import (
	"context"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"
)

// Store reads subjects and the artifacts attached to them from where they are
// kept (an OCI registry, an OCI layout). Implementations bound every read,
// verify content against its descriptor, and report failures to reach the
// store as errors wrapping errdef.ErrRegistryUnavailable, never as "absent".
type Store interface {
	// Resolve returns the descriptor of the manifest that ref names by tag or digest.
	Resolve(ctx context.Context, ref registry.Reference) (ocispec.Descriptor, error)
	// Referrers lists the manifests in repo whose subject is the given
	// descriptor (OCI distribution-spec v1.1 referrers).
	Referrers(ctx context.Context, repo registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error)
	// Fetch returns the content of desc (a manifest or a blob) from repo,
	// checked against the descriptor's size and digest.
	Fetch(ctx context.Context, repo registry.Reference, desc ocispec.Descriptor) ([]byte, error)
}

// Fetcher reads content from the repository of the subject being verified.
// It is what a Verifier sees of the store: content by descriptor, nothing more.
type Fetcher interface {
	Fetch(ctx context.Context, desc ocispec.Descriptor) ([]byte, error)
}

// Verifier checks artifacts of the types it knows. A verifier is pure: it
// reads the artifact through the Fetcher, checks it against trust material it
// was built with, and returns a Report.
//
// An artifact that fails verification is a Report with IsSuccess false and
// a nil error. A non-nil error means the verifier could not decide (content
// could not be read, the deadline expired); the executor never turns such an
// error into a pass.
type Verifier interface {
	// Name is the configured instance name; Type is the kind of verifier ("notation").
	Name() string
	Type() string
	// CanVerify reports whether the verifier handles artifacts of artifactType.
	CanVerify(artifactType string) bool
	Verify(ctx context.Context, subject Subject, artifact ocispec.Descriptor, content Fetcher) (Report, error)
}

// NestedVerifier is implemented by verifiers whose artifacts must have their
// own referrers verified too (an SBOM's signature). NestedReferences lists the
// artifact types to verify on the artifact itself.
type NestedVerifier interface {
	NestedReferences() []string
}

// Policy decides whether the reports on one subject let it pass.
type Policy interface {
	Decide(ctx context.Context, reports []Report) bool
}

// NestedPolicy is implemented by policies that judge a nested subject (the
// artifact whose own referrers a verifier asked to verify) by the artifact
// types that were asked for, rather than by everything the policy requires
// of a top-level subject.
type NestedPolicy interface {
	DecideNested(ctx context.Context, reports []Report, types []string) bool
}
