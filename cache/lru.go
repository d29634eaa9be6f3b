// Package cache keeps what ratify may reuse between verifications: results
// keyed by subject digest and the content of the configuration that made
// them (in memory, and optionally in a tier shared by replicas such as
// cache/redis), registry content keyed by digest, tag resolutions for a
// short time (shared in the same way); and it coalesces concurrent work on
// the same key so that it is done once.
package cache

import (
	"container/list"
	"sync"
	"time"
)

// LRU is a least-recently-used map bounded by the total size of its values
// (as size reports them), whose entries also expire after a TTL. It is safe
// for concurrent use. The zero value is not usable; see NewLRU.
type LRU[V any] struct {
	mu       sync.Mutex
	maxBytes int64
	bytes    int64
	size     func(V) int64
	now      func() time.Time
	order    *list.List // front: most recently used
	entries  map[string]*list.Element
}

type lruEntry[V any] struct {
	key     string
	val     V
	size    int64
	expires time.Time
}

// NewLRU returns an LRU holding at most maxBytes of values, where size
// weighs each value (nil means every value weighs 1, bounding the count).
func NewLRU[V any](maxBytes int64, size func(V) int64) *LRU[V] {
	if size == nil {
		size = func(V) int64 { return 1 }
	}
	return &LRU[V]{maxBytes: maxBytes, size: size, now: time.Now, order: list.New(), entries: map[string]*list.Element{}}
}

// Get returns the value of key unless it is absent or expired.
func (c *LRU[V]) Get(key string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	el, ok := c.entries[key]
	if !ok {
		return zero, false
	}
	e := el.Value.(*lruEntry[V])
	if !c.now().Before(e.expires) {
		c.remove(el)
		return zero, false
	}
	c.order.MoveToFront(el)
	return e.val, true
}

// Add stores val under key for ttl, evicting the least recently used
// entries as needed. A value larger than the whole cache is not stored.
func (c *LRU[V]) Add(key string, val V, ttl time.Duration) {
	size := c.size(val)
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
	if size > c.maxBytes || ttl <= 0 {
		return
	}
	e := &lruEntry[V]{key: key, val: val, size: size, expires: c.now().Add(ttl)}
	c.entries[key] = c.order.PushFront(e)
	c.bytes += size
	for c.bytes > c.maxBytes {
		c.remove(c.order.Back())
	}
}

// Remove drops key's entry, if any.
func (c *LRU[V]) Remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.remove(el)
	}
}

// Len returns the number of entries, expired ones included until they are
// touched or evicted.
func (c *LRU[V]) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// Bytes returns the total size of the entries held.
func (c *LRU[V]) Bytes() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes
}

func (c *LRU[V]) remove(el *list.Element) {
	e := el.Value.(*lruEntry[V])
	c.order.Remove(el)
	delete(c.entries, e.key)
	c.bytes -= e.size
}
