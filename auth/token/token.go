// Package token is a cache of expiring credentials (OAuth 2.0 access and
// refresh tokens, ECR authorization tokens, registry passwords read from
// Kubernetes Secrets) shared by ratify's registry credential providers.
//
// A Cache refreshes a token ahead of its expiry, in the background, while
// callers keep receiving the still-valid old one, so that a request never
// fails or waits because a token is about to expire. Concurrent callers
// needing the same token share one fetch.
package token

import (
	"context"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultRefreshBefore = 5 * time.Minute
	DefaultRetryAfter    = 10 * time.Second
	DefaultFetchTimeout  = 30 * time.Second
	DefaultMaxEntries    = 256
)

// Token is a credential and the time it stops being valid.
type Token[T any] struct {
	Value  T
	Expiry time.Time
}

// FetchFunc obtains a fresh token for key (a registry host).
type FetchFunc[T any] func(ctx context.Context, key string) (Token[T], error)

// Options configure a Cache. The zero value uses the defaults.
type Options struct {
	// RefreshBefore starts a background refresh when less than this remains
	// of a token's life, capped to half the life of the token. Zero means
	// DefaultRefreshBefore.
	RefreshBefore time.Duration
	// RetryAfter is how long a failed background refresh waits before the
	// next attempt while the old token is still valid. Zero means
	// DefaultRetryAfter.
	RetryAfter time.Duration
	// FetchTimeout bounds each fetch, which runs detached from the
	// cancellation of the request that started it so that one caller giving
	// up does not fail the others. Zero means DefaultFetchTimeout.
	FetchTimeout time.Duration
	// MaxEntries bounds the keys kept. Zero means DefaultMaxEntries.
	MaxEntries int
	// Now returns the current time; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Cache holds one token per key. It is safe for concurrent use.
type Cache[T any] struct {
	fetch FetchFunc[T]
	opts  Options

	mu      sync.Mutex
	entries map[string]*entry[T]
}

type entry[T any] struct {
	tok      Token[T]
	fetched  time.Time
	valid    bool
	retryAt  time.Time
	inflight *call[T]
}

type call[T any] struct {
	done chan struct{}
	tok  Token[T]
	err  error
}

// New returns a Cache that obtains tokens with fetch.
func New[T any](fetch FetchFunc[T], opts Options) *Cache[T] {
	if opts.RefreshBefore <= 0 {
		opts.RefreshBefore = DefaultRefreshBefore
	}
	if opts.RetryAfter <= 0 {
		opts.RetryAfter = DefaultRetryAfter
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = DefaultFetchTimeout
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultMaxEntries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Cache[T]{fetch: fetch, opts: opts, entries: make(map[string]*entry[T])}
}

// Get returns the token of key. A valid token is returned at once; when it
// nears its expiry a background refresh is started (one at a time per key).
// Without a valid token, Get waits for a fetch, shared with every other
// caller waiting for the same key, and returns its error if it fails.
func (c *Cache[T]) Get(ctx context.Context, key string) (T, error) {
	c.mu.Lock()
	now := c.opts.Now()
	e := c.entries[key]
	if e == nil {
		if len(c.entries) >= c.opts.MaxEntries {
			c.evict()
		}
		e = &entry[T]{}
		c.entries[key] = e
	}
	if e.valid && now.Before(e.tok.Expiry) {
		if e.inflight == nil && !now.Before(c.refreshAt(e)) && !now.Before(e.retryAt) {
			c.start(ctx, key, e)
		}
		v := e.tok.Value
		c.mu.Unlock()
		return v, nil
	}
	cl := e.inflight
	if cl == nil {
		cl = c.start(ctx, key, e)
	}
	c.mu.Unlock()
	select {
	case <-cl.done:
		return cl.tok.Value, cl.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

// Invalidate forgets the token of key: the next Get fetches a new one and
// waits for it.
func (c *Cache[T]) Invalidate(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[key]; e != nil {
		e.valid = false
	}
}

// refreshAt is when a background refresh of e's token starts.
func (c *Cache[T]) refreshAt(e *entry[T]) time.Time {
	life := e.tok.Expiry.Sub(e.fetched)
	ahead := min(c.opts.RefreshBefore, life/2)
	return e.tok.Expiry.Add(-ahead)
}

// start runs a fetch of key in the background; c.mu is held.
func (c *Cache[T]) start(ctx context.Context, key string, e *entry[T]) *call[T] {
	cl := &call[T]{done: make(chan struct{})}
	e.inflight = cl
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
	go func() {
		defer cancel()
		tok, err := c.fetch(fctx, key)
		c.mu.Lock()
		now := c.opts.Now()
		e.inflight = nil
		if err != nil {
			e.retryAt = now.Add(c.opts.RetryAfter)
		} else {
			e.tok, e.fetched, e.valid, e.retryAt = tok, now, true, time.Time{}
		}
		c.mu.Unlock()
		cl.tok, cl.err = tok, err
		close(cl.done)
	}()
	return cl
}

// evict drops the entries that no fetch is filling; c.mu is held.
func (c *Cache[T]) evict() {
	for k, e := range c.entries {
		if e.inflight == nil {
			delete(c.entries, k)
		}
	}
}
