package cache

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
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
// resolutions for a short TTL (tags move). Referrers listings are read
// again for every verification (they change whenever an artifact is
// attached, and result caching bounds how often they are read), except
// while their registry throttles (see StoreOptions.ReferrersStaleTTL).
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
	// lastReferrers keep each subject's last listing for
	// ReferrersStaleTTL, served only while its registry throttles.
	lastReferrers *LRU[[]ocispec.Descriptor]
	referrersTTL  time.Duration
	shared        Shared // tag resolutions shared by replicas; nil: none
	scope         [2]string
	// OnContent, when set, is called on each Fetch with whether the
	// content came from the cache.
	OnContent func(hit bool)
	// OnReuse, when set, is called with "tag" or "referrers" each time a
	// registry's earlier answer stands in for asking it again (TagStaleTTL,
	// ReferrersStaleTTL).
	OnReuse func(kind string)
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
	// ReferrersStaleTTL, when positive, is how long after a subject's
	// referrers were last listed that listing is used again, instead of
	// listing them anew, while the registry throttles (never when listing
	// fails: serving verdicts through an outage is the results cache's
	// StaleTTL, off by default). The verification itself runs again, with
	// the trust material and clock of now; only an artifact attached or
	// removed within that time goes unseen until the registry is asked
	// again. Each listing kept is charged by its descriptors' sizes.
	ReferrersStaleTTL time.Duration
	// Shared, when set, is a tier shared by replicas (see cache/redis's
	// Client.Tags). With a positive TagTTL, a tag this store has not
	// resolved within TagTTL is looked up there before the registry is
	// asked, and every resolution the registry answers is written there
	// for TagTTL. A digest read from it is what gets verified and admitted
	// in the tag's name, so the tier must authenticate its values: a
	// mapping planted by anyone else would be a tag race won by them. An
	// error from it is a miss.
	//
	// What a registry gave that TagStaleTTL and ReferrersStaleTTL allow to
	// reuse is written there too (LastTagKey, ReferrersKey), for those
	// TTLs, and read under the same conditions when this store has none of
	// its own: a replica that never asked a throttling registry for an
	// image does not ask it either. Manifests and blobs up to
	// maxSharedContent are shared (ContentKey) and checked against their
	// digest when read.
	Shared Shared
	// ConfigDigest and Scope name the configuration that resolves tags
	// (config.Config.Digest) and its scope, as in ResultKey: resolutions
	// are shared under TagKey, only with replicas that resolve with the
	// same configuration and credentials.
	ConfigDigest, Scope string
}

// TagKey is the shared tier's key of tag's resolution (a reference such
// as registry/repository:tag) under the configuration whose content digest
// is configDigest, in scope (see ResultKey).
func TagKey(configDigest, scope, tag string) string {
	return sharedKey("tag", configDigest, scope, tag)
}

// LastTagKey, ReferrersKey and ContentKey are the shared tier's keys of a
// tag's last resolution (for TagStaleTTL), of the referrers of a subject
// (registry/repository@digest, for ReferrersStaleTTL) and of content
// (registry/repository@digest), under a configuration and scope as
// TagKey.
func LastTagKey(configDigest, scope, tag string) string {
	return sharedKey("last-tag", configDigest, scope, tag)
}

func ReferrersKey(configDigest, scope, subject string) string {
	return sharedKey("referrers", configDigest, scope, subject)
}

func ContentKey(configDigest, scope, content string) string {
	return sharedKey("content", configDigest, scope, content)
}

func sharedKey(kind, configDigest, scope, name string) string {
	key, _ := json.Marshal([]string{kind, configDigest, scope, name})
	return string(key)
}

// maxSharedContent bounds the manifests and blobs written to the shared
// tier: signatures and their manifests, not SBOMs of every package.
const maxSharedContent = 64 << 10

// sharedContentTTL is how long content stays in the shared tier: it never
// changes, but Redis's memory is the operator's.
const sharedContentTTL = time.Hour

// NewStore wraps next.
func NewStore(next ratify.Store, opts StoreOptions) *Store {
	s := &Store{next: next, tagTTL: opts.TagTTL, scope: [2]string{opts.ConfigDigest, opts.Scope}}
	if opts.ContentBytes > 0 {
		s.content = NewLRU(opts.ContentBytes, func(b []byte) int64 { return int64(len(b)) + 128 })
	}
	if opts.TagTTL > 0 {
		s.tags = NewLRU[ocispec.Descriptor](16384, nil)
	}
	s.shared = opts.Shared
	if opts.TagStaleTTL > 0 {
		s.lastTags, s.staleTTL = NewLRU[ocispec.Descriptor](16384, nil), opts.TagStaleTTL
	}
	if opts.ReferrersStaleTTL > 0 {
		s.lastReferrers, s.referrersTTL = NewLRU(lastReferrersBytes, listingSize), opts.ReferrersStaleTTL
	}
	return s
}

// lastReferrersBytes bounds the referrers listings kept for
// ReferrersStaleTTL, as charged by listingSize.
const lastReferrersBytes = 16 << 20

// listingSize estimates the memory a referrers listing holds.
func listingSize(list []ocispec.Descriptor) int64 {
	n := int64(64)
	for _, d := range list {
		n += 128 + int64(len(d.MediaType)+len(d.ArtifactType)+len(d.Digest))
		for k, v := range d.Annotations {
			n += 32 + int64(len(k)+len(v))
		}
	}
	return n
}

// throttles reports whether the store under s says host is throttling it.
func (s *Store) throttles(host string) bool {
	t, ok := s.next.(throttling)
	return ok && t.Throttling(host)
}

func (s *Store) reused(kind string) {
	if s.OnReuse != nil {
		s.OnReuse(kind)
	}
}

// throttling is what a store says of a registry that throttles it (see
// registry.Store.Throttling).
type throttling interface {
	Throttling(host string) bool
}

// Resolve resolves ref, answering from the tag cache while the tag's last
// resolution is younger than the TTL, then from the shared tier.
func (s *Store) Resolve(ctx context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	key := ref.String()
	if s.tags != nil {
		if desc, ok := s.tags.Get(key); ok {
			return desc, nil
		}
	}
	_, err := ref.Digest()
	isTag := err != nil
	if isTag {
		if desc, ok := s.fromShared(ctx, key); ok {
			return desc, nil
		}
		// A registry that is throttling is not asked again for a tag it
		// resolved within TagStaleTTL, as if it had failed to answer: each
		// request it would cost draws its turn from what it grants.
		if s.lastTags != nil && s.throttles(ref.Registry) {
			if last, ok := s.lastTag(ctx, key); ok {
				return last, nil
			}
		}
	}
	desc, err := s.next.Resolve(ctx, ref)
	if err != nil {
		if isTag && s.lastTags != nil && (errors.Is(err, errdef.ErrRegistryUnavailable) || errors.Is(err, errdef.ErrTimeout)) {
			if last, ok := s.lastTag(ctx, key); ok {
				return last, nil
			}
		}
		return desc, err
	}
	if s.tags != nil {
		s.tags.Add(key, desc, s.tagTTL)
	}
	if isTag {
		if s.lastTags != nil {
			s.lastTags.Add(key, desc, s.staleTTL)
			s.share(ctx, LastTagKey(s.scope[0], s.scope[1], key), desc, s.staleTTL)
		}
		if s.tags != nil {
			s.share(ctx, TagKey(s.scope[0], s.scope[1], key), desc, s.tagTTL)
		}
	}
	return desc, nil
}

// lastTag returns the last digest of tag this store or, through the shared
// tier, another replica resolved within TagStaleTTL.
func (s *Store) lastTag(ctx context.Context, tag string) (ocispec.Descriptor, bool) {
	last, ok := s.lastTags.Get(tag)
	if !ok && s.shared != nil {
		if b, ttl, err := s.shared.Get(ctx, LastTagKey(s.scope[0], s.scope[1], tag)); err == nil {
			if d, valid := decodeDescriptor(b); valid {
				last, ok = d, true
				s.lastTags.Add(tag, d, min(ttl, s.staleTTL))
			}
		}
	}
	if ok {
		s.reused("tag")
	}
	return last, ok
}

// decodeDescriptor decodes a descriptor read from the shared tier, which
// must name a valid digest.
func decodeDescriptor(b []byte) (ocispec.Descriptor, bool) {
	var desc ocispec.Descriptor
	if err := json.Unmarshal(b, &desc); err != nil || desc.Digest.Validate() != nil || desc.Size < 0 {
		return ocispec.Descriptor{}, false
	}
	return desc, true
}

// fromShared returns the resolution of tag the shared tier has, keeping it
// for what remains of its life (at most TagTTL), and as the tag's last
// digest for what remains of TagStaleTTL since it was resolved.
func (s *Store) fromShared(ctx context.Context, tag string) (ocispec.Descriptor, bool) {
	if s.shared == nil || s.tags == nil {
		return ocispec.Descriptor{}, false
	}
	b, ttl, err := s.shared.Get(ctx, TagKey(s.scope[0], s.scope[1], tag))
	if err != nil {
		return ocispec.Descriptor{}, false
	}
	desc, ok := decodeDescriptor(b)
	if !ok {
		return ocispec.Descriptor{}, false
	}
	ttl = min(ttl, s.tagTTL)
	s.tags.Add(tag, desc, ttl)
	if s.lastTags != nil {
		s.lastTags.Add(tag, desc, s.staleTTL-(s.tagTTL-ttl))
	}
	return desc, true
}

// share writes v, JSON-encoded (or as is, for bytes), to the shared tier
// under key for ttl, best effort.
func (s *Store) share(ctx context.Context, key string, v any, ttl time.Duration) {
	if s.shared == nil {
		return
	}
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			return
		}
	}
	// The registry call may have used most of ctx's time; the write has its
	// own bound, and its failures are the tier's to report.
	_ = s.shared.Set(context.WithoutCancel(ctx), key, b, ttl)
}

// CachedResolve returns ref's resolution from the tag cache alone, while
// younger than the TTL.
func (s *Store) CachedResolve(ref registry.Reference) (ocispec.Descriptor, bool) {
	if s.tags == nil {
		return ocispec.Descriptor{}, false
	}
	return s.tags.Get(ref.String())
}

// Referrers lists subject's referrers from the store, or, while the
// registry throttles, returns the listing it gave within ReferrersStaleTTL.
// Listings are kept per repository, as content is.
func (s *Store) Referrers(ctx context.Context, repo registry.Reference, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if s.lastReferrers == nil {
		return s.next.Referrers(ctx, repo, subject)
	}
	key := repo.Registry + "/" + repo.Repository + "@" + subject.Digest.String()
	if s.throttles(repo.Registry) {
		if last, ok := s.lastListing(ctx, key); ok {
			s.reused("referrers")
			return slices.Clone(last), nil
		}
	}
	list, err := s.next.Referrers(ctx, repo, subject)
	if err == nil {
		s.lastReferrers.Add(key, slices.Clone(list), s.referrersTTL)
		s.share(ctx, ReferrersKey(s.scope[0], s.scope[1], key), list, s.referrersTTL)
	}
	return list, err
}

// lastListing returns the last referrers listing of subject (a
// registry/repository@digest) this store or, through the shared tier,
// another replica read within ReferrersStaleTTL.
func (s *Store) lastListing(ctx context.Context, subject string) ([]ocispec.Descriptor, bool) {
	if last, ok := s.lastReferrers.Get(subject); ok {
		return last, true
	}
	if s.shared == nil {
		return nil, false
	}
	b, ttl, err := s.shared.Get(ctx, ReferrersKey(s.scope[0], s.scope[1], subject))
	if err != nil {
		return nil, false
	}
	var list []ocispec.Descriptor
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, false
	}
	for _, d := range list {
		if d.Digest.Validate() != nil || d.Size < 0 {
			return nil, false
		}
	}
	s.lastReferrers.Add(subject, list, min(ttl, s.referrersTTL))
	return list, true
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
	if b, ok := s.sharedContent(ctx, key, desc); ok {
		s.observe(true)
		s.content.Add(key, b, contentTTL)
		return b, nil
	}
	s.observe(false)
	b, err := s.next.Fetch(ctx, repo, desc)
	if err == nil {
		s.content.Add(key, b, contentTTL)
		if len(b) <= maxSharedContent {
			s.share(ctx, ContentKey(s.scope[0], s.scope[1], key), b, sharedContentTTL)
		}
	}
	return b, err
}

// sharedContent returns desc's content (key names it in its repository)
// from the shared tier, if another replica put it there and it matches
// desc's size and digest.
func (s *Store) sharedContent(ctx context.Context, key string, desc ocispec.Descriptor) ([]byte, bool) {
	if s.shared == nil || desc.Size > maxSharedContent || desc.Digest.Validate() != nil {
		return nil, false
	}
	b, _, err := s.shared.Get(ctx, ContentKey(s.scope[0], s.scope[1], key))
	if err != nil || int64(len(b)) != desc.Size || desc.Digest.Algorithm().FromBytes(b) != desc.Digest {
		return nil, false
	}
	return b, true
}

func (s *Store) observe(hit bool) {
	if s.OnContent != nil {
		s.OnContent(hit)
	}
}
