package registry

import (
	"io"
	"net/http"
	"sync"
)

// DefaultMaxConcurrentRequests is how many requests a Store has in flight to
// one registry at most, when Options.MaxConcurrentRequests is zero.
const DefaultMaxConcurrentRequests = 32

// maxLimitedHosts bounds the registries whose requests hostLimit counts
// at once; past it, counting starts afresh (image references name hosts).
const maxLimitedHosts = 1024

// hostLimit lets at most n requests to one host be in flight; the others
// wait, within their context, for one to finish. A request is in flight
// until its response body is read to the end or closed, so that a burst
// of verifications never opens more than n connections to a registry.
type hostLimit struct {
	base http.RoundTripper
	n    int

	mu   sync.Mutex
	sems map[string]chan struct{}
}

func newHostLimit(base http.RoundTripper, n int) *hostLimit {
	return &hostLimit{base: base, n: n, sems: map[string]chan struct{}{}}
}

func (t *hostLimit) RoundTrip(req *http.Request) (*http.Response, error) {
	sem := t.sem(req.URL.Host)
	select {
	case sem <- struct{}{}:
	case <-req.Context().Done():
		return nil, req.Context().Err()
	}
	release := sync.OnceFunc(func() { <-sem })
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		release()
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, release: release}
	return resp, nil
}

func (t *hostLimit) sem(host string) chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.sems[host]
	if !ok {
		if len(t.sems) >= maxLimitedHosts {
			clear(t.sems)
		}
		s = make(chan struct{}, t.n)
		t.sems[host] = s
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
