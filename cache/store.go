package cache

import (
	"context"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
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
	tagTTL  time.Duration
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
	return s
}

// Resolve resolves ref, answering from the tag cache while the tag's last
// resolution is younger than the TTL.
func (s *Store) Resolve(ctx context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	if s.tags == nil {
		return s.next.Resolve(ctx, ref)
	}
	key := ref.String()
	if desc, ok := s.tags.Get(key); ok {
		return desc, nil
	}
	desc, err := s.next.Resolve(ctx, ref)
	if err == nil {
		s.tags.Add(key, desc, s.tagTTL)
	}
	return desc, err
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
