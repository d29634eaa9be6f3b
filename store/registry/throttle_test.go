package registry

import (
	"context"
	"errors"
	"testing"
	"time"

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
