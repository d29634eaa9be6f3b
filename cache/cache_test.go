package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify"
	"github.com/openratify/ratify/errdef"
)

func TestLRUBoundsBytesAndExpires(t *testing.T) {
	now := time.Unix(0, 0)
	c := NewLRU(10, func(s string) int64 { return int64(len(s)) })
	c.now = func() time.Time { return now }
	c.Add("a", "aaaa", time.Minute)
	c.Add("b", "bbbb", time.Minute)
	c.Get("a") // a is now the most recently used
	c.Add("c", "cccc", time.Minute)
	if _, ok := c.Get("b"); ok {
		t.Error("b survived although it was least recently used and the cache was over its bytes")
	}
	if _, ok := c.Get("a"); !ok {
		t.Error("a was evicted although it was used recently")
	}
	if c.Bytes() != 8 || c.Len() != 2 {
		t.Errorf("Bytes, Len = %d, %d; want 8, 2", c.Bytes(), c.Len())
	}
	c.Add("huge", "0123456789ab", time.Minute)
	if _, ok := c.Get("huge"); ok || c.Len() != 2 {
		t.Error("a value larger than the cache was kept")
	}
	now = now.Add(time.Minute)
	if _, ok := c.Get("a"); ok {
		t.Error("a is served after its TTL")
	}
	if c.Bytes() != 4 {
		t.Errorf("expired entry still counted: %d bytes", c.Bytes())
	}
}

func TestResultsKeepVerdictsNotErrors(t *testing.T) {
	r := newResults(t, ResultsOptions{TTL: time.Minute, Bytes: 1 << 20, NegativeTTL: time.Minute, NegativeBytes: 1 << 20})
	var calls atomic.Int32
	fail := func(context.Context) (ratify.Result, error) {
		calls.Add(1)
		return ratify.Result{}, errdef.ErrRegistryUnavailable
	}
	pass := func(context.Context) (ratify.Result, error) {
		calls.Add(1)
		return ratify.Result{IsSuccess: true}, nil
	}
	ctx := context.Background()
	if _, err := r.Do(ctx, "k", time.Minute, fail); !errors.Is(err, errdef.ErrRegistryUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if a, err := r.Do(ctx, "k", time.Minute, pass); err != nil || a.Source != SourceVerified || !a.Result.IsSuccess {
		t.Fatalf("after an error the next call must verify: %+v %v", a, err)
	}
	if a, err := r.Do(ctx, "k", time.Minute, fail); err != nil || !a.Cached() || !a.Result.IsSuccess {
		t.Fatalf("a verdict must be served from the cache: %+v %v", a, err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d verifications, want 2", calls.Load())
	}
}

func TestResultKeyNamesConfigurationContent(t *testing.T) {
	base := ResultKey("digest-a", "", "r/a@sha256:x", nil)
	if again := ResultKey("digest-a", "", "r/a@sha256:x", nil); again != base {
		t.Errorf("one verification has two keys: %s, %s", base, again)
	}
	for name, other := range map[string]string{
		"configuration": ResultKey("digest-b", "", "r/a@sha256:x", nil),
		"scope":         ResultKey("digest-a", "team-a", "r/a@sha256:x", nil),
		"subject":       ResultKey("digest-a", "", "r/a@sha256:y", nil),
		"types":         ResultKey("digest-a", "", "r/a@sha256:x", []string{"application/vnd.cncf.notary.signature"}),
		"separator":     ResultKey("digest-a\",\"", "", "r/a@sha256:x", nil),
	} {
		if other == base {
			t.Errorf("keys of two %ss are equal: %s", name, base)
		}
	}
}

// FuzzResultKey checks that ResultKey's shortcut names every verification
// exactly as json.Marshal of its parts does, so that replicas of versions
// with and without it share entries.
func FuzzResultKey(f *testing.F) {
	for _, s := range []string{"", "sha256:ab", "team-a", "r.io/a@sha256:x", `a"b`, `a\\b`, "<&>", "\x7f", "\u2028", "\xff", "é"} {
		f.Add(s, s, s)
	}
	f.Fuzz(func(t *testing.T, configDigest, scope, subject string) {
		want, err := json.Marshal([]any{configDigest, scope, subject, []string(nil)})
		if err != nil {
			t.Fatal(err)
		}
		if got := ResultKey(configDigest, scope, subject, nil); got != string(want) {
			t.Errorf("ResultKey(%q, %q, %q) = %s, want %s", configDigest, scope, subject, got, want)
		}
	})
}

func TestNewResultsBoundsStaleWindow(t *testing.T) {
	for _, w := range []time.Duration{-time.Second, MaxStaleTTL + time.Second} {
		if _, err := NewResults(ResultsOptions{TTL: time.Second, Bytes: 1 << 20, StaleTTL: w}); !errors.Is(err, errdef.ErrInvalidConfig) {
			t.Errorf("StaleTTL %s: err = %v, want ErrInvalidConfig", w, err)
		}
	}
	if _, err := NewResults(ResultsOptions{TTL: time.Second, Bytes: 1 << 20, StaleTTL: MaxStaleTTL}); err != nil {
		t.Errorf("StaleTTL at its maximum: %v", err)
	}
}

func TestResultsCallerDeadlineDoesNotCancelSharedWork(t *testing.T) {
	r := newResults(t, ResultsOptions{TTL: time.Minute, Bytes: 1 << 20})
	started, release := make(chan struct{}), make(chan struct{})
	var workErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, workErr = r.Do(context.Background(), "k", time.Minute, func(ctx context.Context) (ratify.Result, error) {
			close(started)
			<-release
			return ratify.Result{IsSuccess: true}, ctx.Err()
		})
	}()
	<-started
	impatient, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Do(impatient, "k", time.Minute, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("impatient caller: %v", err)
	}
	close(release)
	<-done
	if workErr != nil {
		t.Fatalf("the shared verification was cancelled by one caller leaving: %v", workErr)
	}
}

// countingStore counts reads by kind.
type countingStore struct {
	resolves, fetches atomic.Int32
}

func (s *countingStore) Resolve(context.Context, registry.Reference) (ocispec.Descriptor, error) {
	s.resolves.Add(1)
	return ocispec.Descriptor{Digest: "sha256:aa"}, nil
}
func (s *countingStore) Referrers(context.Context, registry.Reference, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	return nil, nil
}
func (s *countingStore) Fetch(context.Context, registry.Reference, ocispec.Descriptor) ([]byte, error) {
	s.fetches.Add(1)
	return []byte("content"), nil
}

func TestStoreKeepsContentPerRepository(t *testing.T) {
	next := &countingStore{}
	s := NewStore(next, StoreOptions{ContentBytes: 1 << 20, TagTTL: time.Minute})
	var hits []bool
	s.OnContent = func(hit bool) { hits = append(hits, hit) }
	ctx := context.Background()
	a := registry.Reference{Registry: "r", Repository: "a"}
	b := registry.Reference{Registry: "r", Repository: "b"}
	d := ocispec.Descriptor{Digest: "sha256:bb", Size: 7}
	for _, repo := range []registry.Reference{a, a, b} {
		if _, err := s.Fetch(ctx, repo, d); err != nil {
			t.Fatal(err)
		}
	}
	if next.fetches.Load() != 2 || len(hits) != 3 || hits[0] || !hits[1] || hits[2] {
		t.Errorf("fetches = %d, hits = %v; want the second read of repository a from the cache only", next.fetches.Load(), hits)
	}
	tag := registry.Reference{Registry: "r", Repository: "a", Reference: "v1"}
	for range 3 {
		if _, err := s.Resolve(ctx, tag); err != nil {
			t.Fatal(err)
		}
	}
	if next.resolves.Load() != 1 {
		t.Errorf("%d tag resolutions within the TTL, want 1", next.resolves.Load())
	}
}

// TestStaleTagDuringOutage checks that a tag's last digest is served when
// resolving it again fails because the registry is unavailable, for
// TagStaleTTL, and never when the registry answers "not found".
func TestStaleTagDuringOutage(t *testing.T) {
	next := &flakyResolver{desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Size: 10}}
	s := NewStore(next, StoreOptions{TagTTL: time.Nanosecond, TagStaleTTL: time.Hour})
	ref := registry.Reference{Registry: "r.example", Repository: "app", Reference: "v1"}
	if _, err := s.Resolve(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	next.err = fmt.Errorf("throttled: %w", errdef.ErrRegistryUnavailable)
	if d, err := s.Resolve(context.Background(), ref); err != nil || d.Digest != next.desc.Digest {
		t.Fatalf("registry unavailable: %v, %v; want the last digest", d, err)
	}
	next.err = fmt.Errorf("v1: %w", errdef.ErrNotFound)
	if _, err := s.Resolve(context.Background(), ref); !errors.Is(err, errdef.ErrNotFound) {
		t.Fatalf("tag gone: %v, want ErrNotFound (never a stale digest)", err)
	}
	fresh := NewStore(next, StoreOptions{TagTTL: time.Nanosecond})
	next.err = nil
	_, _ = fresh.Resolve(context.Background(), ref)
	next.err = fmt.Errorf("throttled: %w", errdef.ErrRegistryUnavailable)
	if _, err := fresh.Resolve(context.Background(), ref); !errors.Is(err, errdef.ErrRegistryUnavailable) {
		t.Fatalf("without TagStaleTTL: %v, want the registry's error", err)
	}
}

// flakyResolver resolves every tag to desc, or fails with err.
type flakyResolver struct {
	ratify.Store
	desc ocispec.Descriptor
	err  error
}

func (f *flakyResolver) Resolve(context.Context, registry.Reference) (ocispec.Descriptor, error) {
	return f.desc, f.err
}

// throttledResolver is a flakyResolver that says whether its registry is
// throttling, and counts resolutions.
type throttledResolver struct {
	flakyResolver
	throttled bool
	n         int
}

func (t *throttledResolver) Throttling(string) bool { return t.throttled }

func (t *throttledResolver) Resolve(ctx context.Context, ref registry.Reference) (ocispec.Descriptor, error) {
	t.n++
	return t.flakyResolver.Resolve(ctx, ref)
}

// TestStaleTagWhileThrottled checks that a registry that is throttling is
// not asked again for a tag resolved within TagStaleTTL, and is asked for
// a tag it never resolved and once it stops throttling.
func TestStaleTagWhileThrottled(t *testing.T) {
	next := &throttledResolver{flakyResolver: flakyResolver{desc: ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest,
		Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Size: 10}}}
	s := NewStore(next, StoreOptions{TagTTL: time.Nanosecond, TagStaleTTL: time.Hour})
	ctx := context.Background()
	v1 := registry.Reference{Registry: "r.example", Repository: "app", Reference: "v1"}
	if _, err := s.Resolve(ctx, v1); err != nil || next.n != 1 {
		t.Fatalf("first resolution: %v after %d", err, next.n)
	}
	next.throttled = true
	if d, err := s.Resolve(ctx, v1); err != nil || d.Digest != next.desc.Digest || next.n != 1 {
		t.Fatalf("throttled, tag resolved before: %v, %v after %d registry resolutions; want the last digest without asking", d.Digest, err, next.n)
	}
	v2 := registry.Reference{Registry: "r.example", Repository: "app", Reference: "v2"}
	if _, err := s.Resolve(ctx, v2); err != nil || next.n != 2 {
		t.Fatalf("throttled, a new tag: %v after %d registry resolutions; want it asked", err, next.n)
	}
	next.throttled = false
	if _, err := s.Resolve(ctx, v1); err != nil || next.n != 3 {
		t.Fatalf("no longer throttled: %v after %d registry resolutions; want it asked", err, next.n)
	}
}

// throttledLister lists fixed referrers, or fails with err, says whether
// its registry is throttling, and counts listings.
type throttledLister struct {
	ratify.Store
	list      []ocispec.Descriptor
	err       error
	throttled bool
	n         int
}

func (t *throttledLister) Throttling(string) bool { return t.throttled }

func (t *throttledLister) Referrers(context.Context, registry.Reference, ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	t.n++
	return slices.Clone(t.list), t.err
}

// TestStaleReferrersWhileThrottled checks that a registry that is
// throttling is not asked again for a listing it gave within
// ReferrersStaleTTL (per repository), that a failed listing is never
// answered from an old one, and that without the option every
// verification lists.
func TestStaleReferrersWhileThrottled(t *testing.T) {
	sig := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/vnd.cncf.notary.signature",
		Digest: digest.Digest("sha256:" + strings.Repeat("b", 64)), Size: 20}
	subject := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest("sha256:" + strings.Repeat("a", 64)), Size: 10}
	next := &throttledLister{list: []ocispec.Descriptor{sig}}
	s := NewStore(next, StoreOptions{ReferrersStaleTTL: time.Hour})
	var reused []string
	s.OnReuse = func(kind string) { reused = append(reused, kind) }
	ctx := context.Background()
	app := registry.Reference{Registry: "r.example", Repository: "app"}
	list := func(repo registry.Reference) ([]ocispec.Descriptor, error) { return s.Referrers(ctx, repo, subject) }

	if got, err := list(app); err != nil || len(got) != 1 || next.n != 1 {
		t.Fatalf("first listing: %v, %v after %d", got, err, next.n)
	}
	if _, err := list(app); err != nil || next.n != 2 {
		t.Fatalf("not throttling: %v after %d listings; want the registry asked every time", err, next.n)
	}
	next.throttled = true
	got, err := list(app)
	if err != nil || len(got) != 1 || got[0].Digest != sig.Digest || next.n != 2 {
		t.Fatalf("throttling, listed before: %v, %v after %d listings; want the last listing without asking", got, err, next.n)
	}
	got[0].Digest = "sha256:changed" // callers own what they get
	if got, _ := list(app); got[0].Digest != sig.Digest {
		t.Fatalf("a caller's change leaked into the kept listing: %v", got[0].Digest)
	}
	other := registry.Reference{Registry: "r.example", Repository: "other"}
	if _, err := list(other); err != nil || next.n != 3 {
		t.Fatalf("throttling, another repository: %v after %d listings; want it asked", err, next.n)
	}
	if !slices.Equal(reused, []string{"referrers", "referrers"}) {
		t.Errorf("OnReuse saw %v, want two reuses of referrers", reused)
	}

	next.throttled = false
	next.err = fmt.Errorf("down: %w", errdef.ErrRegistryUnavailable)
	if _, err := list(app); !errors.Is(err, errdef.ErrRegistryUnavailable) {
		t.Fatalf("registry down: %v, want its error (an outage is not throttling)", err)
	}

	plain := NewStore(next, StoreOptions{})
	next.err, next.throttled, next.n = nil, false, 0
	_, _ = plain.Referrers(ctx, app, subject)
	next.throttled = true
	if _, err := plain.Referrers(ctx, app, subject); err != nil || next.n != 2 {
		t.Fatalf("without ReferrersStaleTTL: %v after %d listings; want the registry asked", err, next.n)
	}
}
