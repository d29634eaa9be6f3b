package registry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry"

	"github.com/openratify/ratify/internal/testregistry"
)

// gate holds the registry's requests, once shut, until opened.
type gate struct {
	mu       sync.Mutex
	open     chan struct{}
	inFlight atomic.Int32
	maxSeen  atomic.Int32
}

// newGate returns an open gate (tests push their content through it).
func newGate() *gate {
	g := &gate{open: make(chan struct{})}
	close(g.open)
	return g
}

// shut makes requests wait until release.
func (g *gate) shut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open = make(chan struct{})
	g.maxSeen.Store(0)
}

func (g *gate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	close(g.open)
}

// wait returns once the gate opens or the client has gone.
func (g *gate) wait(ctx context.Context) {
	g.mu.Lock()
	open := g.open
	g.mu.Unlock()
	select {
	case <-open:
	case <-ctx.Done():
	}
}

func (g *gate) handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := g.inFlight.Add(1)
		defer g.inFlight.Add(-1)
		for {
			m := g.maxSeen.Load()
			if n <= m || g.maxSeen.CompareAndSwap(m, n) {
				break
			}
		}
		g.wait(r.Context())
		next.ServeHTTP(w, r)
	})
}

// waitFor polls cond; the deadline only bounds a broken test.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestConcurrentCallersShareRequests checks that concurrent resolutions,
// referrers listings and fetches of the same thing cost the registry one
// request each, and that every caller gets the answer.
func TestConcurrentCallersShareRequests(t *testing.T) {
	g := newGate()
	r := testregistry.New(t, testregistry.Options{Referrers: true, Handler: g.handler})
	subject, sigs := signed(t, r, "app", 1)
	s := newStore(t, Options{})
	var joined atomic.Int32
	s.joined = func(string) { joined.Add(1) }
	ref := r.Reference("app", "v1")
	const callers = 40

	for _, op := range []struct {
		name string
		call func(ctx context.Context) error
		kind testregistry.Kind
	}{
		{"resolve", func(ctx context.Context) error {
			d, err := s.Resolve(ctx, ref)
			if err == nil && d.Digest != subject.Digest {
				err = fmt.Errorf("resolved %s, want %s", d.Digest, subject.Digest)
			}
			return err
		}, testregistry.KindManifest},
		{"referrers", func(ctx context.Context) error {
			out, err := s.Referrers(ctx, ref, subject)
			if err == nil && len(out) != 1 {
				err = fmt.Errorf("%d referrers, want 1", len(out))
			}
			return err
		}, testregistry.KindReferrers},
		{"fetch", func(ctx context.Context) error {
			b, err := s.Fetch(ctx, ref, sigs[0])
			if err == nil && int64(len(b)) != sigs[0].Size {
				err = fmt.Errorf("fetched %d bytes, want %d", len(b), sigs[0].Size)
			}
			return err
		}, testregistry.KindManifest},
	} {
		t.Run(op.name, func(t *testing.T) {
			g.shut()
			joined.Store(0)
			r.Reset()
			errs := make(chan error, callers)
			var wg sync.WaitGroup
			for range callers {
				wg.Go(func() { errs <- op.call(context.Background()) })
			}
			// Everyone is attached to the one request before it is answered.
			waitFor(t, "every caller to join", func() bool { return joined.Load() == callers })
			g.release()
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := r.Count("GET", op.kind) + r.Count("HEAD", op.kind); got != 1 {
				t.Errorf("%d %s requests for %d concurrent callers, want 1 (%v)", got, op.kind, callers, r.Counts())
			}
		})
	}
}

// gatedResolve returns a store whose registry holds requests at g (shut),
// the reference of a signed image to resolve, and a channel that receives
// once for each caller attached to a shared request.
func gatedResolve(t *testing.T) (*gate, *Store, registry.Reference, <-chan struct{}) {
	t.Helper()
	g := newGate()
	r := testregistry.New(t, testregistry.Options{Referrers: true, Handler: g.handler})
	subject, _ := signed(t, r, "app", 0)
	s := newStore(t, Options{})
	joined := make(chan struct{}, 2)
	s.joined = func(string) { joined <- struct{}{} }
	ref := r.Reference("app", subject.Digest.String())
	g.shut()
	return g, s, ref, joined
}

// TestCallerLeavesSharedRequest checks that a caller whose context ends
// stops waiting, while the shared request goes on for the others.
func TestCallerLeavesSharedRequest(t *testing.T) {
	g, s, ref, joined := gatedResolve(t)

	first, cancel := context.WithCancel(context.Background())
	firstErr := make(chan error, 1)
	go func() { _, err := s.Resolve(first, ref); firstErr <- err }()
	<-joined
	secondErr := make(chan error, 1)
	go func() { _, err := s.Resolve(context.Background(), ref); secondErr <- err }()
	<-joined
	cancel()
	if err := <-firstErr; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v, want context.Canceled", err)
	}
	g.release()
	if err := <-secondErr; err != nil {
		t.Fatalf("the other caller: %v (the first caller's cancellation ended the shared request)", err)
	}
}

// TestSharedRequestEndsWithItsLastCaller checks that once every caller of
// a shared request has stopped waiting, the request is cancelled (the
// registry sees its client go) and the next caller starts another.
func TestSharedRequestEndsWithItsLastCaller(t *testing.T) {
	g, s, ref, joined := gatedResolve(t)

	ctx, cancel := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := s.Resolve(ctx, ref); errs <- err }()
		<-joined
	}
	waitFor(t, "the shared request to reach the registry", func() bool { return g.inFlight.Load() == 1 })
	cancel()
	for range 2 {
		if err := <-errs; !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled caller: %v, want context.Canceled", err)
		}
	}
	waitFor(t, "the registry to see the request cancelled", func() bool { return g.inFlight.Load() == 0 })
	g.release()
	if _, err := s.Resolve(context.Background(), ref); err != nil {
		t.Fatalf("a caller after the cancelled flight: %v", err)
	}
}

// TestRequestsPerRegistryBounded checks that no more than
// MaxConcurrentRequests requests are in flight to one registry, the others
// waiting their turn, and that all complete.
func TestRequestsPerRegistryBounded(t *testing.T) {
	g := newGate()
	r := testregistry.New(t, testregistry.Options{Referrers: true, Handler: g.handler})
	const limit, fetches = 3, 12
	descs := make([]ocispec.Descriptor, fetches)
	for i := range descs {
		descs[i] = r.PushBlob(t, "app", "application/octet-stream", []byte(fmt.Sprintf("blob %d", i)))
	}
	s := newStore(t, Options{MaxConcurrentRequests: limit})
	ref := r.Reference("app", "v1")
	g.shut()
	errs := make(chan error, fetches)
	for _, d := range descs {
		go func() { _, err := s.Fetch(context.Background(), ref, d); errs <- err }()
	}
	waitFor(t, "the limit's worth of requests in flight", func() bool { return g.inFlight.Load() == limit })
	g.release()
	for range fetches {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if got := g.maxSeen.Load(); got != limit {
		t.Errorf("at most %d requests were in flight at once, want the limit %d", got, limit)
	}
}
