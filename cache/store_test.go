package cache

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
)

// TestStoreSharesTagResolutions checks that a tag one store resolved is
// read from the shared tier by another store of the same configuration and
// scope, and resolved at the registry otherwise: by another scope, for a
// value that is no descriptor, with the tier down, or with tag caching off.
func TestStoreSharesTagResolutions(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Now()}
	shared := &mapShared{c: c, entries: map[string]sharedEntry{}}
	want := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Size: 10}
	opts := StoreOptions{TagTTL: time.Minute, TagStaleTTL: time.Hour, Shared: shared, ConfigDigest: "sha256:config", Scope: ""}
	newStore := func(o StoreOptions) (*Store, *countingResolver) {
		next := &countingResolver{desc: want}
		return NewStore(next, o), next
	}
	tag := registry.Reference{Registry: "r.example", Repository: "app", Reference: "v1"}
	resolve := func(s *Store) ocispec.Descriptor {
		t.Helper()
		d, err := s.Resolve(ctx, tag)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	first, firstNext := newStore(opts)
	second, secondNext := newStore(opts)
	if d := resolve(first); d.Digest != want.Digest || firstNext.n != 1 {
		t.Fatalf("first store: %v after %d registry resolutions", d.Digest, firstNext.n)
	}
	if d := resolve(second); d.Digest != want.Digest || secondNext.n != 0 {
		t.Errorf("second store: %v after %d registry resolutions; want the first one's from the shared tier", d.Digest, secondNext.n)
	}
	if _, ok := second.CachedResolve(tag); !ok {
		t.Error("a resolution read from the shared tier is not kept in memory")
	}
	_, fresh := shared.entries[TagKey("sha256:config", "", tag.String())]
	if _, last := shared.entries[LastTagKey("sha256:config", "", tag.String())]; !fresh || !last || len(shared.entries) != 2 {
		t.Errorf("shared entries %v; want two, under TagKey and LastTagKey", shared.entries)
	}

	// A digest reference is not a tag: nothing is shared.
	pinned := registry.Reference{Registry: "r.example", Repository: "app", Reference: want.Digest.String()}
	if _, err := second.Resolve(ctx, pinned); err != nil || secondNext.n != 1 || len(shared.entries) != 2 {
		t.Errorf("digest reference: %v, %d registry resolutions, %d shared entries", err, secondNext.n, len(shared.entries))
	}

	other := opts
	other.Scope = "team-a"
	for name, o := range map[string]StoreOptions{
		"another scope": other,
		"tags off":      {TagTTL: 0, Shared: shared, ConfigDigest: "sha256:config"},
	} {
		s, next := newStore(o)
		if resolve(s); next.n != 1 {
			t.Errorf("%s: %d registry resolutions, want 1", name, next.n)
		}
	}

	// What the tier holds must be a descriptor with a valid digest.
	for _, bad := range []string{`{"digest":"sha256:short","size":1}`, `not json`, `{"digest":"` + string(want.Digest) + `","size":-1}`} {
		shared.entries[TagKey("sha256:config", "", tag.String())] = sharedEntry{[]byte(bad), c.Now().Add(time.Minute)}
		s, next := newStore(opts)
		if d := resolve(s); d.Digest != want.Digest || next.n != 1 {
			t.Errorf("shared value %s: %v after %d registry resolutions; want it ignored", bad, d.Digest, next.n)
		}
	}

	shared.down = true
	s, next := newStore(opts)
	if d := resolve(s); d.Digest != want.Digest || next.n != 1 {
		t.Errorf("shared tier down: %v after %d registry resolutions", d.Digest, next.n)
	}
}

// countingResolver resolves every reference to desc, counting.
type countingResolver struct {
	ratify.Store
	desc ocispec.Descriptor
	n    int
}

func (r *countingResolver) Resolve(context.Context, registry.Reference) (ocispec.Descriptor, error) {
	r.n++
	return r.desc, nil
}

// fakeRegistry is a ratify.Store with one tag, one listing and blobs by
// digest, counting what it is asked, throttling on demand.
type fakeRegistry struct {
	tag       ocispec.Descriptor
	listing   []ocispec.Descriptor
	blobs     map[digest.Digest][]byte
	throttled bool
	asked     int
}

func (f *fakeRegistry) Throttling(string) bool { return f.throttled }

func (f *fakeRegistry) Resolve(context.Context, registry.Reference) (ocispec.Descriptor, error) {
	f.asked++
	return f.tag, nil
}

func (f *fakeRegistry) Referrers(context.Context, registry.Reference, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	f.asked++
	return f.listing, nil
}

func (f *fakeRegistry) Fetch(_ context.Context, _ registry.Reference, d ocispec.Descriptor) ([]byte, error) {
	f.asked++
	return f.blobs[d.Digest], nil
}

// TestStoresShareWhatThrottlingRegistriesGave: a replica that never asked
// a throttling registry for an image reuses what another replica got from
// it (the tag's last digest, the referrers listing) as it would its own,
// and content any replica fetched is read from the shared tier, checked
// against its digest; large content is not shared.
func TestStoresShareWhatThrottlingRegistriesGave(t *testing.T) {
	ctx := context.Background()
	c := &clock{now: time.Now()}
	shared := &mapShared{c: c, entries: map[string]sharedEntry{}}
	small := []byte(`{"signature":"envelope"}`)
	large := []byte(strings.Repeat("x", maxSharedContent+1))
	smallDesc := ocispec.Descriptor{MediaType: "application/jose+json", Digest: digest.FromBytes(small), Size: int64(len(small))}
	largeDesc := ocispec.Descriptor{MediaType: "application/spdx+json", Digest: digest.FromBytes(large), Size: int64(len(large))}
	image := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Size: 10}
	reg := &fakeRegistry{tag: image, listing: []ocispec.Descriptor{smallDesc},
		blobs: map[digest.Digest][]byte{smallDesc.Digest: small, largeDesc.Digest: large}}
	opts := StoreOptions{ContentBytes: 1 << 20, TagTTL: 500 * time.Millisecond, TagStaleTTL: time.Hour, ReferrersStaleTTL: time.Hour,
		Shared: shared, ConfigDigest: "sha256:config"}
	first, second := NewStore(reg, opts), NewStore(reg, opts)
	repo := registry.Reference{Registry: "r.example", Repository: "app"}
	tag := registry.Reference{Registry: "r.example", Repository: "app", Reference: "v1"}

	if _, err := first.Resolve(ctx, tag); err != nil {
		t.Fatal(err)
	}
	if _, err := first.Referrers(ctx, repo, image); err != nil {
		t.Fatal(err)
	}
	for _, d := range []ocispec.Descriptor{smallDesc, largeDesc} {
		if _, err := first.Fetch(ctx, repo, d); err != nil {
			t.Fatal(err)
		}
	}
	if reg.asked != 4 {
		t.Fatalf("first replica asked the registry %d times, want 4", reg.asked)
	}

	c.Advance(time.Second) // past TagTTL: the tag's fresh entry is gone
	reg.throttled, reg.asked = true, 0
	if d, err := second.Resolve(ctx, tag); err != nil || d.Digest != image.Digest {
		t.Fatalf("second replica, tag: %v %v", d.Digest, err)
	}
	if list, err := second.Referrers(ctx, repo, image); err != nil || len(list) != 1 || list[0].Digest != smallDesc.Digest {
		t.Fatalf("second replica, referrers: %v %v", list, err)
	}
	if b, err := second.Fetch(ctx, repo, smallDesc); err != nil || string(b) != string(small) {
		t.Fatalf("second replica, content: %q %v", b, err)
	}
	if reg.asked != 0 {
		t.Errorf("second replica asked the throttling registry %d times, want none", reg.asked)
	}
	if _, err := second.Fetch(ctx, repo, largeDesc); err != nil || reg.asked != 1 {
		t.Errorf("large content: %v after %d registry requests; want it fetched (never shared)", err, reg.asked)
	}

	// Content that does not match its digest is fetched from the registry.
	third := NewStore(reg, opts)
	key := ContentKey("sha256:config", "", "r.example/app@"+smallDesc.Digest.String())
	tampered := []byte(`{"signature":"forgeries"}`) // the same size
	shared.entries[key] = sharedEntry{tampered[:len(small)], c.Now().Add(time.Hour)}
	reg.asked = 0
	if b, err := third.Fetch(ctx, repo, smallDesc); err != nil || string(b) != string(small) || reg.asked != 1 {
		t.Errorf("tampered shared content: %q %v after %d registry requests; want the registry's", b, err, reg.asked)
	}

	// Not throttling: listings are asked for every time.
	reg.throttled, reg.asked = false, 0
	if _, err := NewStore(reg, opts).Referrers(ctx, repo, image); err != nil || reg.asked != 1 {
		t.Errorf("not throttling: %v after %d registry requests; want the registry asked", err, reg.asked)
	}
}
