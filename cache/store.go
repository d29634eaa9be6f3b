package cache

import (
	"context"
	"errors"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

// contentTTL is how long content addressed by digest is kept: it never
// changes, so only memory bounds it.
const contentTTL = 24 * time.Hour

// Store is a ratify.Store that keeps what may be reused across
// verifications: manifests and blobs by digest (they never change), and tag
// resolutions for a short TTL (tags move). Referrers listings are not kept:
// they change whenever an artifact is attached, and result caching bounds
// how often they are read.
type Store struct {
	next    ratify.Store
	content *LRU[[]byte]
	tags    *LRU[ocispec.Descriptor]
	// lastTags keep each tag's last resolution for TagStaleTTL, served
	// only when resolving it again fails because the registry is
	// unavailable (see StoreOptions.TagStaleTTL).
	lastTags *LRU[ocispec.Descriptor]
	staleTTL time.Duration
	tagTTL   time.Duration
	// OnContent, when set, is called on each Fetch with whether the
	// content came from the cache.
	OnContent func(hit bool)
}

// StoreOptions size a Store. Zero values keep nothing of that kind.
type StoreOptions struct {
	// ContentBytes bounds the manifests and blobs kept.
	ContentBytes int64
	// TagTTL is how long a tag's resolution is trusted.
	TagTTL time.Duration
	// TagStaleTTL, when positive, is how long after a tag was last
	// resolved its digest is still used when resolving it again fails
	// because the registry is unavailable or throttling (never when it
	// answers "not found" or refuses access): during a rollout under a
	// throttling registry, images already resolved keep their digest
	// instead of each pod's attempt asking again. The digest is what gets
	// verified and, with mutation, admitted; a tag moved during the outage
	// is seen when the registry answers again.
	TagStaleTTL time.Duration
}

// NewStore wraps next.
func NewStore(next ratify.Store, opts StoreOptions) *Store {
	s := &Store{next: next, tagTTL: opts.TagTTL}
	if opts.ContentBytes > 0 {
		s.content = NewLRU(opts.ContentBytes, func(b []byte) int64 { return int64(len(b)) + 128 })
	}
	if opts.TagTTL > 0 {
		s.tags = NewLRU[ocispec.Descriptor](16384, nil)
	}
	if opts.TagStaleTTL > 0 {
		s.lastTags, s.staleTTL = NewLRU[ocispec.Descriptor](16384, nil), opts.TagStaleTTL
	}
	return s
}

// Resolve resolves ref, answering from the tag cache while the tag's last
// resolution is younger than the TTL.
func (s *Store) Resolve(ctx context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	key := ref.String()
	if s.tags != nil {
		if desc, ok := s.tags.Get(key); ok {
			return desc, nil
		}
	}
	desc, err := s.next.Resolve(ctx, ref)
	if err != nil {
		if s.lastTags != nil && (errors.Is(err, errdef.ErrRegistryUnavailable) || errors.Is(err, errdef.ErrTimeout)) {
			if last, ok := s.lastTags.Get(key); ok {
				return last, nil
			}
		}
		return desc, err
	}
	if s.tags != nil {
		s.tags.Add(key, desc, s.tagTTL)
	}
	if s.lastTags != nil {
		if _, err := ref.Digest(); err != nil { // a tag, not a digest reference
			s.lastTags.Add(key, desc, s.staleTTL)
		}
	}
	return desc, nil
}

// Referrers lists subject's referrers from the store, every time.
func (s *Store) Referrers(ctx context.Context, repo registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return s.next.Referrers(ctx, repo, subject)
}

// Fetch returns desc's content from the cache or the store. Content is
// kept per repository: the same bytes in another repository are fetched
// from there, so that access to one never stands in for access to another.
func (s *Store) Fetch(ctx context.Context, repo registry.Reference, desc ocispec.Descriptor) ([]byte, error) {
	if s.content == nil {
		return s.next.Fetch(ctx, repo, desc)
	}
	key := repo.Registry + "/" + repo.Repository + "@" + desc.Digest.String()
	if b, ok := s.content.Get(key); ok {
		s.observe(true)
		return b, nil
	}
	s.observe(false)
	b, err := s.next.Fetch(ctx, repo, desc)
	if err == nil {
		s.content.Add(key, b, contentTTL)
	}
	return b, err
}

func (s *Store) observe(hit bool) {
	if s.OnContent != nil {
		s.OnContent(hit)
	}
}
