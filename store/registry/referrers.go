package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	orasdef "oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/openratify/ratify/errdef"
)

// CosignArtifactType is the artifact type given to cosign signatures found
// under their "sha256-<hex>.sig" tag, which carry none of their own.
const CosignArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// maxReferrerPages bounds the requests for pages of one referrers listing
// (retries included). Registries page by 100 or more, so real listings
// reach Options.MaxReferrers long before this.
const maxReferrerPages = 64

// pageBudget counts the referrers pages one listing may still request.
type pageBudget struct{ left atomic.Int32 }

type pageBudgetKey struct{}

func withPageBudget(ctx context.Context, n int32) context.Context {
	b := &pageBudget{}
	b.left.Store(n)
	return context.WithValue(ctx, pageBudgetKey{}, b)
}

// takePage spends one page of the listing req belongs to, if any; it fails
// once the budget is spent.
func takePage(req *http.Request) error {
	b, ok := req.Context().Value(pageBudgetKey{}).(*pageBudget)
	if !ok || !strings.Contains(req.URL.Path, "/referrers/") {
		return nil
	}
	if b.left.Add(-1) < 0 {
		return fmt.Errorf("%s %s: more than %d pages of referrers: %w", req.Method, req.URL.Redacted(), maxReferrerPages, errdef.ErrSizeExceedsLimit)
	}
	return nil
}

// referrers does what Referrers says, for one caller.
func (s *Store) referrers(ctx context.Context, ref registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	repo, err := s.repository(ref)
	if err != nil {
		return nil, err
	}
	where := fmt.Sprintf("%s/%s@%s", ref.Registry, ref.Repository, subject.Digest)
	if err := subject.Digest.Validate(); err != nil {
		return nil, fmt.Errorf("referrers of %s: %v: %w", where, err, errdef.ErrInvalidReference)
	}
	var out []ocispec.Descriptor
	// A registry could link on to empty pages forever, which oras-go
	// follows without a word: limitTransport counts the pages requested.
	ctx = withPageBudget(ctx, maxReferrerPages)
	err = repo.Referrers(ctx, subject, "", func(page []ocispec.Descriptor) error {
		if len(out)+len(page) > s.opts.MaxReferrers {
			return fmt.Errorf("more than %d referrers (Options.MaxReferrers): %w", s.opts.MaxReferrers, errdef.ErrSizeExceedsLimit)
		}
		out = append(out, page...)
		return nil
	})
	if err != nil {
		return nil, classify("referrers of "+where, err)
	}
	if err := s.completeArtifactTypes(ctx, ref, out); err != nil {
		return nil, fmt.Errorf("referrers of %s: %w", where, err)
	}
	if !s.opts.CosignEnabled {
		return out, nil
	}
	sig, ok, err := cosignSignature(ctx, repo, subject)
	if err != nil {
		return nil, err
	}
	if !ok {
		return out, nil
	}
	if slices.ContainsFunc(out, func(d ocispec.Descriptor) bool { return d.Digest == sig.Digest }) {
		return out, nil
	}
	if len(out) >= s.opts.MaxReferrers {
		return nil, fmt.Errorf("referrers of %s: more than %d referrers (Options.MaxReferrers): %w", where, s.opts.MaxReferrers, errdef.ErrSizeExceedsLimit)
	}
	return append(out, sig), nil
}

// cosignSignature resolves the tag under which cosign stores the signatures
// of subject. A tag that does not exist means no cosign signature.
func cosignSignature(ctx context.Context, repo *remote.Repository, subject ocispec.Descriptor) (ocispec.Descriptor, bool, error) {
	tag := subject.Digest.Algorithm().String() + "-" + subject.Digest.Encoded() + ".sig"
	desc, err := repo.Resolve(ctx, tag)
	switch {
	case errors.Is(err, orasdef.ErrNotFound):
		return ocispec.Descriptor{}, false, nil
	case err != nil:
		return ocispec.Descriptor{}, false, classify("cosign signature "+repo.Reference.String()+":"+tag, err)
	}
	desc.ArtifactType = CosignArtifactType
	return desc, true, nil
}

// maxArtifactTypeLookups bounds the referrer manifests read to learn their
// artifact type (see completeArtifactTypes).
const maxArtifactTypeLookups = 32

// completeArtifactTypes reads the manifest of each referrer listed with the
// empty config's media type as its artifact type, and takes the artifact
// type the manifest itself declares. Clients that maintain the referrers tag
// schema index (go-containerregistry, used by cosign for its Sigstore
// bundles) list an artifact by its config media type even when the manifest
// has an artifactType field, which the distribution spec says to prefer.
// At most maxArtifactTypeLookups manifests are read; the others keep the
// listed type.
func (s *Store) completeArtifactTypes(ctx context.Context, ref registry.Reference, referrers []ocispec.Descriptor) error {
	lookups := 0
	for i, d := range referrers {
		if d.ArtifactType != ocispec.MediaTypeEmptyJSON || lookups >= maxArtifactTypeLookups {
			continue
		}
		lookups++
		data, err := s.Fetch(ctx, ref, d)
		if err != nil {
			return err
		}
		var m struct {
			ArtifactType string `json:"artifactType"`
		}
		if json.Unmarshal(data, &m) == nil && m.ArtifactType != "" {
			referrers[i].ArtifactType = m.ArtifactType
		}
	}
	return nil
}
