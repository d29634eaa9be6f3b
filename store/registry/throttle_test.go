package registry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/openratify/ratify/errdef"
	"github.com/openratify/ratify/internal/testregistry"
)

// TestThrottledRegistryLeftAlone checks that once a registry answers 429
// with Retry-After, no request reaches it before that time: a request whose
// deadline comes first fails at once without asking, one that can wait
// asks once the time has come.
func TestThrottledRegistryLeftAlone(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	subject := r.PushImage(t, "app", "v1")
	s := newStore(t, Options{MaxRetries: -1})
	ref := r.Reference("app", subject.Digest.String())
	r.Reset()
	r.Inject(testregistry.Fault{Kind: testregistry.KindManifest, Status: 429, RetryAfter: "2", Times: 1})

	if _, err := s.Resolve(context.Background(), ref); !errors.Is(err, errdef.ErrRegistryUnavailable) {
		t.Fatalf("throttled: %v, want ErrRegistryUnavailable", err)
	}
	asked := r.Total()

	short, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := s.Resolve(short, r.Reference("app", "v1")); !errors.Is(err, errdef.ErrRegistryUnavailable) {
		t.Fatalf("within Retry-After, deadline first: %v, want ErrRegistryUnavailable", err)
	}
	if r.Total() != asked {
		t.Fatalf("a request reached the registry within its Retry-After (%d requests, was %d)", r.Total(), asked)
	}

	long, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := s.Resolve(long, ref)
	if err != nil || d.Digest != subject.Digest {
		t.Fatalf("after waiting out Retry-After: %v, %v", d, err)
	}
	if r.Total() != asked+1 {
		t.Errorf("%d requests after the wait, want exactly one more than %d", r.Total(), asked)
	}
}

// TestHoldLongerThanClientWaits: a Retry-After longer than RetryMaxWait
// fails the request that drew it at once, and every request to the
// registry while more than RetryMaxWait of it is left, whatever their
// deadline, without asking (the background verification of a provider
// has a deadline far past its caller's).
func TestHoldLongerThanClientWaits(t *testing.T) {
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	subject := r.PushImage(t, "app", "v1")
	s := newStore(t, Options{})
	ref := r.Reference("app", subject.Digest.String())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := s.Resolve(ctx, r.Reference("app", "v1")); err != nil || s.Throttling(r.Host()) {
		t.Fatalf("before any 429: %v, throttling %v", err, s.Throttling(r.Host()))
	}
	r.Reset()
	r.Inject(testregistry.Fault{Kind: testregistry.KindManifest, Status: 429, RetryAfter: "30", Times: 1})
	_, err := s.Resolve(ctx, ref)
	wantThrottling(t, err, "longer than")
	if !s.Throttling(r.Host()) {
		t.Error("Throttling is false after a 429")
	}
	if r.Total() != 1 {
		t.Fatalf("%d requests, want 1", r.Total())
	}
	_, err = s.Resolve(ctx, r.Reference("app", "v1"))
	wantThrottling(t, err, "asked not to be asked for another")
	if r.Total() != 1 {
		t.Errorf("a request reached the registry within a Retry-After longer than the client waits (%d requests)", r.Total())
	}
	if ctx.Err() != nil {
		t.Error("the requests waited for their deadline instead of failing at once")
	}
}

// TestPacingDrawsFewer429s sends a burst of fetches to a registry that
// grants 40 requests a second (a bucket of 40, then 429 with Retry-After),
// paced and, as before pacing, only held until each Retry-After: paced,
// every fetch succeeds and the registry answers far fewer 429s.
func TestPacingDrawsFewer429s(t *testing.T) {
	const fetches, rate = 120, 40
	r := testregistry.New(t, testregistry.Options{Referrers: true})
	descs := make([]ocispec.Descriptor, fetches)
	for i := range descs {
		descs[i] = r.PushBlob(t, "app", "application/octet-stream", []byte(fmt.Sprintf("blob %d", i)))
	}
	ref := r.Reference("app", "")
	burst := func(opts Options) (throttled int, errs []error) {
		s := newStore(t, opts)
		r.SetConditions(testregistry.Conditions{RateLimit: rate})
		defer r.SetConditions(testregistry.Conditions{})
		r.Reset()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		results := make(chan error, fetches)
		for _, d := range descs {
			go func() { _, err := s.Fetch(ctx, ref, d); results <- err }()
		}
		for range fetches {
			if err := <-results; err != nil {
				errs = append(errs, err)
			}
		}
		return r.Stats().Throttled, errs
	}

	paced, errs := burst(Options{MaxConcurrentRequests: 8})
	for _, err := range errs {
		t.Errorf("paced fetch: %v", err)
	}
	unpaced, errs := burst(Options{MaxConcurrentRequests: 8, NoPacing: true})
	for _, err := range errs {
		if !errors.Is(err, errdef.ErrRegistryUnavailable) {
			t.Errorf("unpaced fetch: %v, want ErrRegistryUnavailable", err)
		}
	}
	t.Logf("%d fetches at %d requests/s: %d 429s paced, %d held only (%d of those fetches failed)", fetches, rate, paced, unpaced, len(errs))
	if paced*3 > unpaced {
		t.Errorf("%d 429s paced, %d without pacing: want at most a third", paced, unpaced)
	}
}
