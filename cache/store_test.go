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
	if _, ok := shared.entries[TagKey("sha256:config", "", tag.String())]; !ok || len(shared.entries) != 1 {
		t.Errorf("shared entries %v; want one, under TagKey", shared.entries)
	}

	// A digest reference is not a tag: nothing is shared.
	pinned := registry.Reference{Registry: "r.example", Repository: "app", Reference: want.Digest.String()}
	if _, err := second.Resolve(ctx, pinned); err != nil || secondNext.n != 1 || len(shared.entries) != 1 {
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
