package registry

import (
	"context"
	"io"
	"net/http"
	"sync"
)

// DefaultMaxConcurrentRequests is how many requests a Store has in flight to
// one registry at most, when Options.MaxConcurrentRequests is zero.
const DefaultMaxConcurrentRequests = 32

// maxLimitedHosts bounds the registries whose requests hostLimit counts
// and pacer paces at once; past it, counting starts afresh (image
// references name hosts).
const maxLimitedHosts = 1024

// hostGate lets each request to a registry go once it is its turn (pacer:
// at once, unless the registry throttles) and a slot is free (limit, nil
// for no bound), and tells the pacer how the registry answered.
type hostGate struct {
	base  http.RoundTripper
	pace  *pacer
	limit *hostLimit
}

func (g *hostGate) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, host := req.Context(), req.URL.Host
	var (
		t       turn
		release func()
	)
	for {
		var err error
		if t, err = g.pace.wait(ctx, host); err != nil {
			return nil, err
		}
		if release, err = g.limit.acquire(ctx, host); err != nil {
			return nil, err
		}
		// A registry that began to throttle while this request waited for
		// a slot paces it too: it goes back in line, once (with NoPacing,
		// as before pacing, a request past the hold goes).
		if t.paced || g.pace.noPace || !g.pace.throttling(host) {
			break
		}
		release()
	}
	t.at = g.pace.now()
	resp, err := g.base.RoundTrip(req)
	g.pace.done(host, t, resp)
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

// hostLimit lets at most n requests to one host be in flight; the others
// wait, within their context, for one to finish. A request is in flight
// until its response body is read to the end or closed, so that a burst
// of verifications never opens more than n connections to a registry.
type hostLimit struct {
	n int

	mu   sync.Mutex
	sems map[string]chan struct{}
}

func newHostLimit(n int) *hostLimit {
	return &hostLimit{n: n, sems: map[string]chan struct{}{}}
}

// acquire waits for a slot for host and returns the function that gives it
// back (once, however often called). A nil *hostLimit has a slot for all.
func (l *hostLimit) acquire(ctx context.Context, host string) (func(), error) {
	if l == nil {
		return func() {}, nil
	}
	sem := l.sem(host)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return sync.OnceFunc(func() { <-sem }), nil
}

func (l *hostLimit) sem(host string) chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	s, ok := l.sems[host]
	if !ok {
		if len(l.sems) >= maxLimitedHosts {
			clear(l.sems)
		}
		s = make(chan struct{}, l.n)
		l.sems[host] = s
	}
	return s
}

// releasingBody gives its request's slot back once read to the end or
// closed.
type releasingBody struct {
	io.ReadCloser
	release func()
}

func (b *releasingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		b.release()
	}
	return n, err
}

func (b *releasingBody) Close() error {
	defer b.release()
	return b.ReadCloser.Close()
}
