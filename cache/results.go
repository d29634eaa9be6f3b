package cache

import (
	"context"
	"encoding/json"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/openratify/ratify"
)

// Results keeps verification results for a while and makes concurrent
// verifications of the same key share one run. Keys must name what the
// result depends on: the subject pinned to its digest and the generation of
// the configuration that produced it (see ResultKey), never a tag.
//
// Only verdicts are kept: a verification that returned an error (registry
// unreachable, deadline) is not a verdict, and the next caller tries again.
type Results struct {
	lru   *LRU[ratify.Result] // nil: no caching, coalescing only
	ttl   time.Duration
	group singleflight.Group
}

// NewResults returns a cache holding results for ttl, up to maxBytes of
// them (measured as their JSON). A zero ttl or maxBytes keeps nothing and
// only coalesces.
func NewResults(ttl time.Duration, maxBytes int64) *Results {
	r := &Results{ttl: ttl}
	if ttl > 0 && maxBytes > 0 {
		r.lru = NewLRU(maxBytes, resultSize)
	}
	return r
}

// ResultKey is the cache key of a verification of subject (registry/repo@digest)
// under configuration generation gen and scope (a namespace with its own
// configuration, or "" for the cluster's), for the artifact types asked for.
func ResultKey(gen uint64, scope, subject string, artifactTypes []string) string {
	key, _ := json.Marshal([]any{gen, scope, subject, artifactTypes})
	return string(key)
}

// Do returns the result kept under key, or runs verify, once for all the
// callers that ask for key meanwhile, and keeps its verdict. verify runs
// under a context that no single caller can cancel (its values are ctx's),
// bounded by timeout; each caller waits at most until its own ctx ends.
// cached reports whether the result came from the cache.
func (r *Results) Do(ctx context.Context, key string, timeout time.Duration, verify func(context.Context) (ratify.Result, error)) (res ratify.Result, cached bool, err error) {
	if r.lru != nil {
		if res, ok := r.lru.Get(key); ok {
			return res, true, nil
		}
	}
	ch := r.group.DoChan(key, func() (any, error) {
		vctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		res, err := verify(vctx)
		if err == nil && r.lru != nil {
			r.lru.Add(key, res, r.ttl)
		}
		return res, err
	})
	select {
	case out := <-ch:
		if out.Err != nil {
			return ratify.Result{}, false, out.Err
		}
		return out.Val.(ratify.Result), false, nil
	case <-ctx.Done():
		return ratify.Result{}, false, ctx.Err()
	}
}

// Len returns the number of results kept.
func (r *Results) Len() int {
	if r.lru == nil {
		return 0
	}
	return r.lru.Len()
}

func resultSize(res ratify.Result) int64 {
	b, err := json.Marshal(res)
	if err != nil {
		return 4096
	}
	return int64(len(b)) + 128 // the key and bookkeeping
}
