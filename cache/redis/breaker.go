package redis

import (
	"sync"
	"time"
)

// breaker stops calls to Redis for a while after consecutive failures:
// after `after` failures in a row it opens for `cool`; then one call at a
// time probes, a success closes it and a failure opens it again.
type breaker struct {
	after int
	cool  time.Duration
	now   func() time.Time

	mu        sync.Mutex
	fails     int
	openUntil time.Time
	probing   bool
}

// allow reports whether a call may go to Redis now.
func (b *breaker) allow() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fails < b.after {
		return true
	}
	if b.probing || b.now().Before(b.openUntil) {
		return false
	}
	b.probing = true
	return true
}

// done records the outcome of an allowed call and reports whether it
// opened the circuit (opened) or closed it again (closed).
func (b *breaker) done(failed bool) (opened, closed bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	wasOpen := b.fails >= b.after
	b.probing = false
	if !failed {
		b.fails = 0
		return false, wasOpen
	}
	b.fails++
	if b.fails >= b.after {
		b.openUntil = b.now().Add(b.cool)
		return !wasOpen, false
	}
	return false, false
}

// release ends an allowed call that says nothing about Redis (the caller
// gave up), letting another probe through.
func (b *breaker) release() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
}
